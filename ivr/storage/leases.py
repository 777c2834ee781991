"""Queries behind agents' leases: transfers still ringing with no report for too long, and
accepted transfers whose agent is still marked busy. Rows another transaction holds are left
for it (SKIP LOCKED on PostgreSQL; SQLite's write lock serialises the writers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ivr.storage.agents import BUSY, Db, release
from ivr.storage.models import Agent, Call, Transfer, as_utc
from ivr.storage.transfers import attempt_entry, target_at

LOST = "lost"
"""A transfer's outcome when nothing was heard of it for longer than its ring time allows."""


@dataclass(frozen=True)
class Expired:
    call_sid: str
    target: str | None


def expire_ringing(db: Db, now: datetime, allowed_seconds: Callable[[str | None], float]
                   ) -> list[Expired]:
    """Transfers still "ringing" whose current attempt started more than
    `allowed_seconds(queue)` ago: the attempt is recorded as `no-report`, the transfer becomes
    `lost` and the agent reserved for it is available again in their old place."""
    rows: Sequence[tuple[int, str, str | None, datetime, int, list[Any], list[Any]]] = db.execute(
        select(Transfer.id, Call.call_sid, Transfer.queue, Transfer.created_at,
               Transfer.attempt, Transfer.attempts, Transfer.targets)
        .join(Call, Call.id == Transfer.call_id)
        .where(Transfer.outcome == "ringing")
        .with_for_update(skip_locked=True, of=Transfer)).all()
    expired = []
    for transfer_id, call_sid, queue, created_at, attempt, attempts, targets in rows:
        attempts = list(attempts or [])
        started = _attempt_started(created_at, attempts)
        if now - started <= timedelta(seconds=allowed_seconds(queue)):
            continue
        target = target_at(targets, attempt)
        attempts.append(attempt_entry(attempt, target, "no-report", now))
        db.execute(update(Transfer).where(Transfer.id == transfer_id,
                                          Transfer.outcome == "ringing")
                   .values(outcome=LOST, attempts=attempts)
                   .execution_options(synchronize_session=False))
        release(db, call_sid, now)
        expired.append(Expired(call_sid, target))
    return expired


def busy_on_accepted(db: Db, answered_before: datetime) -> list[tuple[str, datetime]]:
    """(call SID, answered at) of accepted transfers answered before `answered_before` whose
    agent is still busy with the call: nothing said the call ended."""
    rows = db.execute(
        select(Call.call_sid, Transfer.answered_at)
        .join(Transfer, Transfer.call_id == Call.id)
        .join(Agent, Agent.current_call_sid == Call.call_sid)
        .where(Transfer.outcome == "accepted", Agent.status == BUSY,
               Transfer.answered_at.is_not(None), Transfer.answered_at < answered_before)
    ).all()
    return [(str(sid), as_utc(answered)) for sid, answered in rows if answered is not None]


def _attempt_started(created_at: datetime, attempts: list[Any]) -> datetime:
    """The current attempt began when the one before it ended (or with the transfer)."""
    if attempts and isinstance(attempts[-1], dict) and attempts[-1].get("at"):
        try:
            return as_utc(datetime.fromisoformat(str(attempts[-1]["at"])))
        except ValueError:
            pass
    return as_utc(created_at)
