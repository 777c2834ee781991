"""The audit trail: who viewed, exported, forgot or purged which call or caller, and sign-ins.

Entries name calls by SID and callers by pseudonym, never by phone number. They are written in
the same transaction as the thing they record, so an export or a deletion never happens
without its entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from ivr.storage.models import AuditEntry, utcnow

# What can be audited. Tests and the console filter on these names.
VIEW_CALL = "view-call"
EXPORT_CALLER = "export-caller"
FORGET_CALLER = "forget-caller"
PURGE = "purge"
ROTATE_KEYS = "rotate-keys"
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in-failed"
SIGN_OUT = "sign-out"
USER_ADDED = "user-added"
USER_DISABLED = "user-disabled"
VIEW_INCOMING = "view-incoming"  # an incoming transfer's context shown on the live console
ACCEPT_ON_SCREEN = "accept-on-screen"
DECLINE_ON_SCREEN = "decline-on-screen"
FEEDBACK = "feedback"
AGENT_ADDED = "agent-added"
AGENT_REMOVED = "agent-removed"
AGENT_STATUS = "agent-status"  # presence set by hand (console or CLI)
AGENT_QUEUES = "agent-queues"


def record(session: Session, actor: str, action: str, target: str | None = None,
           **detail: Any) -> AuditEntry:
    """Add an entry to the trail (committed with the caller's transaction)."""
    entry = AuditEntry(at=utcnow(), actor=actor, action=action, target=target, detail=detail)
    session.add(entry)
    return entry


def entries(session: Session, *, action: str | None = None, target: str | None = None,
            limit: int = 200) -> list[AuditEntry]:
    """The newest entries first, optionally only one action or target."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    return list(session.scalars(query))


def count_since(session: Session, action: str, target: str, since: datetime) -> int:
    """How many `action` entries about `target` were written after `since`."""
    query = (select(func.count()).select_from(AuditEntry)
             .where(AuditEntry.action == action, AuditEntry.target == target,
                    AuditEntry.at >= since))
    return int(session.scalar(query) or 0)


def delete_before(session: Session, cutoff: datetime) -> int:
    """Remove entries older than `cutoff` (the audit retention period); returns how many."""
    # DML returns a CursorResult, which has the row count; Session.execute is typed Result
    result = cast(CursorResult[Any],
                  session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff)))
    return int(result.rowcount or 0)
