"""`/voice/stream`: the WebSocket where Twilio Media Streams (and the softphone) deliver a
call's audio. Thin: checks who is connecting, then pumps messages into a `StreamSession`."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, abort, request
from flask_sock import ConnectionClosed, Sock

from ivr.streams.session import StreamSession
from ivr.telephony.media_streams import stream_url
from ivr.telephony.signature import is_signed_by_twilio
from ivr.web.context import calls, prompt_library, services, settings

log = logging.getLogger(__name__)

stream = Blueprint("stream", __name__)
sock = Sock()
POLL_SECONDS = 0.02  # Twilio sends a frame every 20 ms, which wakes the loop anyway


@stream.before_request
def check_caller() -> None:
    """Browsers must come from our own pages; a Twilio signature, when sent, must be right.
    The per-call token in the `start` message is checked by the session."""
    origin = request.headers.get("Origin")
    if origin is not None:
        own = {urlsplit(settings().public_url)._replace(path="").geturl(),
               f"{request.scheme}://{request.host}"}
        if origin.rstrip("/") not in own:
            log.warning("refused a media stream from another origin")
            abort(403)
    signature = request.headers.get("X-Twilio-Signature")
    if signature is not None and settings().validate_signatures:
        url = stream_url(settings().public_url)
        query = request.query_string.decode()
        if not is_signed_by_twilio(settings().auth_token, url + (f"?{query}" if query else ""),
                                   {}, signature):
            log.warning("refused a media stream with a wrong Twilio signature")
            abort(403)


@sock.route("/voice/stream", bp=stream)
def media_stream(ws) -> None:
    config = settings()
    session = StreamSession(calls(), services().speech.open(), prompt_library(), ws.send,
                            secret=config.secret, end_of_speech_ms=config.end_of_speech_ms)
    try:
        while not session.finished:
            message = ws.receive(timeout=POLL_SECONDS)
            while message is not None and not session.finished:
                session.receive(message)
                message = ws.receive(timeout=0)
            session.tick()
    except ConnectionClosed:
        pass
    finally:
        session.close()
        if ws.connected:
            ws.close()
