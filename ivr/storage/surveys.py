"""What a call leaves after the agent's part: the caller's survey answer, the SID of the
confirmation text, and the survey figures. Each write happens at most once per call."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from ivr.storage.models import Call

SENDING = "sending"
"""`confirmation_sms_sid` while the text is on its way: the claim that stops a second send."""


def record_score(session: Session, call_sid: str, score: int, at: datetime) -> bool:
    """Store the caller's answer; False when the call already has one (or is unknown)."""
    if not 1 <= score <= 5:
        raise ValueError("a survey score is 1 to 5")
    done = cast(CursorResult[Any], session.execute(  # DML: Session.execute is typed Result
        update(Call).where(Call.call_sid == call_sid, Call.survey_at.is_(None))
        .values(survey_score=score, survey_at=at)
        .execution_options(synchronize_session=False)))
    return bool(done.rowcount)


def claim_confirmation(session: Session, call_sid: str) -> bool:
    """Mark the call's confirmation text as being sent; False when it was sent (or is being
    sent) already. Atomic, so two deliveries of the same callback send one text."""
    done = cast(CursorResult[Any], session.execute(  # DML: Session.execute is typed Result
        update(Call).where(Call.call_sid == call_sid, Call.confirmation_sms_sid.is_(None))
        .values(confirmation_sms_sid=SENDING)
        .execution_options(synchronize_session=False)))
    return bool(done.rowcount)


def confirmation_sent(session: Session, call_sid: str, message_sid: str | None) -> None:
    """Settle a claim: Twilio's message SID, or (None: nothing was sent) no claim at all."""
    session.execute(
        update(Call).where(Call.call_sid == call_sid, Call.confirmation_sms_sid == SENDING)
        .values(confirmation_sms_sid=message_sid)
        .execution_options(synchronize_session=False))


def survey_figures(session: Session, since: datetime | None = None) -> dict[str, Any]:
    """How many callers answered the survey (since `since`) and their average score (None
    without answers). Counts only."""
    query = select(func.count(Call.survey_score), func.avg(Call.survey_score)).where(
        Call.survey_score.is_not(None))
    if since is not None:
        query = query.where(Call.survey_at >= since)
    row: tuple[int, Decimal | float | None] = session.execute(query).one()
    responses, average = row
    return {"survey_responses": int(responses or 0),
            "survey_average_score": round(float(average), 2) if average is not None else None}
