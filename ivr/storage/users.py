"""Queries on the console's sign-in users (`User`): add, find, list, disable, note sign-ins,
and the transfers an agent took."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from ivr.storage.models import Call, Transfer, User, utcnow


def add(session: Session, *, username: str, password_hash: str, role: str,
        agent_target: str | None = None) -> User:
    """A new, enabled user (flushed, so it has its id)."""
    user = User(username=username, password_hash=password_hash, role=role,
                agent_target=agent_target, disabled=False, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def by_username(session: Session, username: str, *, lock: bool = False) -> User | None:
    query = select(User).where(User.username == username)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def by_agent_target(session: Session, agent_target: str) -> list[User]:
    """Users who answer transfers on this target (normally at most one enabled)."""
    return list(session.scalars(select(User).where(User.agent_target == agent_target)
                                .order_by(User.id)))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def set_disabled(user: User, disabled: bool = True) -> None:
    user.disabled = disabled


def set_password_hash(user: User, password_hash: str) -> None:
    user.password_hash = password_hash


def touch_sign_in(user: User, at: datetime | None = None) -> None:
    user.last_sign_in_at = at or utcnow()


def transfers_accepted_by(session: Session, agent_target: str, *,
                          limit: int = 200) -> list[Transfer]:
    """Transfers the agent at `agent_target` accepted, newest first, with their calls."""
    query = (select(Transfer).join(Transfer.call).options(contains_eager(Transfer.call))
             .where(Transfer.accepted_by == agent_target)
             .order_by(Transfer.created_at.desc(), Transfer.id.desc()).limit(limit))
    return list(session.scalars(query))


def took_a_transfer_of(session: Session, agent_target: str, call: Call) -> bool:
    query = select(Transfer.id).where(Transfer.call_id == call.id,
                                      Transfer.accepted_by == agent_target).limit(1)
    return session.scalar(query) is not None
