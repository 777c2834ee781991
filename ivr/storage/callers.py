"""Queries for data rights and retention: a caller's calls (by pseudonym), old calls, deletion.

Deleting a call deletes its turns and transfers with it (foreign keys with ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from ivr.storage.models import Call

PURGE_BATCH = 500


def calls_of_caller(session: Session, pseudonym: str) -> list[Call]:
    """Every stored call of one caller, oldest first, with turns and transfers loaded."""
    query = (select(Call).where(Call.caller_hash == pseudonym).order_by(Call.started_at)
             .options(selectinload(Call.turns), selectinload(Call.transfers),
                      selectinload(Call.voicemails)))
    return list(session.scalars(query))


def delete_calls_of_caller(session: Session, pseudonym: str) -> int:
    result = session.execute(delete(Call).where(Call.caller_hash == pseudonym))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
