"""Tables: calls, their turns, transfers (with the summary), sign-in users, the audit trail
and the demo orders. Columns that hold what callers said are encrypted (`ivr.storage.crypto`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ivr.storage.crypto import EncryptedBytes, EncryptedJSON, EncryptedText


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite gives naive ones back, all of them UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Call(Base):
    """One phone call. `state` is the dialog engine's `CallState` as (encrypted) JSON; the caller
    is only a keyed pseudonym (`ivr.privacy.pseudonyms`)."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    flow: Mapped[str] = mapped_column(String(64))
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    status: Mapped[str] = mapped_column(String(32), default="in-progress")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    # After the agent's part: the caller's 1-5 keypad answer (only when they pressed a key),
    # and the SID of the confirmation text Twilio queued (never the number it went to).
    survey_score: Mapped[int | None] = mapped_column(SmallInteger)
    survey_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmation_sms_sid: Mapped[str | None] = mapped_column(String(64))

    turns: Mapped[list[Turn]] = relationship(back_populates="call", order_by="Turn.seq")
    transfers: Mapped[list[Transfer]] = relationship(back_populates="call",
                                                     order_by="Transfer.id")
    voicemails: Mapped[list[Voicemail]] = relationship(back_populates="call",
                                                       order_by="Voicemail.id")


class Turn(Base):
    """Something that happened on a call: the caller spoke or keyed, or an action ran."""

    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # start, speech, digits, no_input, action, fault
    node: Mapped[str] = mapped_column(String(64), default="")
    heard: Mapped[str | None] = mapped_column(EncryptedText)
    digits: Mapped[str | None] = mapped_column(EncryptedText)
    asr_confidence: Mapped[float | None] = mapped_column(Float)
    intent: Mapped[str | None] = mapped_column(String(64))
    intent_confidence: Mapped[float | None] = mapped_column(Float)
    action: Mapped[str | None] = mapped_column(String(64))
    action_ok: Mapped[bool | None]
    reply: Mapped[str | None] = mapped_column(EncryptedText)
    server_ms: Mapped[float | None] = mapped_column(Float)
    sentiment: Mapped[float | None] = mapped_column(Float)  # -1 (negative) .. 1 (positive)
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
    summary: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON, default=dict)
    spoken_summary: Mapped[str] = mapped_column(EncryptedText, default="")
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    accepted_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(32), default="ringing")
    mode: Mapped[str] = mapped_column(String(16), default="dial")  # dial, conference
    agent_call_sid: Mapped[str | None] = mapped_column(String(64))  # the ringing agent leg
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    call: Mapped[Call] = relationship(back_populates="transfers")


class Voicemail(Base):
    """A message left when nobody could take the call (only with recordings enabled).

    The audio is copied here encrypted, then deleted from Twilio."""

    __tablename__ = "voicemails"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    audio: Mapped[bytes] = mapped_column(EncryptedBytes)
    media_type: Mapped[str] = mapped_column(String(32), default="audio/wav")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_from_twilio: Mapped[bool] = mapped_column(Boolean, default=False)

    call: Mapped[Call] = relationship(back_populates="voicemails")


class Order(Base):
    """Demo orders for the bundled order-status action."""

    __tablename__ = "orders"

    order_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)


class User(Base):
    """Someone who signs in to the console: an agent, a supervisor or an admin.

    `agent_target` is the number, `client:` or `sip:` address the agent answers transfers on;
    it links them to the transfers they took (`Transfer.accepted_by`)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # agent, supervisor, admin
    agent_target: Mapped[str | None] = mapped_column(String(128))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Agent(Base):
    """Someone who takes transferred calls, with the queues they serve and their presence.

    `target` is where they are rung (E.164 number, `client:` or `sip:`); a console user with
    the same `agent_target` is this agent. Routing rings the available agent of the queue who
    has been idle longest (`idle_since`), and marks them busy with `current_call_sid`."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_status_idle_since", "status", "idle_since"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    # available, busy, wrap-up or offline
    status: Mapped[str] = mapped_column(String(16), default="offline")
    status_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    idle_since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    current_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)

    queues: Mapped[list[AgentQueue]] = relationship(
        cascade="all, delete-orphan", order_by="AgentQueue.queue", lazy="selectin")

    @property
    def queue_names(self) -> list[str]:
        return [link.queue for link in self.queues]


class AgentQueue(Base):
    """One queue (skill) an agent serves: a row per pair, so routing filters in SQL."""

    __tablename__ = "agent_queues"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"),
                                          primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Feedback(Base):
    """An agent's verdict on the bot's work for one transfer: intent and summary right or not,
    and a correction. Feeds accuracy figures and flow improvements."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id", ondelete="CASCADE"),
                                             index=True)
    username: Mapped[str] = mapped_column(String(64))
    intent_correct: Mapped[bool | None] = mapped_column(Boolean)
    summary_correct: Mapped[bool | None] = mapped_column(Boolean)
    corrected_intent: Mapped[str | None] = mapped_column(String(64))
    correction: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who did what to which call or caller: viewed, exported, forgot, purged, signed in.

    `target` is a call SID, a caller pseudonym or a username, never a phone number."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32), index=True)
    target: Mapped[str | None] = mapped_column(String(128), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
