"""Tables: calls, their turns, transfers (with the summary) and the demo orders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Call(Base):
    """One phone call. `state` is the dialog engine's `CallState` as JSON."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    flow: Mapped[str] = mapped_column(String(64))
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)

    turns: Mapped[list[Turn]] = relationship(back_populates="call", order_by="Turn.seq")
    transfers: Mapped[list[Transfer]] = relationship(back_populates="call",
                                                     order_by="Transfer.id")


class Turn(Base):
    """Something that happened on a call: the caller spoke or keyed, or an action ran."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # start, speech, digits, no_input, action, fault
    node: Mapped[str] = mapped_column(String(64), default="")
    heard: Mapped[str | None] = mapped_column(Text)
    digits: Mapped[str | None] = mapped_column(String(64))
    asr_confidence: Mapped[float | None] = mapped_column(Float)
    intent: Mapped[str | None] = mapped_column(String(64))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    action: Mapped[str | None] = mapped_column(String(64))
    action_ok: Mapped[bool | None]
    reply: Mapped[str | None] = mapped_column(Text)
    server_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    call: Mapped[Call] = relationship(back_populates="turns")


class Transfer(Base):
    """A hand-over to a person: why, the summary the agent got, who was tried, how it ended."""

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    trigger: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spoken_summary: Mapped[str] = mapped_column(Text, default="")
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    accepted_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32), default="ringing")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    call: Mapped[Call] = relationship(back_populates="transfers")


class Order(Base):
    """Demo orders for the bundled order-status action."""

    __tablename__ = "orders"

    order_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
