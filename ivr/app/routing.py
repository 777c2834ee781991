"""Who takes a transferred call, and the agents behind it.

`Router` picks, for a transfer to queue Q, the available agent serving Q who has been idle
longest, and reserves them (busy, with the call's SID) in the caller's transaction: on
PostgreSQL the row is taken with SELECT ... FOR UPDATE SKIP LOCKED, on SQLite the whole
transaction holds the write lock, so two transfers at once never ring the same agent. An agent
who does not take the call is released in their old place; one who took it goes to wrap-up
when the call ends, and is available again `[transfer] wrap_up_seconds` later (applied lazily,
whenever routing or the directory looks at agents). A reservation is a lease: see
`ivr.app.leases`.

`AgentDirectory` is the people side, for the CLI and the console: add and remove agents,
change their queues and presence, each change audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.app.accounts import AGENT_TARGET, AGENT_TARGET_RULES, USERNAME, normalise_username
from ivr.app.leases import expire_ringing
from ivr.config import Settings, TransferSettings
from ivr.storage import agents, audit
from ivr.storage.agents import OFFLINE, STATUSES, Db
from ivr.storage.db import session_scope
from ivr.storage.models import Agent, as_utc, utcnow

Clock = Callable[[], datetime]
DEFAULT_QUEUE = "support"
QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
QUEUE_RULES = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
MAX_QUEUES = 32
NAME_RULES = ("2 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
              "starting with a letter")


def queue_name(transfer: TransferSettings, queue: str | None) -> str:
    """The queue a transfer goes to: the flow's, else the first configured one."""
    return queue or next(iter(transfer.queues), DEFAULT_QUEUE)


@dataclass(frozen=True)
class Reservation:
    """What routing found. `served` is False when no agent serves the queue at all (ring the
    configured targets instead); else `target` is the reserved agent, or None: nobody free."""

    served: bool
    target: str | None = None

    @property
    def targets(self) -> list[str]:
        return [self.target] if self.target else []


class Configured(Protocol):
    """What a router is built from: a `TransferPolicy`'s transfer settings and clock."""

    @property
    def transfer(self) -> TransferSettings: ...

    @property
    def clock(self) -> Clock: ...


class Router:
    """Reserves and releases agents inside the transaction the caller passes in."""

    def __init__(self, transfer: TransferSettings, clock: Clock = utcnow):
        self.transfer = transfer
        self.clock = clock

    @classmethod
    def of(cls, policy: Configured) -> Router:
        """A router with the policy's transfer settings and clock."""
        return cls(policy.transfer, policy.clock)

    def reserve(self, db: Db, queue: str | None, call_sid: str, *,
                tried: Iterable[str] = ()) -> Reservation:
        """The longest-idle available agent of the queue not in `tried`, now busy with
        `call_sid`. A call rings one agent at a time: one still reserved for it is released."""
        now = self.clock()
        name = queue_name(self.transfer, queue)
        agents.release(db, call_sid, now)
        expire_ringing(db, self.transfer, now)
        agents.settle(db, now, self.transfer.wrap_up_seconds)
        if not agents.serves(db, name):
            return Reservation(served=False)
        return Reservation(True, agents.claim(db, name, call_sid, now, exclude=tried))

    def release(self, db: Db, call_sid: str) -> None:
        """The agent reserved for the call did not take it (declined, busy, no answer, failed,
        or the caller left): available again, keeping their place in the queue."""
        agents.release(db, call_sid, self.clock())

    def call_over(self, db: Db, call_sid: str) -> None:
        """The agent who took the call is off it: wrap-up, then available."""
        agents.wrap_up(db, call_sid, self.clock())


# The directory ----------------------------------------------------------------------------


class AgentError(ValueError):
    """An agent cannot be added or changed as asked; the message says why."""


@dataclass(frozen=True)
class AgentInfo:
    """An agent as the CLI and the console show it, detached from any session."""

    name: str
    target: str
    queues: tuple[str, ...]
    status: str
    status_since: datetime
    idle_since: datetime
    current_call_sid: str | None

    @classmethod
    def of(cls, agent: Agent) -> AgentInfo:
        return cls(agent.name, agent.target, tuple(sorted(agent.queue_names)), agent.status,
                   as_utc(agent.status_since), as_utc(agent.idle_since), agent.current_call_sid)


def parse_queues(values: Iterable[str]) -> list[str]:
    """Queue names from options or a form field (comma or space separated), checked,
    without repeats."""
    names = [name for value in values for name in re.split(r"[\s,]+", value) if name]
    for name in names:
        if not QUEUE.fullmatch(name):
            raise AgentError(f"queue {name[:70]!r} is not allowed: {QUEUE_RULES}")
    names = list(dict.fromkeys(names))
    if not names:
        raise AgentError("an agent needs at least one queue")
    if len(names) > MAX_QUEUES:
        raise AgentError(f"an agent can serve at most {MAX_QUEUES} queues")
    return names


class AgentDirectory:
    """The agents of one database. `clock` is injectable, as routing's is."""

    def __init__(self, settings: Settings, *, clock: Clock = utcnow):
        self.url = settings.database_url
        self.transfer = settings.transfer
        self.clock = clock

    def add(self, name: str, target: str, queues: Sequence[str], *, status: str = OFFLINE,
            actor: str) -> AgentInfo:
        """A new agent; raises `AgentError` for a bad or taken name or target, bad queues or
        an unknown status."""
        name = _checked_name(name)
        target = target.strip()
        if not AGENT_TARGET.fullmatch(target):
            raise AgentError(f"target {target[:140]!r} is not {AGENT_TARGET_RULES}")
        wanted = parse_queues(queues)
        _check_status(status)
        try:
            with self._session() as session:
                if agents.by_name(session, name) is not None:
                    raise AgentError(f"an agent named {name!r} already exists")
                if agents.by_target(session, target) is not None:
                    raise AgentError(f"another agent is already rung on {target}")
                agent = agents.add(session, name=name, target=target, queues=wanted,
                                   status=status, now=self.clock())
                audit.record(session, actor, audit.AGENT_ADDED, name, queues=wanted,
                             status=status)
                return AgentInfo.of(agent)
        except IntegrityError:  # added by someone else at the same moment
            raise AgentError(f"an agent named {name!r} or rung on {target} already "
                             "exists") from None

    def remove(self, name: str, *, actor: str) -> AgentInfo:
        with self._session() as session:
            agent = self._agent(session, name)
            info = AgentInfo.of(agent)
            agents.remove(session, agent)
            audit.record(session, actor, audit.AGENT_REMOVED, agent.name)
            return info

    def set_queues(self, name: str, queues: Sequence[str], *, actor: str) -> AgentInfo:
        wanted = parse_queues(queues)
        with self._session() as session:
            agent = self._agent(session, name)
            if sorted(wanted) != sorted(agent.queue_names):
                agents.set_queues(agent, wanted)
                audit.record(session, actor, audit.AGENT_QUEUES, agent.name, queues=wanted)
            session.flush()
            return AgentInfo.of(agent)

    def set_status(self, name: str, status: str, *, actor: str) -> AgentInfo:
        """Presence set by hand (by the agent, an admin or the CLI)."""
        _check_status(status)
        with self._session() as session:
            return self._set_status(session, self._agent(session, name), status, actor)

    def set_status_of(self, target: str, status: str, *, actor: str) -> AgentInfo:
        """The same, for the agent rung on `target` (a console user's own agent)."""
        _check_status(status)
        with self._session() as session:
            agent = agents.by_target(session, target, lock=True)
            if agent is None:
                raise AgentError(f"no agent is rung on {target}")
            return self._set_status(session, agent, status, actor)

    def list_agents(self) -> list[AgentInfo]:
        """Every agent by name, wrap-ups that are over already ended."""
        with self._session() as session:
            self._settle(session)
            return [AgentInfo.of(agent) for agent in agents.list_agents(session)]

    def of_target(self, target: str | None) -> AgentInfo | None:
        """The agent rung on `target`, if any."""
        if not target:
            return None
        with self._session() as session:
            self._settle(session)
            agent = agents.by_target(session, target)
            return AgentInfo.of(agent) if agent else None

    def _settle(self, session: Session) -> None:
        """Leases that ran out and wrap-ups that are over end before agents are shown."""
        now = self.clock()
        expire_ringing(session, self.transfer, now)
        agents.settle(session, now, self.transfer.wrap_up_seconds)

    def _set_status(self, session: Session, agent: Agent, status: str,
                    actor: str) -> AgentInfo:
        before = agent.status
        if agents.set_status(agent, status, self.clock()):
            audit.record(session, actor, audit.AGENT_STATUS, agent.name, status=status,
                         before=before)
        return AgentInfo.of(agent)

    def _agent(self, session: Session, name: str) -> Agent:
        agent = agents.by_name(session, normalise_username(name), lock=True)
        if agent is None:
            raise AgentError(f"there is no agent named {normalise_username(name)!r}")
        return agent

    def _session(self) -> AbstractContextManager[Session]:
        # Write-locked on SQLite: every use reads, then writes (wrap-ups, presence).
        return session_scope(self.url, write_lock=True)


def _checked_name(name: str) -> str:
    normalised = normalise_username(name)
    if not USERNAME.fullmatch(normalised):
        raise AgentError(f"agent name {name[:70]!r} is not allowed: {NAME_RULES}")
    return normalised


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise AgentError(f"unknown status {status[:30]!r}: choose one of {', '.join(STATUSES)}")

