"""Queries for the live console: the transfers ringing one agent right now, and how the ones
that stopped ringing them ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from ivr.storage.models import Call, Transfer


def ringing_for(session: Session, agent_target: str, since: datetime) -> list[Transfer]:
    """Transfers created after `since` that are ringing `agent_target` now, oldest first.

    `targets` is JSON, so the current target is compared here rather than in SQL; only
    ringing transfers are read, and there are never many."""
    query = (select(Transfer).join(Transfer.call).options(contains_eager(Transfer.call))
             .where(Transfer.outcome == "ringing", Transfer.created_at >= since)
             .order_by(Transfer.created_at, Transfer.id))
    return [transfer for transfer in session.scalars(query)
            if transfer.attempt < len(transfer.targets or [])
            and transfer.targets[transfer.attempt] == agent_target]


def latest_transfers(session: Session, call_sids: list[str]) -> dict[str, Transfer]:
    """The newest transfer of each of these calls, by call SID."""
    if not call_sids:
        return {}
    query = (select(Transfer).join(Transfer.call).options(contains_eager(Transfer.call))
             .where(Call.call_sid.in_(call_sids)).order_by(Transfer.id))
    return {transfer.call.call_sid: transfer for transfer in session.scalars(query)}
