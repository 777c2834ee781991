"""Queries on agents: the directory (add, find, list, queues, presence) and the statements
routing uses to reserve, release and wrap up agents.

Routing statements take a Core `Connection` or an ORM `Session` (`Db`): a transfer starts on
the turn's connection, the hand-over callbacks run on a session. `claim` locks the chosen row
with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite ignores it; there the caller's
transaction holds the database write lock from its start).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from ivr.storage.models import Agent, AgentQueue, Transfer, as_utc

Db = Connection | Session

AVAILABLE = "available"
BUSY = "busy"
WRAP_UP = "wrap-up"
OFFLINE = "offline"
STATUSES = (AVAILABLE, BUSY, WRAP_UP, OFFLINE)

# An ORM session need not look for the updated agents among its objects: none are loaded.
_PLAIN = {"synchronize_session": False}


# The directory ----------------------------------------------------------------------------


def add(session: Session, *, name: str, target: str, queues: Sequence[str], status: str,
        now: datetime) -> Agent:
    """A new agent (flushed, so a taken name or target fails here)."""
    agent = Agent(name=name, target=target, status=status, status_since=now, idle_since=now,
                  current_call_sid=None, queues=[AgentQueue(queue=queue) for queue in queues])
    session.add(agent)
    session.flush()
    return agent


def by_name(session: Session, name: str, *, lock: bool = False) -> Agent | None:
    query = select(Agent).where(Agent.name == name)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def by_target(session: Session, target: str, *, lock: bool = False) -> Agent | None:
    query = select(Agent).where(Agent.target == target)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_agents(session: Session) -> list[Agent]:
    """Every agent, by name, with their queues."""
    return list(session.scalars(select(Agent).order_by(Agent.name)))


def set_queues(agent: Agent, queues: Iterable[str]) -> None:
    """Serve exactly `queues`: rows for queues kept stay, others are added or deleted."""
    wanted = list(dict.fromkeys(queues))
    agent.queues = ([link for link in agent.queues if link.queue in wanted]
                    + [AgentQueue(queue=queue) for queue in wanted
                       if queue not in agent.queue_names])


def set_status(agent: Agent, status: str, now: datetime) -> bool:
    """Presence set by hand. Any reservation ends; becoming available starts the idle time
    now, while staying available keeps the agent's place. Returns whether anything changed."""
    if agent.status == status:
        return False
    agent.status = status
    agent.status_since = now
    agent.current_call_sid = None
    if status == AVAILABLE:
        agent.idle_since = now
    return True


def remove(session: Session, agent: Agent) -> None:
    session.delete(agent)


# Routing ----------------------------------------------------------------------------------


def settle(db: Db, now: datetime, wrap_up_seconds: int) -> int:
    """Agents whose wrap-up is over become available, idle since the moment it ended.
    Rows another transaction holds are left for it (or for the next call). Returns how many."""
    cutoff = now - timedelta(seconds=wrap_up_seconds)
    rows = db.execute(select(Agent.id, Agent.status_since)
                      .where(Agent.status == WRAP_UP, Agent.status_since <= cutoff)
                      .with_for_update(skip_locked=True)).all()
    for agent_id, since in rows:
        ready = as_utc(since) + timedelta(seconds=wrap_up_seconds)
        db.execute(update(Agent).where(Agent.id == agent_id, Agent.status == WRAP_UP)
                   .values(status=AVAILABLE, status_since=ready, idle_since=ready)
                   .execution_options(**_PLAIN))
    return len(rows)


def serves(db: Db, queue: str) -> bool:
    """Whether any agent, whatever their status, serves `queue`."""
    query = select(AgentQueue.agent_id).where(AgentQueue.queue == queue).limit(1)
    return db.execute(query).first() is not None


def claim(db: Db, queue: str, call_sid: str, now: datetime,
          exclude: Iterable[str] = ()) -> str | None:
    """Reserve the available agent of `queue` who has been idle longest (none of the targets
    in `exclude`) for `call_sid`: busy, until released or wrapped up. Returns their target."""
    query = (select(Agent.id, Agent.target)
             .where(Agent.status == AVAILABLE,
                    Agent.id.in_(select(AgentQueue.agent_id).where(AgentQueue.queue == queue)))
             .order_by(Agent.idle_since, Agent.id).limit(1)
             .with_for_update(skip_locked=True))
    excluded = list(exclude)
    if excluded:
        query = query.where(Agent.target.not_in(excluded))
    row = db.execute(query).first()
    if row is None:
        return None
    db.execute(update(Agent).where(Agent.id == row.id)
               .values(status=BUSY, status_since=now, current_call_sid=call_sid)
               .execution_options(**_PLAIN))
    return str(row.target)


def release(db: Db, call_sid: str, now: datetime) -> None:
    """The agent reserved for `call_sid` did not take it: available again, in their old place
    (`idle_since` unchanged)."""
    db.execute(update(Agent).where(Agent.current_call_sid == call_sid, Agent.status == BUSY)
               .values(status=AVAILABLE, status_since=now, current_call_sid=None)
               .execution_options(**_PLAIN))


def wrap_up(db: Db, call_sid: str, now: datetime) -> None:
    """The agent who took `call_sid` is off the call: wrap-up from now (`settle` ends it)."""
    db.execute(update(Agent).where(Agent.current_call_sid == call_sid, Agent.status == BUSY)
               .values(status=WRAP_UP, status_since=now, current_call_sid=None)
               .execution_options(**_PLAIN))


def note_fallback(db: Db, call_id: int, outcome: str) -> None:
    """The call's newest transfer went straight to the fallback: nobody was there to ring."""
    newest = (select(Transfer.id).where(Transfer.call_id == call_id)
              .order_by(Transfer.id.desc()).limit(1).scalar_subquery())
    db.execute(update(Transfer).where(Transfer.id == newest).values(outcome=outcome)
               .execution_options(**_PLAIN))

