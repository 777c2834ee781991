"""Transfer state: who a transfer is ringing now, the attempts it made, and the transfers
ringing one agent. The one place that reads `targets[attempt]`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session, contains_eager

from ivr.storage.models import Call, Transfer, utcnow

ATTEMPT_OUTCOMES = {"busy": "busy", "no-answer": "no-answer", "failed": "failed",
                    "canceled": "canceled"}

_LATEST_TRANSFER = (select(Transfer.queue, Transfer.targets, Transfer.attempt, Transfer.outcome)
                    .where(Transfer.call_id == bindparam("cid"))
                    .order_by(Transfer.id.desc()).limit(1))


def target_at(targets: list[Any] | None, attempt: int) -> str | None:
    """The target a transfer rings on attempt `attempt` (0 first), None once none is left."""
    return str(targets[attempt]) if targets and 0 <= attempt < len(targets) else None


def current_target(transfer: Transfer) -> str | None:
    """The target of the transfer's current attempt (ringing, or the one who took it)."""
    return target_at(transfer.targets, transfer.attempt)


def ringing_now(connection: Connection, call_id: int) -> tuple[str | None, str | None]:
    """The queue of the call's newest transfer, and the target it is ringing (None when it is
    not ringing anyone)."""
    row = connection.execute(_LATEST_TRANSFER, {"cid": call_id}).first()
    if row is None:
        return None, None
    ringing = row.outcome == "ringing"
    return row.queue, target_at(row.targets, row.attempt) if ringing else None


def record_attempt(transfer: Transfer, outcome: str, **detail: object) -> None:
    """One entry per target tried (answered, declined, no-answer, busy, failed, canceled,
    caller-abandoned); a decline seen in the whisper is not counted twice."""
    attempts = list(transfer.attempts or [])
    if attempts and attempts[-1].get("index") == transfer.attempt:
        return
    attempts.append(attempt_entry(transfer.attempt, current_target(transfer), outcome,
                                  utcnow(), **detail))
    transfer.attempts = attempts


def attempt_entry(index: int, target: str | None, outcome: str, at: datetime,
                  **detail: object) -> dict[str, Any]:
    """One attempt as `Transfer.attempts` stores it."""
    return {"index": index, "target": target, "outcome": outcome, "at": at.isoformat(),
            **detail}


def attempt_outcome(call_status: str) -> str:
    """The outcome of an agent's leg that ended without the agent taking the call: one that
    was answered ("completed") but not accepted counts as declined."""
    return ATTEMPT_OUTCOMES.get(call_status, "declined")


def ringing_for(session: Session, agent_target: str, since: datetime) -> list[Transfer]:
    """Transfers created after `since` that are ringing `agent_target` now, oldest first
    (with their calls).

    `targets` is JSON, so the current target is compared here rather than in SQL; only
    ringing transfers are read, and there are never many."""
    query = (select(Transfer).join(Transfer.call).options(contains_eager(Transfer.call))
             .where(Transfer.outcome == "ringing", Transfer.created_at >= since)
             .order_by(Transfer.created_at, Transfer.id))
    return [transfer for transfer in session.scalars(query)
            if current_target(transfer) == agent_target]


def latest_transfers(session: Session, call_sids: list[str]) -> dict[str, Transfer]:
    """The newest transfer of each of these calls, by call SID (with their calls)."""
    if not call_sids:
        return {}
    query = (select(Transfer).join(Transfer.call).options(contains_eager(Transfer.call))
             .where(Call.call_sid.in_(call_sids)).order_by(Transfer.id))
    return {transfer.call.call_sid: transfer for transfer in session.scalars(query)}
