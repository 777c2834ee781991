"""JSON API for people and tools: the hand-over summary of a call."""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from ivr.web.context import services, settings

api = Blueprint("api", __name__, url_prefix="/api")
API_ACTOR = "api-token"
"""Who the audit trail names for requests made with IVR_API_TOKEN."""


@api.before_request
def require_bearer_token():
    expected = settings().api_token
    if expected is None:
        return jsonify(error="the API is closed: set IVR_API_TOKEN to open it"), 503
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        return jsonify(error="a valid bearer token is required"), 401, {
            "WWW-Authenticate": 'Bearer realm="ivr"'}
    return None


@api.get("/calls/<call_sid>/summary")
def call_summary(call_sid: str) -> ResponseReturnValue:
    """The newest transfer of a call with its hand-over summary (reading it is audited)."""
    call = services().queries.call_for_api(call_sid, actor=API_ACTOR)
    if call is None:
        return jsonify(error="no such call"), 404
    transfer = call.latest_transfer
    if transfer is None:
        return jsonify(error="this call was not transferred, so it has no summary"), 404
    return jsonify(
        call_sid=call.call_sid,
        flow=call.flow,
        status=call.status,
        started_at=call.started_at.isoformat(),
        transfer={
            "reason": transfer.reason,
            "trigger": transfer.trigger,
            "queue": transfer.queue,
            "outcome": transfer.outcome,
            "attempts": [attempt.entry for attempt in transfer.attempts],
            "accepted_by": transfer.accepted_by,
            "created_at": transfer.created_at.isoformat(),
        },
        summary=transfer.summary,
    )
