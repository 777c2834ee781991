"""The live console's use case: which transfers ring an agent now, with the card the agent
sees about each (summary, transcript, sentiment per turn, earlier contacts), and the agent's
accept or decline on screen. Showing a card and answering on screen are both audited.

Cards are plain data for JSON (`dataclasses.asdict`); the page's script puts them on screen as
text, never as HTML. Times on them are text already, in the business time zone, so the page
shows the same zone as every other console page whatever the browser's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from sqlalchemy.orm import Session

from ivr.app.accounts import Account
from ivr.app.handoff import HandoffService, ScreenAnswer
from ivr.app.queries import business_zone, local_time
from ivr.config import Settings
from ivr.dialog.schema import Flow
from ivr.storage import audit, callers, repository, transfers
from ivr.storage.callers import Contact
from ivr.storage.db import session_scope
from ivr.storage.models import Transfer, as_utc, utcnow

MAX_RING_AGE = timedelta(minutes=30)
"""Older transfers still marked ringing lost their status callback: they ring nobody now."""
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
SlotValue = str | int | float | bool | None


@dataclass(frozen=True)
class IntentGuess:
    intent: str | None
    confidence: float | None


@dataclass(frozen=True)
class ActionRun:
    name: str | None
    ok: bool
    said: str


@dataclass(frozen=True)
class CardSummary:
    """The hand-over summary, as the agent being rung reads it."""

    reason: str
    trigger: str
    wants: str | None
    requests: list[str]
    answered: list[str]  # requests the bot already answered
    intents: list[IntentGuess]
    slots: dict[str, SlotValue]
    actions: list[ActionRun]
    earlier_calls_30_days: int | None
    duration_seconds: int | None
    sentiment_trend: str | None
    spoken: str


@dataclass(frozen=True)
class CardTurn:
    seq: int
    kind: str
    heard: str | None
    digits: str | None
    intent: str | None
    confidence: float | None
    action: str | None
    action_ok: bool | None
    reply: str | None
    sentiment: float | None


@dataclass(frozen=True)
class PastContact:
    """An earlier call of the same caller as a line: date, what they wanted, how it ended.
    Never the number."""

    date: str
    wanted: str
    outcome: str


@dataclass(frozen=True)
class IncomingCard:
    """Everything the agent being rung sees about one transfer."""

    call_sid: str
    ringing_since: str  # ISO 8601, UTC
    ringing_since_local: str  # the time of day in the business time zone, e.g. "14:05:09 BST"
    attempt: int  # 1 when the agent is the first one rung
    queue: str | None
    summary: CardSummary
    transcript: list[CardTurn]
    sentiment: list[float | None]  # None where a caller turn has no score
    past_contacts: list[PastContact]


@dataclass(frozen=True)
class Look:
    """What changed for one agent since the last look."""

    incoming: list[IncomingCard]  # started ringing them
    ringing: set[str]  # call SIDs ringing them now
    gone: dict[str, bool]  # stopped ringing them: call SID to whether they took it


class LiveConsole:
    """The transfers ringing agents, for one deployment's database."""

    def __init__(self, settings: Settings, flows: dict[str, Flow], handoff: HandoffService):
        self.url = settings.database_url
        self.flows = flows
        self.handoff = handoff
        self.zone = business_zone(settings.business.timezone)

    def look(self, username: str, target: str, shown: set[str]) -> Look:
        """The transfers ringing `target` now, with a card for each not in `shown` (each card
        shown is audited for `username`), and how those in `shown` that stopped ended."""
        with session_scope(self.url) as session:
            ringing = transfers.ringing_for(session, target, utcnow() - MAX_RING_AGE)
            now_ringing = {transfer.call.call_sid for transfer in ringing}
            new = [self._card(session, transfer) for transfer in ringing
                   if transfer.call.call_sid not in shown]
            stopped = transfers.latest_transfers(session, sorted(shown - now_ringing))
            gone = {call_sid: transfer.accepted_by == target
                    for call_sid, transfer in stopped.items()}
        if new:
            with session_scope(self.url, write_lock=True) as session:
                for card in new:
                    audit.record(session, username, audit.VIEW_INCOMING, card.call_sid)
        return Look(new, now_ringing,
                    {call_sid: gone.get(call_sid, False)
                     for call_sid in sorted(shown - now_ringing)})

    def answer(self, account: Account, call_sid: str,
               choice: Literal["accept", "decline"]) -> ScreenAnswer:
        """The agent takes or passes a call ringing them (as the keypad's 1 or 2 does);
        audited whatever came of it."""
        if not account.agent_target:
            return ScreenAnswer("not-ringing-you")
        answer = self.handoff.answer_on_screen(call_sid, account.agent_target, choice)
        action = audit.ACCEPT_ON_SCREEN if choice == "accept" else audit.DECLINE_ON_SCREEN
        with session_scope(self.url) as session:
            audit.record(session, account.username, action, call_sid, result=answer.result,
                         http_status=answer.http_status, code=answer.code)
        return answer

    def _card(self, session: Session, transfer: Transfer) -> IncomingCard:
        flow = self.flows.get(transfer.call.flow)
        summary = transfer.summary or {}
        turns = repository.turns_of(session, transfer.call)
        return IncomingCard(
            call_sid=transfer.call.call_sid,
            ringing_since=_iso(transfer.created_at),
            ringing_since_local=local_time(transfer.created_at, self.zone, "%H:%M:%S %Z"),
            attempt=transfer.attempt + 1,
            queue=transfer.queue,
            summary=CardSummary(
                reason=transfer.reason, trigger=transfer.trigger,
                wants=summary.get("caller_wants"),
                requests=summary.get("all_requests") or [],
                answered=summary.get("answered_requests") or [],
                intents=[IntentGuess(item.get("intent"), item.get("confidence"))
                         for item in summary.get("intents") or []],
                slots={str(name): _text(value)
                       for name, value in (summary.get("slots") or {}).items()},
                actions=[ActionRun(action.get("name"), bool(action.get("ok")),
                                   action.get("said") or "")
                         for action in summary.get("actions") or []],
                earlier_calls_30_days=summary.get("earlier_calls_30_days"),
                duration_seconds=summary.get("duration_seconds"),
                sentiment_trend=summary.get("sentiment_trend"),
                spoken=transfer.spoken_summary),
            transcript=[CardTurn(turn.seq, turn.kind, turn.heard, turn.digits, turn.intent,
                                 _rounded(turn.intent_confidence), turn.action, turn.action_ok,
                                 turn.reply, _rounded(turn.sentiment))
                        for turn in turns],
            sentiment=[_rounded(turn.sentiment) for turn in turns
                       if turn.kind in CALLER_TURNS],
            past_contacts=[_past_contact(contact, flow, self.zone)
                           for contact in callers.earlier_contacts(session, transfer.call)])


def _past_contact(contact: Contact, flow: Flow | None, zone: tzinfo) -> PastContact:
    return PastContact(date=local_time(contact.started_at, zone, "%Y-%m-%d %H:%M %Z"),
                       wanted=contact.wanted or _wanted(contact.intents, flow) or "-",
                       outcome=_ending(contact))


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


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _text(value: object) -> SlotValue:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
