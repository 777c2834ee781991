"""Read back what the server stored, each lookup in its own short session.

Rows come back detached (sessions do not expire them on commit): their columns can be read
after the session ends, relationships cannot (load those here).
"""

from __future__ import annotations

from typing import NamedTuple

from ivr.config import Settings
from ivr.storage import audit, repository
from ivr.storage.db import session_scope
from ivr.storage.models import AuditEntry, Call, Transfer, Turn

Database = Settings | str
"""Settings, or a database URL."""


class StoredCall(NamedTuple):
    """A stored call with its turns (in order) and its latest transfer, if any."""

    call: Call
    turns: list[Turn]
    transfer: Transfer | None


def database_url(database: Database) -> str:
    """The URL of the database `database` names."""
    return database.database_url if isinstance(database, Settings) else database


def stored_call(database: Database, call_sid: str) -> StoredCall:
    """The call `call_sid` as stored; fails the test when there is no such call."""
    with session_scope(database_url(database)) as session:
        call = repository.get_call(session, call_sid)
        assert call is not None, f"no call {call_sid} stored"
        return StoredCall(call, repository.turns_of(session, call),
                          repository.latest_transfer(session, call))


def latest_transfer(database: Database, call_sid: str) -> Transfer | None:
    """The latest transfer of the call `call_sid` (None: never transferred); fails the test
    when there is no such call."""
    with session_scope(database_url(database)) as session:
        call = repository.get_call(session, call_sid)
        assert call is not None, f"no call {call_sid} stored"
        return repository.latest_transfer(session, call)


def audit_entries(database: Database, *, action: str | None = None,
                  target: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest `limit` entries of the audit trail, newest first, optionally only one action
    or target (as `audit.entries`)."""
    with session_scope(database_url(database)) as session:
        return audit.entries(session, action=action, target=target, limit=limit)
