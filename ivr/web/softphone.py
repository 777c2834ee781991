"""The browser softphone: a page where a person talks to the bot through the microphone.

The page speaks Twilio's Media Streams protocol to the same WebSocket Twilio uses
(`/voice/stream`), so it exercises the real self-hosted speech path. These routes only hand
out what the page needs: a call SID with its stream token, and a live view of the call.

Softphone call SIDs start with `CAsoft`, so they never collide with Twilio's (`CA` + 32 hex
digits) and so that the calls endpoint cannot be used to read a real caller's call: stream
tokens for real calls travel in TwiML, and the prefix check keeps them useless here.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from ivr.streams import token as stream_token
from ivr.web.context import services, settings

softphone = Blueprint("softphone", __name__)

SID_PREFIX = "CAsoft"
SOFTPHONE_SID = re.compile(rf"^{SID_PREFIX}[0-9a-f]{{26}}$")
TOKEN_HEADER = "X-Softphone-Token"
TURN_FIELDS = (
    "seq",
    "kind",
    "heard",
    "digits",
    "intent",
    "intent_confidence",
    "reply",
    "action",
    "action_ok",
)

# The page loads nothing from elsewhere; the capture worklet is a Blob URL module.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' blob:; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@softphone.get("/softphone")
def page() -> Response:
    response = Response(render_template("softphone.html"))
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@softphone.post("/softphone/session")
def new_session() -> Response:
    """A fresh call SID and its stream token; the call itself starts on the WebSocket."""
    call_sid = SID_PREFIX + secrets.token_hex(13)
    scheme = "wss" if request.scheme == "https" else "ws"
    return _json(
        {
            "call_sid": call_sid,
            "token": stream_token.issue(settings().secret, call_sid),
            "stream_url": f"{scheme}://{request.host}{request.script_root}/voice/stream",
        }
    )


@softphone.get("/softphone/calls/<call_sid>")
def call_view(call_sid: str) -> Response | tuple[Response, int]:
    """What the bot made of the call so far: turns, and the transfer with its summary."""
    if not SOFTPHONE_SID.match(call_sid):
        return _json({"error": "only softphone calls can be read here"}), 403
    given = request.headers.get(TOKEN_HEADER, "")[:200]
    if not given or not stream_token.verify(settings().secret, call_sid, given):
        return _json({"error": f"a valid {TOKEN_HEADER} header is required"}), 403
    call = services().queries.call_for_softphone(call_sid)
    if call is None:
        return _json({"error": "the call has not started yet"}), 404
    transfer = call.latest_transfer
    return _json(
        {
            "status": call.status,
            "state": call.node,
            "turns": [{field: getattr(turn, field) for field in TURN_FIELDS}
                      for turn in call.turns],
            "transfer": None
            if transfer is None
            else {
                "reason": transfer.reason,
                "trigger": transfer.trigger,
                "summary": transfer.summary,
            },
        }
    )


def _json(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
