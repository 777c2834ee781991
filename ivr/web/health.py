"""`GET /healthz`: the process is up and the database answers."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from ivr.storage.db import session_scope
from ivr.web.context import settings

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    try:
        with session_scope(settings().database_url) as session:
            session.execute(text("select 1"))
    except Exception as error:  # report, do not crash
        return jsonify(status="error", database=type(error).__name__), 503
    return jsonify(status="ok")
