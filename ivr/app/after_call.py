"""After the agent's part of a transferred call: the confirmation text and the one-question
satisfaction survey, as the flow's `after_transfer:` asks.

`AfterCall.agent_leg_ended` is where a transfer goes once the agent has left (the `<Dial
action>` of an accepted transfer, or the end of its conference); `survey_answered` takes the
caller's key. Neither raises: the caller has been helped, so whatever fails here, they hear
goodbye and are never put back in a queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from ivr.app.contract import Reply
from ivr.config import Settings
from ivr.dialog import Flow, Hangup, Listen, Say
from ivr.dialog.lines import DEFAULT_GOODBYE, SURVEY_AGAIN, SURVEY_QUESTION, SURVEY_THANKS
from ivr.privacy.pseudonyms import textable_number
from ivr.storage import repository, surveys
from ivr.storage.db import session_scope
from ivr.storage.models import utcnow
from ivr.telephony.sms import send_sms

log = logging.getLogger(__name__)

SURVEY_TIMEOUT_SECONDS = 6
SURVEY_ASKS = 2
"""The question, and once more after a key that is not a score."""
SCORES = frozenset("12345")
REFERENCE_CHARS = 6

Confirmation = Literal["sent", "already-sent", "no-sender", "withheld", "failed"]


def call_reference(call_sid: str) -> str:
    """A short reference a caller can quote: the last characters of the call SID, upper-cased.
    It names the call, not the caller."""
    return call_sid[-REFERENCE_CHARS:].upper()


def confirmation_text(template: str, call_sid: str, business: str) -> str:
    """The flow's `sms_confirmation` with its placeholders filled (the schema allows no others)."""
    return template.format(reference=call_reference(call_sid), business=business)


class AfterCall:
    """The confirmation text and the survey of calls on the database at `settings.database_url`."""

    def __init__(self, settings: Settings, flows: dict[str, Flow], *,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.flows = flows
        self.clock = clock
        self.url = settings.database_url

    def agent_leg_ended(self, call_sid: str, caller: str | None) -> Reply:
        """The agent of an accepted transfer has left; the caller may still be on the line.
        Send the flow's confirmation text (once per call), then ask the survey question, or
        hang up when the flow has no survey or it was answered.

        `caller` is the caller's number from the same Twilio request: the text goes to it, and
        it is not kept."""
        try:
            with session_scope(self.url) as session:
                call = repository.get_call(session, call_sid)
                if call is None:
                    return Reply([Hangup()])
                flow, answered = self._flow(call.flow), call.survey_at is not None
            plan = flow.after_transfer
            if plan.sms_confirmation:
                self.send_confirmation(call_sid, caller, plan.sms_confirmation)
            if plan.survey and not answered:
                return _ask(flow, SURVEY_QUESTION)
            return Reply([Hangup()], flow.settings.language, flow.settings.voice)
        except Exception as error:
            log.error("call %s: after-call step failed (%s); hanging up", call_sid,
                      type(error).__name__)
            return Reply([Hangup()])

    def survey_answered(self, call_sid: str, digits: str, *, attempt: int = 1) -> Reply:
        """The caller's key after the survey question was asked `attempt` times. 1-5 is stored
        (the first answer of the call counts); another key asks once more; none is a no, and
        nothing is stored."""
        try:
            with session_scope(self.url, write_lock=True) as session:
                flow = self._survey_flow(session, call_sid)
                if flow is None or not digits:
                    return _goodbye(flow)
                if digits in SCORES:
                    if surveys.record_score(session, call_sid, int(digits), self.clock()):
                        log.info("call %s: survey answered", call_sid)
                    return Reply([Say(SURVEY_THANKS), Hangup()], flow.settings.language,
                                 flow.settings.voice)
            if attempt < SURVEY_ASKS:
                return _ask(flow, SURVEY_AGAIN)
            return _goodbye(flow)
        except Exception as error:
            log.error("call %s: survey answer not recorded (%s)", call_sid,
                      type(error).__name__)
            return _goodbye(None)

    def send_confirmation(self, call_sid: str, caller: str | None,
                          template: str) -> Confirmation:
        """Text the filled `template` to `caller` unless this call's text went already. Only
        Twilio's message SID is stored; a failed send stores nothing."""
        settings = self.settings
        if not settings.sms_from:
            log.info("call %s: no confirmation text: no SMS sender number is configured "
                     "(sms_from)", call_sid)
            return "no-sender"
        to = textable_number(caller)
        if to is None:
            log.info("call %s: no confirmation text: the caller's number is withheld",
                     call_sid)
            return "withheld"
        with session_scope(self.url) as session:
            if not surveys.claim_confirmation(session, call_sid):
                return "already-sent"
        # The send happens outside any transaction: no database lock waits on Twilio.
        message_sid = send_sms(settings.twilio_account_sid, settings.auth_token,
                               sender=settings.sms_from, to=to,
                               body=confirmation_text(template, call_sid,
                                                      settings.business.name))
        with session_scope(self.url) as session:
            surveys.confirmation_sent(session, call_sid, message_sid)
        if message_sid is None:
            log.warning("call %s: the confirmation text was not sent", call_sid)
            return "failed"
        log.info("call %s: confirmation text queued as %s", call_sid, message_sid)
        return "sent"

    def _survey_flow(self, session: Session, call_sid: str) -> Flow | None:
        """The call's flow when a survey answer is expected: the flow has a survey and a
        person took the call."""
        call = repository.get_call(session, call_sid)
        if call is None:
            return None
        flow = self._flow(call.flow)
        transfer = repository.latest_transfer(session, call)
        if not flow.after_transfer.survey or transfer is None or transfer.answered_at is None:
            return None
        return flow

    def _flow(self, name: str) -> Flow:
        return self.flows.get(name) or self.flows[self.settings.default_flow]


def _ask(flow: Flow, question: str) -> Reply:
    """The survey question: one key, and goodbye when none comes."""
    listen = Listen(speech=False, keys=True, max_digits=1,
                    timeout_seconds=SURVEY_TIMEOUT_SECONDS, language=flow.settings.language)
    return Reply([Say(question, barge_in=True), listen, Say(DEFAULT_GOODBYE), Hangup()],
                 flow.settings.language, flow.settings.voice)


def _goodbye(flow: Flow | None) -> Reply:
    if flow is None:
        return Reply([Say(DEFAULT_GOODBYE), Hangup()])
    return Reply([Say(DEFAULT_GOODBYE), Hangup()], flow.settings.language, flow.settings.voice)
