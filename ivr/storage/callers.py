"""Queries for data rights and retention: a caller's calls (by pseudonym), their earlier
contacts, old calls, deletion.

Deleting a call deletes its turns and transfers with it (foreign keys with ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session, selectinload

from ivr.storage.models import Call, Transfer, Turn

PURGE_BATCH = 500
EARLIER_CONTACTS = 10


@dataclass(frozen=True)
class Contact:
    """An earlier call of a caller as an agent needs it: when, what about, how it ended."""

    started_at: datetime
    flow: str
    status: str
    intents: list[str]  # recognised intents in order, repeats removed
    wanted: str | None  # what the hand-over summary said the caller wanted, if transferred
    transfer_outcome: str | None


def calls_of_caller(session: Session, pseudonym: str) -> list[Call]:
    """Every stored call of one caller, oldest first, with turns and transfers loaded."""
    query = (select(Call).where(Call.caller_hash == pseudonym).order_by(Call.started_at)
             .options(selectinload(Call.turns), selectinload(Call.transfers),
                      selectinload(Call.voicemails)))
    return list(session.scalars(query))


def earlier_contacts(session: Session, call: Call, *,
                     limit: int = EARLIER_CONTACTS) -> list[Contact]:
    """The same caller's calls (by pseudonym) that started before `call`, newest first.
    Nothing for a withheld number. No transcripts: intents and outcomes only."""
    if call.caller_hash is None:
        return []
    calls = list(session.scalars(
        select(Call).where(Call.caller_hash == call.caller_hash, Call.id != call.id,
                           Call.started_at <= call.started_at)
        .order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)))
    ids = [earlier.id for earlier in calls]
    intents: dict[int, list[str]] = {call_id: [] for call_id in ids}
    for call_id, intent in session.execute(
            select(Turn.call_id, Turn.intent).where(Turn.call_id.in_(ids),
                                                    Turn.intent.is_not(None))
            .order_by(Turn.call_id, Turn.seq)):
        if intent is not None and intent not in intents[call_id]:
            intents[call_id].append(intent)
    transfers = {transfer.call_id: transfer for transfer in session.scalars(
        select(Transfer).where(Transfer.call_id.in_(ids)).order_by(Transfer.id))}
    return [Contact(earlier.started_at, earlier.flow, earlier.status, intents[earlier.id],
                    (transfers[earlier.id].summary or {}).get("caller_wants")
                    if earlier.id in transfers else None,
                    transfers[earlier.id].outcome if earlier.id in transfers else None)
            for earlier in calls]


def delete_calls_of_caller(session: Session, pseudonym: str) -> int:
    # DML returns a CursorResult, which has the row count; Session.execute is typed Result
    result = cast(CursorResult[Any],
                  session.execute(delete(Call).where(Call.caller_hash == pseudonym)))
    return int(result.rowcount or 0)


def delete_calls_started_before(session: Session, cutoff: datetime) -> int:
    """Delete calls older than `cutoff` in batches; returns how many went."""
    deleted = 0
    while True:
        ids = list(session.scalars(select(Call.id).where(Call.started_at < cutoff)
                                   .order_by(Call.id).limit(PURGE_BATCH)))
        if not ids:
            return deleted
        session.execute(delete(Call).where(Call.id.in_(ids)))
        deleted += len(ids)
