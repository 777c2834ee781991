"""Aggregate figures for supervisors: calls, containment, transfers, answer times, repeat calls,
and how agents rated the bot.

Counts only: nothing here returns a transcript, a call SID or a caller pseudonym.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ivr.storage.models import Call, Feedback, Transfer, as_utc

REPEAT_WINDOW = timedelta(days=7)
"""A call followed by another from the same caller within this window was not resolved."""


def call_figures(session: Session) -> dict[str, Any]:
    calls = int(session.scalar(select(func.count()).select_from(Call)) or 0)
    transferred = int(session.scalar(select(func.count(distinct(Transfer.call_id)))) or 0)

    def grouped(column: InstrumentedAttribute[str]) -> list[tuple[str, int]]:
        query = select(column, func.count()).group_by(column).order_by(func.count().desc(),
                                                                        column)
        return [(str(value), int(count)) for value, count in session.execute(query)]

    answered = session.execute(select(Transfer.created_at, Transfer.answered_at)
                               .where(Transfer.answered_at.is_not(None))).all()
    waits = [(as_utc(done) - as_utc(asked)).total_seconds() for asked, done in answered
             if done is not None]
    known, repeated = _repeat_calls(session)
    return {"calls": calls, "transferred": transferred, "by_bot": calls - transferred,
            "by_trigger": grouped(Transfer.trigger), "by_outcome": grouped(Transfer.outcome),
            "answered": len(waits),
            "median_answer_seconds": statistics.median(waits) if waits else None,
            "calls_with_caller_id": known, "called_again_within_7_days": repeated,
            "first_contact_resolution": (known - repeated) / known if known else None}


def _repeat_calls(session: Session) -> tuple[int, int]:
    """(calls with a caller pseudonym, those the same caller followed up within the window)."""
    rows = session.execute(select(Call.caller_hash, Call.started_at)
                           .where(Call.caller_hash.is_not(None))
                           .order_by(Call.caller_hash, Call.started_at)).all()
    repeated = sum(1 for (caller, started), (next_caller, next_started) in pairwise(rows)
                   if caller == next_caller
                   and as_utc(next_started) - as_utc(started) <= REPEAT_WINDOW)
    return len(rows), repeated



def feedback_figures(session: Session, *, top: int = 5) -> dict[str, Any]:
    """How agents rated the bot: share of accepted transfers with feedback, intent and summary
    accuracy (over the feedback that rated them), and the intents agents corrected to most."""
    accepted = int(session.scalar(select(func.count()).select_from(Transfer)
                                  .where(Transfer.accepted_by.is_not(None))) or 0)
    rated = int(session.scalar(
        select(func.count(distinct(Feedback.transfer_id))).join(
            Transfer, Transfer.id == Feedback.transfer_id)
        .where(Transfer.accepted_by.is_not(None))) or 0)

    def accuracy(column: InstrumentedAttribute[bool | None]) -> tuple[int, int]:
        rows = session.execute(select(column, func.count()).where(column.is_not(None))
                               .group_by(column)).all()
        counts = {bool(value): int(count) for value, count in rows}
        return counts.get(True, 0), counts.get(True, 0) + counts.get(False, 0)

    intent_right, intent_rated = accuracy(Feedback.intent_correct)
    summary_right, summary_rated = accuracy(Feedback.summary_correct)
    corrected = session.execute(
        select(Feedback.corrected_intent, func.count()).where(
            Feedback.corrected_intent.is_not(None))
        .group_by(Feedback.corrected_intent)
        .order_by(func.count().desc(), Feedback.corrected_intent).limit(top)).all()
    return {
        "accepted": accepted, "with_feedback": rated,
        "share_with_feedback": rated / accepted if accepted else None,
        "intent_right": intent_right, "intent_rated": intent_rated,
        "intent_accuracy": intent_right / intent_rated if intent_rated else None,
        "summary_right": summary_right, "summary_rated": summary_rated,
        "summary_accuracy": summary_right / summary_rated if summary_rated else None,
        "corrected_intents": [(str(name), int(count)) for name, count in corrected],
    }
