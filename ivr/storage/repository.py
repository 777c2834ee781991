"""Queries the rest of the server uses; nothing outside `ivr.storage` writes SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from ivr.storage.models import Call, Order, Transfer, Turn, Voicemail, utcnow

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


def turns_of(session: Session, call: Call) -> list[Turn]:
    return list(session.scalars(select(Turn).where(Turn.call_id == call.id).order_by(Turn.seq)))


def latest_transfer(session: Session, call: Call, *, lock: bool = False) -> Transfer | None:
    query = select(Transfer).where(Transfer.call_id == call.id).order_by(Transfer.id.desc())
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def voicemail_exists(session: Session, recording_sid: str) -> bool:
    query = select(Voicemail.id).where(Voicemail.recording_sid == recording_sid)
    return session.scalar(query) is not None


def add_voicemail(session: Session, call: Call, recording_sid: str, audio: bytes,
                  duration_seconds: int | None) -> Voicemail:
    voicemail = Voicemail(call_id=call.id, recording_sid=recording_sid, audio=audio,
                          duration_seconds=duration_seconds, received_at=utcnow(),
                          deleted_from_twilio=False)
    session.add(voicemail)
    session.flush()
    return voicemail


def mark_voicemail_deleted(session: Session, voicemail_id: int) -> None:
    session.execute(update(Voicemail).where(Voicemail.id == voicemail_id)
                    .values(deleted_from_twilio=True))


def find_order(session: Session, order_number: str) -> Order | None:
    return session.get(Order, order_number)


def seed_demo_orders(session: Session) -> int:
    """Insert the demo orders if the table is empty; returns how many were added."""
    if session.scalar(select(func.count()).select_from(Order)):
        return 0
    session.add_all(Order(order_number=number, status=status, detail=detail)
                    for number, status, detail in DEMO_ORDERS)
    return len(DEMO_ORDERS)


def ping(session: Session) -> None:
    """Ask the database for nothing: raises when it does not answer."""
    session.execute(text("select 1"))


def count_turns(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Turn)) or 0)


# The turn path: SQLAlchemy Core on one connection, no ORM session (it is the hot path). -----


@dataclass
class CallRecord:
    """The columns of a call that a turn reads and writes."""

    id: int
    call_sid: str
    flow: str
    state: dict[str, Any]
    status: str
    turn_count: int
    started_at: datetime
    caller_hash: str | None = None


# Built once: composing a statement costs more than running it on SQLite.
_READ_CALL = (select(Call.id, Call.call_sid, Call.flow, Call.state, Call.status, Call.turn_count,
                     Call.started_at, Call.caller_hash)
              .where(Call.call_sid == bindparam("sid")))
_LOCK_CALL = _READ_CALL.with_for_update()
_OPEN_CALL = insert(Call).returning(Call.id)
_INSERT_TURNS = insert(Turn)
_SAVE_CALL = (update(Call).where(Call.id == bindparam("cid"))
              .values(state=bindparam("state"), status=bindparam("status"),
                      turn_count=bindparam("turns"), updated_at=bindparam("now")))
_TURNS_OF_CALL = (select(*Turn.__table__.columns).where(Turn.call_id == bindparam("cid"))
                  .order_by(Turn.seq))


def read_call(connection: Connection, call_sid: str) -> CallRecord | None:
    """The call as last stored, without a lock. Its `turn_count` is the version a later write
    checks (`lock_call`): every stored turn moves it on."""
    row = connection.execute(_READ_CALL, {"sid": call_sid}).first()
    return _call_record(row) if row else None


def lock_call(connection: Connection, call_sid: str) -> CallRecord | None:
    """The call, locked until the transaction ends (PostgreSQL: FOR UPDATE; SQLite takes the
    database write lock when the transaction begins, see `ivr.storage.db`)."""
    row = connection.execute(_LOCK_CALL, {"sid": call_sid}).first()
    return _call_record(row) if row else None


def _call_record(row: Any) -> CallRecord:
    """A row of `_READ_CALL` (or `_LOCK_CALL`), in its column order."""
    call_id, call_sid, flow, state, status, turn_count, started_at, caller_hash = row
    return CallRecord(call_id, call_sid, flow, state, status, turn_count, started_at,
                      caller_hash)


def open_call(connection: Connection, call_sid: str, flow: str,
              caller_hash: str | None) -> CallRecord:
    now = utcnow()
    call_id = connection.execute(_OPEN_CALL, {
        "call_sid": call_sid, "flow": flow, "caller_hash": caller_hash, "state": {},
        "status": "in-progress", "started_at": now, "updated_at": now, "turn_count": 0,
    }).scalar_one()
    return CallRecord(call_id, call_sid, flow, {}, "in-progress", 0, now, caller_hash)


def record_turns(connection: Connection, call: CallRecord, turns: list[dict[str, Any]]) -> None:
    """Append turns with the call's next sequence numbers (`call.turn_count` moves on)."""
    rows = []
    for fields in turns:
        call.turn_count += 1
        rows.append({**_TURN_DEFAULTS, "call_id": call.id, "seq": call.turn_count,
                     "created_at": utcnow(), **fields})
    if rows:
        connection.execute(_INSERT_TURNS, rows)


_TURN_DEFAULTS: dict[str, Any] = {
    "node": "", "heard": None, "digits": None, "asr_confidence": None, "intent": None,
    "intent_confidence": None, "action": None, "action_ok": None, "reply": None,
    "server_ms": None, "sentiment": None,
}


def save_call(connection: Connection, call: CallRecord) -> None:
    connection.execute(_SAVE_CALL, {"cid": call.id, "state": call.state, "status": call.status,
                                    "turns": call.turn_count, "now": utcnow()})


def turn_rows(connection: Connection, call_id: int) -> list[Any]:
    """Every turn of a call in order, as rows with the `Turn` column names."""
    return list(connection.execute(_TURNS_OF_CALL, {"cid": call_id}))


def add_transfer(connection: Connection, call_id: int, **fields: Any) -> None:
    """Store a transfer that is about to ring its first target."""
    summary = fields.get("summary", {})
    connection.execute(insert(Transfer).values(
        call_id=call_id, spoken_summary=str(summary.get("spoken", "")), attempt=0, attempts=[],
        outcome="ringing", created_at=utcnow(), **{"mode": "dial", **fields}))


def earlier_calls(connection: Connection, caller_hash: str, call_id: int,
                  since: datetime) -> int:
    """How many other calls the same caller (pseudonym) started since `since`."""
    query = (select(func.count()).select_from(Call)
             .where(Call.caller_hash == caller_hash, Call.id != call_id,
                    Call.started_at >= since))
    return int(connection.execute(query).scalar() or 0)
