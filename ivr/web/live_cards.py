"""What the live console shows about one incoming transfer: the hand-over summary, the
transcript, the caller's sentiment per turn and their earlier contacts. Plain data for JSON;
the page's script puts it on screen as text, never as HTML."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ivr.dialog.schema import Flow
from ivr.storage import callers, repository
from ivr.storage.callers import Contact
from ivr.storage.models import Transfer, as_utc

CALLER_TURNS = ("speech", "digits", "no_input")
TRANSFER_ENDINGS = {
    "accepted": "taken by an agent", "completed": "taken by an agent",
    "caller-abandoned": "hung up while waiting for an agent",
    "voicemail": "left a voicemail", "voicemail-empty": "hung up at the voicemail",
    "ringing": "was being transferred",
}
CALL_ENDINGS = {
    "completed-by-bot": "handled by the bot", "completed-by-agent": "taken by an agent",
    "in-progress": "in progress", "transferring": "was being transferred",
}


def card(session: Session, transfer: Transfer, flow: Flow | None) -> dict[str, Any]:
    """Everything the agent being rung sees about this transfer."""
    summary = transfer.summary or {}
    turns = repository.turns_of(session, transfer.call)
    return {
        "call_sid": transfer.call.call_sid,
        "ringing_since": iso(transfer.created_at),
        "attempt": transfer.attempt + 1,
        "queue": transfer.queue,
        "summary": {
            "reason": transfer.reason, "trigger": transfer.trigger,
            "wants": summary.get("caller_wants"),
            "requests": summary.get("all_requests") or [],
            "intents": [{"intent": item.get("intent"), "confidence": item.get("confidence")}
                        for item in summary.get("intents") or []],
            "slots": {str(name): _text(value)
                      for name, value in (summary.get("slots") or {}).items()},
            "actions": [{"name": action.get("name"), "ok": bool(action.get("ok")),
                         "said": action.get("said") or ""}
                        for action in summary.get("actions") or []],
            "earlier_calls_30_days": summary.get("earlier_calls_30_days"),
            "duration_seconds": summary.get("duration_seconds"),
            "sentiment_trend": summary.get("sentiment_trend"),
            "spoken": transfer.spoken_summary,
        },
        "transcript": [{"seq": turn.seq, "kind": turn.kind, "heard": turn.heard,
                        "digits": turn.digits, "intent": turn.intent,
                        "confidence": _rounded(turn.intent_confidence),
                        "action": turn.action, "action_ok": turn.action_ok,
                        "reply": turn.reply, "sentiment": _rounded(turn.sentiment)}
                       for turn in turns],
        # None where a turn has no score (keys, silence, or scoring not switched on).
        "sentiment": [_rounded(turn.sentiment) for turn in turns
                      if turn.kind in CALLER_TURNS],
        "past_contacts": [past_contact(contact, flow)
                          for contact in callers.earlier_contacts(session, transfer.call)],
    }


def past_contact(contact: Contact, flow: Flow | None) -> dict[str, str]:
    """An earlier call as a line: date, what they wanted, how it ended. Never the number."""
    return {"date": as_utc(contact.started_at).strftime("%Y-%m-%d %H:%M UTC"),
            "wanted": contact.wanted or _wanted(contact.intents, flow) or "-",
            "outcome": _ending(contact)}


def _wanted(intents: list[str], flow: Flow | None) -> str:
    if flow is None:
        return ", ".join(intents)
    return ", ".join(flow.intent_description(name) for name in intents if name in flow.intents)


def _ending(contact: Contact) -> str:
    if contact.transfer_outcome is not None:
        if contact.transfer_outcome.startswith("fallback"):
            return "no agent was free"
        return TRANSFER_ENDINGS.get(contact.transfer_outcome, contact.transfer_outcome)
    return CALL_ENDINGS.get(contact.status, "hung up")


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds")



def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _text(value: object) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
