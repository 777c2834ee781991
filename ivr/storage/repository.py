"""Queries the rest of the server uses; nothing outside `ivr.storage` writes SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr.storage.models import Call, Order, Transfer, Turn, utcnow

DEMO_ORDERS = [
    ("123456", "shipped", "shipped on Monday and should arrive by Thursday"),
    ("234567", "processing", "is being packed and will ship within two days"),
    ("345678", "delivered", "was delivered yesterday and signed for at the front door"),
    ("456789", "delayed", "is delayed at the carrier; the new delivery estimate is next Tuesday"),
    ("567890", "cancelled", "was cancelled and the refund was issued to the original payment"),
]


def call_for_update(session: Session, call_sid: str) -> Call | None:
    """The call, locked for this transaction where the database supports it."""
    query = select(Call).where(Call.call_sid == call_sid).with_for_update()
    return session.scalars(query).first()


def get_call(session: Session, call_sid: str) -> Call | None:
    return session.scalars(select(Call).where(Call.call_sid == call_sid)).first()


def create_call(session: Session, call_sid: str, flow: str, caller_hash: str | None) -> Call:
    call = Call(call_sid=call_sid, flow=flow, caller_hash=caller_hash, state={})
    session.add(call)
    session.flush()
    return call


def add_turn(session: Session, call: Call, **fields: Any) -> Turn:
    """Append a turn with the next sequence number for the call."""
    call.turn_count = (call.turn_count or 0) + 1
    call.updated_at = utcnow()
    turn = Turn(call_id=call.id, seq=call.turn_count, **fields)
    session.add(turn)
    return turn


def turns_of(session: Session, call: Call) -> list[Turn]:
    return list(session.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))


def latest_transfer(session: Session, call: Call, *, lock: bool = False) -> Transfer | None:
    query = select(Transfer).where(Transfer.call_id == call.id).order_by(Transfer.id.desc())
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def new_transfer(
    call: Call,
    *,
    reason: str,
    trigger: str,
    queue: str | None,
    summary: dict[str, Any],
    targets: list[str],
) -> Transfer:
    """A transfer about to ring its first target; the caller adds it to the session."""
    return Transfer(call_id=call.id, reason=reason, trigger=trigger, queue=queue,
                    summary=summary, spoken_summary=str(summary.get("spoken", "")),
                    targets=targets, attempt=0, attempts=[], outcome="ringing")


def find_order(session: Session, order_number: str) -> Order | None:
    return session.get(Order, order_number)


def seed_demo_orders(session: Session) -> int:
    """Insert the demo orders if the table is empty; returns how many were added."""
    if session.scalar(select(func.count()).select_from(Order)):
        return 0
    session.add_all(Order(order_number=number, status=status, detail=detail)
                    for number, status, detail in DEMO_ORDERS)
    return len(DEMO_ORDERS)


def count_turns(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Turn)) or 0)
