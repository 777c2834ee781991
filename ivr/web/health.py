"""`GET /healthz`: the process is up and the database answers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ivr.web.context import services

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> ResponseReturnValue:
    error = services().queries.database_error()
    if error is not None:
        return jsonify(status="error", database=error), 503
    return jsonify(status="ok")
