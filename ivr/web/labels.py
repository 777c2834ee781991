"""How console pages put codes and times into words, in one place.

`in_words(code)` (the Jinja filter `words`): a transfer's trigger (why the call went to a
person) or an outcome (of a transfer, or of one agent's attempt) as plain words; a code it
does not know comes back as it is. `when`: a stored time in the business time zone
(`[business] timezone`), with the zone's abbreviation; every signed-in page's header names the
zone (`time_zone`). The live console's cards get the same words and times from the server.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup, escape

from ivr.app.queries import local_time, zone_name
from ivr.web.context import services

TRIGGERS = {
    "caller_request": "asked for a person",  # said so, or pressed 0
    "low_confidence": "could not understand clearly",
    "no_input": "silence",
    "no_match": "not understood",
    "sentiment": "sounded frustrated and accepted the offer of a person",
    "frustration": "sounded frustrated",
    "fault": "a fault on our side",
    "flow": "the call flow hands this request to a person",
    "continue": "transfer already under way",
    "repeat": "already being transferred",
}
"""Why a call went to a person (`Transfer.trigger`, set in `ivr.dialog.engine`)."""

OUTCOMES = {
    # a transfer
    "ringing": "still ringing",
    "accepted": "taken by an agent",
    "completed": "taken by an agent, call ended",
    "caller-abandoned": "caller hung up while waiting",
    "lost": "no report from Twilio (agent released)",
    "voicemail": "left a voicemail",
    "voicemail-empty": "hung up at the voicemail",
    # one agent's attempt
    "answered": "took the call",
    "declined": "declined",
    "no-answer": "no answer",
    "busy": "line busy",
    "failed": "the call to the agent failed",
    "canceled": "stopped ringing (canceled)",
    "no-report": "no report from Twilio",
}
"""How a transfer, or one agent's attempt, ended (`ivr.app.handoff`, `ivr.storage.leases`)."""

FALLBACKS = {
    "busy": "no agent free: asked to call again later",
    "voicemail": "no agent free: sent to voicemail",
    "number": "no agent free: sent to the backup number",
}
"""Transfer outcomes `fallback-KIND` (nobody took the call), and `fallback-KIND-ended`."""

WORDS = {**TRIGGERS, **OUTCOMES}  # no code is both (tests/test_pages.py checks)

CALL_STATUSES = {
    "in-progress": "with the assistant",
    "transferring": "handed to a person",
    "completed-by-bot": "ended with the assistant",
    "completed-by-agent": "ended after an agent took it",
    "completed": "ended",
    "busy": "ended: line busy",
    "failed": "the call failed",
    "no-answer": "not answered",
    "canceled": "ended before it was answered",
}
"""Where a call is (`Call.status`): set by the use cases and Twilio's status callback."""

TURN_KINDS = {
    "start": "call started",
    "speech": "spoke",
    "digits": "keyed",
    "no_input": "silence",
    "action": "step",
    "fault": "fault",
}
"""What happened in a stored turn (`Turn.kind`)."""


def in_words(code: str | None) -> str:
    """A trigger or outcome code as words; an unknown code as it is ("-" for none)."""
    if code is None or code == "":
        return "-"
    if code in WORDS:
        return WORDS[code]
    if code.startswith("fallback-"):
        kind = code.removeprefix("fallback-")
        ended = kind.endswith("-ended")
        words = FALLBACKS.get(kind.removesuffix("-ended"))
        if words is not None:
            return words + (", call ended" if ended else "")
    return code


def call_status(code: str | None) -> str:
    """A call's status in words; an unknown one as it is."""
    return CALL_STATUSES.get(code or "", code or "-")


def turn_kind(code: str | None) -> str:
    """What kind of turn, in words; an unknown one as it is."""
    return TURN_KINDS.get(code or "", code or "-")


def when(moment: datetime | None) -> Markup | str:
    """A stored time in the business time zone, e.g. "2025-03-04 09:05:00 EST", in a
    `<time>` element that carries the instant (UTC) for machines and never wraps."""
    if moment is None:
        return "-"
    text = local_time(moment, services().queries.zone)
    instant = local_time(moment, UTC, "%Y-%m-%dT%H:%M:%SZ")
    return Markup(f'<time datetime="{escape(instant)}">{escape(text)}</time>')


def install(app: Flask) -> None:
    """The filters `words`, `call_status`, `turn_kind` and `when`, and `time_zone` (the
    zone's name) on every page."""
    app.add_template_filter(in_words, "words")
    app.add_template_filter(call_status, "call_status")
    app.add_template_filter(turn_kind, "turn_kind")
    app.add_template_filter(when, "when")

    @app.context_processor
    def time_zone() -> dict[str, str]:
        return {"time_zone": zone_name(services().queries.zone)}
