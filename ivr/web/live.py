"""The live console: transfers ringing the signed-in agent appear as they ring, with their
context, and the agent takes or passes them on screen as well as on the keypad.

`GET /console/events` is a server-sent event stream. Server processes share no memory, so it
polls the database: `incoming` when a transfer starts ringing this agent, `gone` when it stops
(taken, passed on, or the caller hung up), `ready` after the first look, and a keep-alive
comment now and then. It ends after a few minutes and the browser's EventSource reconnects,
so no connection outlives a sign-out for long. Showing an incoming call is audited, as is
every accept and decline.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from flask import Blueprint, Response, current_app, g, jsonify, session, url_for
from flask.typing import ResponseReturnValue

from ivr.app.accounts import OWN_CALLS
from ivr.app.handoff import ScreenAnswer
from ivr.app.live import IncomingCard, LiveConsole
from ivr.web.auth import me, page, require
from ivr.web.context import accounts, services
from ivr.web.labels import in_words
from ivr.web.voice import CALL_SID

log = logging.getLogger(__name__)

live = Blueprint("live", __name__)

POLL_SECONDS = 0.5
STREAM_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0
ACCOUNT_CHECK_SECONDS = 5.0
RETRY_MS = 2000

KEYPAD = "Your phone's keypad still works: 1 takes the call, 2 passes it."
ANSWERS: dict[str, tuple[int, str]] = {
    "accepted": (200, "You took the call: it is connecting on your phone."),
    "declined": (200, "Passed on: the next agent is being rung."),
    "not-ringing-you": (409, "This call is not ringing you any more."),
    "no-agent-leg": (409, "Answer your phone first: once the summary plays there you can take "
                          "or pass the call here. " + KEYPAD),
    "twilio-error": (502, "Twilio did not carry this out, so nothing changed. " + KEYPAD),
}


@live.get("/console/live")
@require(OWN_CALLS)
def live_page() -> ResponseReturnValue:
    """The page; its script (`static/console.js`) follows the event stream."""
    g.csp_scripts = True
    return page("console_live.html")


@live.post("/console/transfers/<call_sid>/accept")
@require(OWN_CALLS)
def accept(call_sid: str) -> ResponseReturnValue:
    """Take a call that is ringing the signed-in agent (as the keypad's 1 does)."""
    return _answer(call_sid, "accept")


@live.post("/console/transfers/<call_sid>/decline")
@require(OWN_CALLS)
def decline(call_sid: str) -> ResponseReturnValue:
    """Pass a call that is ringing the signed-in agent on to the next agent."""
    return _answer(call_sid, "decline")


def _answer(call_sid: str, choice: Literal["accept", "decline"]) -> ResponseReturnValue:
    answer = (services().live.answer(me(), call_sid, choice) if CALL_SID.fullmatch(call_sid)
              else ScreenAnswer("not-ringing-you"))
    status, message = ANSWERS[answer.result]
    if answer.result == "twilio-error":
        message += (f" (Twilio answered HTTP {answer.http_status}, error {answer.code}.)"
                    if answer.http_status else " (Twilio could not be reached.)")
    body: dict[str, Any] = {"ok": status == 200, "result": answer.result, "message": message}
    if answer.result == "accepted":
        body["call_url"] = url_for("staff.console.call_view", call_sid=call_sid)
    return jsonify(body), status


# The event stream ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Watch:
    """What one stream needs, taken from the request before it starts streaming."""

    username: str
    target: str
    live: LiveConsole
    still_signed_in: Callable[[], bool]
    call_url: Callable[[str], str]
    ends_at: float
    poll: float
    keepalive: float


@live.get("/console/events")
@require(OWN_CALLS)
def events() -> ResponseReturnValue:
    """Server-sent events about the transfers ringing the signed-in agent."""
    account = me()
    if not account.agent_target:
        return Response(status=204)  # nothing can ever ring them; EventSource stops asking
    config = current_app.config
    lifetime = float(config.get("IVR_LIVE_STREAM_SECONDS", STREAM_SECONDS))
    signed_in_since = session.get("since")
    if isinstance(signed_in_since, int):
        session_left = (signed_in_since + current_app.permanent_session_lifetime.total_seconds()
                        - time.time())
        lifetime = max(0.0, min(lifetime, session_left))
    service = accounts()
    template = url_for("staff.console.call_view", call_sid="CALLSID")
    watch = _Watch(
        username=account.username, target=account.agent_target, live=services().live,
        still_signed_in=lambda: service.active(account.id) is not None,
        call_url=lambda call_sid: template.replace("CALLSID", call_sid),
        ends_at=time.monotonic() + lifetime,
        poll=float(config.get("IVR_LIVE_POLL_SECONDS", POLL_SECONDS)),
        keepalive=float(config.get("IVR_LIVE_KEEPALIVE_SECONDS", KEEPALIVE_SECONDS)))
    response = Response(_stream(watch), mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass events on at once
    return response


def _stream(watch: _Watch) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    shown: set[str] = set()
    first = True
    last_write = next_account_check = time.monotonic()
    while time.monotonic() < watch.ends_at:
        now = time.monotonic()
        if now >= next_account_check:
            if not watch.still_signed_in():
                yield _event("signed-out", {})
                return
            next_account_check = now + ACCOUNT_CHECK_SECONDS
        try:
            chunks = _look(watch, shown)
        except Exception as error:  # the database went away: end; the browser comes back
            log.error("live console stream stopped: %s", type(error).__name__)
            return
        if first:
            chunks.append(_event("ready", {"ringing": sorted(shown)}))
            first = False
        if not chunks and now - last_write >= watch.keepalive:
            chunks = [": keep-alive\n\n"]
        if chunks:
            last_write = now
            yield "".join(chunks)
        time.sleep(watch.poll)


def _look(watch: _Watch, shown: set[str]) -> list[str]:
    """Events for what changed since the last look; updates `shown`."""
    look = watch.live.look(watch.username, watch.target, shown)
    chunks = [_event("incoming", _card(card)) for card in look.incoming]
    for call_sid, taken in look.gone.items():
        chunks.append(_event("gone", {"call_sid": call_sid,
                                      "outcome": "taken-by-you" if taken else "ended",
                                      "call_url": watch.call_url(call_sid) if taken else None}))
    shown.clear()
    shown.update(look.ringing)
    return chunks


def _card(card: IncomingCard) -> dict[str, Any]:
    """The card as JSON, with its trigger in the console's words."""
    data = asdict(card)
    data["summary"]["trigger_words"] = in_words(card.summary.trigger)
    return data


def _event(name: str, data: dict[str, Any]) -> str:
    # json.dumps never emits a raw newline, so the data is always a single `data:` line.
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
