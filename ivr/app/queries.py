"""What the console, the JSON API and the softphone read: a call with its transcript, its
transfers and their attempts, and the reader's feedback; an agent's own transfers; the
figures; the audit trail; whether the database answers. And how pages show a time: in the
business time zone (`[business] timezone`), `local_time`.

Everything comes back as plain dataclasses, detached from any session. Showing a call to a
person is audited in the same transaction that reads it. Times are as stored: aware on
PostgreSQL, naive UTC on SQLite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from ivr.app.accounts import Account, may_see_call, own_transfers
from ivr.config import Settings
from ivr.storage import audit, figures, repository, surveys
from ivr.storage import feedback as feedback_rows
from ivr.storage.db import session_scope
from ivr.storage.figures import REPEAT_WINDOW
from ivr.storage.models import Call, Feedback, Transfer, Turn, as_utc

log = logging.getLogger(__name__)

MAX_SID_LENGTH = 64
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
"""A time on a console page: the date, the time and the zone's abbreviation (EST, BST)."""


def business_zone(name: str) -> tzinfo:
    """The time zone pages show times in; UTC when `name` is not a known zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown business time zone %r: pages show times in UTC", name)
        return UTC


def zone_name(zone: tzinfo) -> str:
    """The zone's name as people look it up, e.g. "Europe/London"."""
    return zone.key if isinstance(zone, ZoneInfo) else "UTC"


def local_time(moment: datetime | None, zone: tzinfo, time_format: str = TIME_FORMAT) -> str:
    """A stored time (aware, or naive UTC from SQLite) as text in `zone`; "-" for none."""
    if moment is None:
        return "-"
    return as_utc(moment).astimezone(zone).strftime(time_format)


@dataclass(frozen=True)
class TurnView:
    """A turn of a call: what the caller said or keyed, how it was understood, the reply."""

    seq: int
    kind: str
    heard: str | None
    digits: str | None
    intent: str | None
    intent_confidence: float | None
    action: str | None
    action_ok: bool | None
    reply: str | None
    sentiment: float | None
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    """A target a transfer tried (see `ivr.storage.transfers.record_attempt`)."""

    number: int  # 1 for the first target tried
    target: str | None
    outcome: str | None
    at: datetime | None
    entry: dict[str, Any]  # as stored, for the JSON API


@dataclass(frozen=True)
class TransferView:
    """A hand-over of the call to a person: why, the summary, who was tried, how it ended."""

    id: int
    reason: str
    trigger: str
    queue: str | None
    outcome: str
    accepted_by: str | None
    created_at: datetime
    answered_at: datetime | None
    spoken_summary: str
    summary: dict[str, Any]
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class FeedbackView:
    """An agent's verdict on the bot's work for one transfer."""

    intent_correct: bool | None
    summary_correct: bool | None
    corrected_intent: str | None
    correction: str | None


@dataclass(frozen=True)
class CallView:
    """A call with its transcript and transfers (oldest first)."""

    call_sid: str
    flow: str
    status: str
    node: str | None
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: int | None
    turns: tuple[TurnView, ...]
    transfers: tuple[TransferView, ...]
    feedback: dict[int, FeedbackView]  # the reading agent's, by transfer id

    @property
    def latest_transfer(self) -> TransferView | None:
        return self.transfers[-1] if self.transfers else None


@dataclass(frozen=True)
class OwnTransfer:
    """A transfer the signed-in agent took, as their list of calls shows it."""

    call_sid: str
    at: datetime
    reason: str
    wants: str | None
    outcome: str


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


class Queries:
    """Reads of one deployment's database (`settings.database_url`)."""

    def __init__(self, settings: Settings):
        self.url = settings.database_url
        self.zone = business_zone(settings.business.timezone)
        """The zone pages show times in (`local_time`)."""

    def call_for_agent(self, call_sid: str, account: Account) -> CallView | None:
        """A call the account took a transfer of, with the account's feedback on its
        transfers (audited); None for any other call, so none is confirmed to exist."""
        if len(call_sid) > MAX_SID_LENGTH:
            return None
        with session_scope(self.url) as session:
            call = repository.get_call(session, call_sid)
            if call is None or not may_see_call(session, account, call):
                return None
            audit.record(session, account.username, audit.VIEW_CALL, call.call_sid)
            mine = [transfer.id for transfer in call.transfers
                    if account.agent_target and transfer.accepted_by == account.agent_target]
            return _call_view(session, call, feedback_rows.of(session, mine, account.username))

    def call_for_api(self, call_sid: str, *, actor: str) -> CallView | None:
        """A call for the JSON API, None when unknown. Reading a transferred call's summary
        is audited (`via="api"`); a call never transferred has none to read."""
        with session_scope(self.url) as session:
            call = repository.get_call(session, call_sid)
            if call is None:
                return None
            view = _call_view(session, call)
            if view.transfers:
                audit.record(session, actor, audit.VIEW_CALL, call.call_sid, via="api")
            return view

    def call_for_softphone(self, call_sid: str) -> CallView | None:
        """A softphone call for the person talking on it (not audited: it is their own)."""
        with session_scope(self.url) as session:
            call = repository.get_call(session, call_sid)
            return None if call is None else _call_view(session, call)

    def own_transfers(self, account: Account) -> list[OwnTransfer]:
        """The transfers the account's agent target took, newest first."""
        with session_scope(self.url) as session:
            return [OwnTransfer(transfer.call.call_sid, transfer.created_at, transfer.reason,
                                (transfer.summary or {}).get("caller_wants"), transfer.outcome)
                    for transfer in own_transfers(session, account)]

    def figures(self) -> dict[str, Any]:
        """Counts over every stored call (see `ivr.storage.figures`); no transcripts, no SIDs.
        `repeat_window_days`: how soon another call from the same caller counts as a repeat."""
        with session_scope(self.url) as session:
            numbers = figures.call_figures(session)
            numbers["feedback"] = figures.feedback_figures(session)
            numbers.update(surveys.survey_figures(session))
        numbers["repeat_window_days"] = REPEAT_WINDOW.days
        return numbers

    def audit_trail(self, *, limit: int) -> list[AuditLine]:
        """The newest `limit` entries of the audit trail, newest first."""
        with session_scope(self.url) as session:
            return [AuditLine(entry.at, entry.actor, entry.action, entry.target,
                              dict(entry.detail or {}))
                    for entry in audit.entries(session, limit=limit)]

    def database_error(self) -> str | None:
        """None when the database answers, else the name of the error it gave."""
        try:
            with session_scope(self.url) as session:
                repository.ping(session)
        except Exception as error:  # reported, not raised: this is the health check
            return type(error).__name__
        return None


def _call_view(session: Session, call: Call,
               feedback: dict[int, Feedback] | None = None) -> CallView:
    return CallView(
        call.call_sid, call.flow, call.status, (call.state or {}).get("node"),
        call.started_at, call.ended_at, call.duration_seconds,
        tuple(_turn(turn) for turn in repository.turns_of(session, call)),
        tuple(_transfer(transfer) for transfer in call.transfers),
        {transfer_id: FeedbackView(given.intent_correct, given.summary_correct,
                                   given.corrected_intent, given.correction)
         for transfer_id, given in (feedback or {}).items()})


def _turn(turn: Turn) -> TurnView:
    return TurnView(turn.seq, turn.kind, turn.heard, turn.digits, turn.intent,
                    turn.intent_confidence, turn.action, turn.action_ok, turn.reply,
                    turn.sentiment, turn.created_at)


def _transfer(transfer: Transfer) -> TransferView:
    return TransferView(
        transfer.id, transfer.reason, transfer.trigger, transfer.queue, transfer.outcome,
        transfer.accepted_by, transfer.created_at, transfer.answered_at,
        transfer.spoken_summary, dict(transfer.summary or {}),
        tuple(Attempt(int(entry.get("index", 0)) + 1, entry.get("target"),
                      entry.get("outcome"), _parse_time(entry.get("at")), dict(entry))
              for entry in transfer.attempts or []))


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
