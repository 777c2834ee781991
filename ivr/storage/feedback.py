"""Agents' verdicts on the bot's work for a transfer: at most one per agent per transfer (a
second verdict updates the first). The free-text correction is stored encrypted; the caller
of `save` redacts it first."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.storage.models import Feedback, Transfer, utcnow


def of(session: Session, transfer_ids: list[int], username: str) -> dict[int, Feedback]:
    """This user's feedback on these transfers, by transfer id."""
    if not transfer_ids:
        return {}
    query = (select(Feedback).where(Feedback.transfer_id.in_(transfer_ids),
                                    Feedback.username == username).order_by(Feedback.id))
    return {feedback.transfer_id: feedback for feedback in session.scalars(query)}


def save(session: Session, transfer: Transfer, username: str, *, intent_correct: bool | None,
         summary_correct: bool | None, corrected_intent: str | None,
         correction: str | None) -> bool:
    """Record or replace `username`'s feedback on `transfer`; True when it is new.

    The transfer's row is locked first (PostgreSQL; on SQLite open the session with
    `write_lock=True`), so two quick submits of the same form leave one row, not two."""
    session.scalars(select(Transfer.id).where(Transfer.id == transfer.id).with_for_update()).all()
    feedback = of(session, [transfer.id], username).get(transfer.id)
    new = feedback is None
    if feedback is None:
        feedback = Feedback(transfer_id=transfer.id, username=username)
        session.add(feedback)
    feedback.intent_correct = intent_correct
    feedback.summary_correct = summary_correct
    feedback.corrected_intent = corrected_intent
    feedback.correction = correction
    feedback.created_at = utcnow()
    return new
