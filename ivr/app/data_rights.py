"""Retention and callers' rights: purge old data, forget a caller, export a caller's data.

Callers are found by the pseudonym of their number (`ivr.privacy.pseudonyms`), since numbers
are never stored. Every operation writes its audit entry in the same transaction as the change.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.config import Settings
from ivr.privacy.pseudonyms import is_phone_number, pseudonymise
from ivr.storage import audit, callers, rekey
from ivr.storage.db import session_scope
from ivr.storage.models import Call


class NotAPhoneNumber(ValueError):
    """The number given cannot be read as a phone number."""


@dataclass(frozen=True)
class PurgeResult:
    calls: int
    audit_entries: int
    calls_cutoff: datetime
    audit_cutoff: datetime


class DataRights:
    """Operations on stored call data for one deployment (`settings.database_url`)."""

    def __init__(self, settings: Settings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.settings = settings
        self.url = settings.database_url
        self.clock = clock

    def pseudonym(self, number: str) -> str:
        """The stored pseudonym of a phone number in any common format."""
        if not is_phone_number(number):
            raise NotAPhoneNumber(f"{number!r} is not a phone number; give it in E.164 form, "
                                  "for example +15551234567")
        found = pseudonymise(number, self.settings.secret)
        assert found is not None
        return found

    def purge(self, actor: str, *, dry_run: bool = False) -> PurgeResult:
        """Delete calls older than the retention period, and audit entries older than theirs."""
        now = self.clock()
        calls_cutoff = now - timedelta(days=self.settings.retention_days)
        audit_cutoff = now - timedelta(days=self.settings.privacy.audit_retention_days)
        with session_scope(self.url) as session:
            if dry_run:
                from sqlalchemy import func, select

                from ivr.storage.models import AuditEntry

                calls = session.scalar(select(func.count()).select_from(Call)
                                       .where(Call.started_at < calls_cutoff)) or 0
                entries = session.scalar(select(func.count()).select_from(AuditEntry)
                                         .where(AuditEntry.at < audit_cutoff)) or 0
                session.rollback()
                return PurgeResult(int(calls), int(entries), calls_cutoff, audit_cutoff)
            calls = callers.delete_calls_started_before(session, calls_cutoff)
            entries = audit.delete_before(session, audit_cutoff)
            audit.record(session, actor, audit.PURGE, None, calls=calls, audit_entries=entries,
                         retention_days=self.settings.retention_days)
        return PurgeResult(calls, entries, calls_cutoff, audit_cutoff)

    def forget(self, number: str, actor: str) -> int:
        """Delete every call (with its turns and transfers) of the caller; returns how many."""
        pseudonym = self.pseudonym(number)
        with session_scope(self.url) as session:
            deleted = callers.delete_calls_of_caller(session, pseudonym)
            audit.record(session, actor, audit.FORGET_CALLER, pseudonym, calls=deleted)
        return deleted

    def export(self, number: str, actor: str) -> dict[str, Any]:
        """Everything stored about the caller, as JSON-ready data (portability)."""
        pseudonym = self.pseudonym(number)
        with session_scope(self.url) as session:
            calls = [_call_data(call) for call in callers.calls_of_caller(session, pseudonym)]
            audit.record(session, actor, audit.EXPORT_CALLER, pseudonym, calls=len(calls))
        return {
            "caller_pseudonym": pseudonym,
            "exported_at": self.clock().isoformat(),
            "note": "Transcripts were redacted before they were stored; the phone number "
                    "itself is not stored, only this pseudonym.",
            "calls": calls,
        }

    def rotate_keys(self, actor: str) -> dict[str, int]:
        """Re-encrypt all stored data with the newest key of IVR_ENCRYPTION_KEYS."""
        with session_scope(self.url) as session:
            changed = rekey.rotate_all(session)
            audit.record(session, actor, audit.ROTATE_KEYS, None, values=sum(changed.values()))
        return changed


def _call_data(call: Call) -> dict[str, Any]:
    return {
        "call_sid": call.call_sid,
        "flow": call.flow,
        "status": call.status,
        "started_at": call.started_at.isoformat(),
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration_seconds": call.duration_seconds,
        "survey_score": call.survey_score,
        "slots": call.state.get("slots", {}),
        "turns": [
            {"seq": turn.seq, "at": turn.created_at.isoformat(), "kind": turn.kind,
             "heard": turn.heard, "digits": turn.digits, "intent": turn.intent,
             "action": turn.action, "bot_said": turn.reply}
            for turn in call.turns
        ],
        "transfers": [
            {"at": transfer.created_at.isoformat(), "reason": transfer.reason,
             "outcome": transfer.outcome, "summary": transfer.summary}
            for transfer in call.transfers
        ],
        "voicemails": [
            {"received_at": voicemail.received_at.isoformat(),
             "duration_seconds": voicemail.duration_seconds,
             "media_type": voicemail.media_type,
             "audio_base64": base64.b64encode(voicemail.audio).decode("ascii")}
            for voicemail in call.voicemails
        ],
    }
