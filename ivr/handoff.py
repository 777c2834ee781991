"""The hand-over to a person after the bot decided to transfer: whisper, accept, next agent,
fallback, and how the call ended. State lives in the `transfers` table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from ivr.calls import NEXT_AGENT_INTRO, AgentLeg, CallService, Reply
from ivr.dialog import Hangup, Say, Transfer
from ivr.routing import Router
from ivr.storage import repository
from ivr.storage.db import session_scope
from ivr.storage.models import Transfer as TransferRow
from ivr.storage.models import utcnow
from ivr.telephony import agent_leg, recordings

log = logging.getLogger(__name__)

NO_SUMMARY = "No summary is available for this call."
AgentChoice = Literal["accept", "replay", "decline"]
FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
ScreenResult = Literal["accepted", "declined", "not-ringing-you", "no-agent-leg", "unsupported",
                       "twilio-error"]


@dataclass(frozen=True)
class ScreenAnswer:
    """What came of an agent's accept or decline in the console; Twilio's HTTP status and
    error code when it refused."""

    result: ScreenResult
    http_status: int | None = None
    code: int | None = None


class HandoffService:
    """Operates the transfer legs of calls handled by a `CallService`."""

    def __init__(self, calls: CallService):
        self.calls = calls
        self.url = calls.settings.database_url

    def whisper_text(self, call_sid: str, agent_call_sid: str | None = None) -> str:
        """The spoken summary for the agent about to take this call.

        `agent_call_sid` is the agent's leg asking for it (the `CallSid` of Twilio's whisper
        request); it is kept on the ringing transfer, so that the agent can accept or decline
        on screen (`answer_on_screen`)."""
        keep = bool(agent_call_sid) and agent_call_sid != call_sid
        with session_scope(self.url, write_lock=keep) as session:
            transfer = self._transfer(session, call_sid, lock=keep)
            if transfer is None:
                return NO_SUMMARY
            if keep and transfer.outcome == "ringing":
                transfer.agent_call_sid = agent_call_sid
            return transfer.spoken_summary or NO_SUMMARY

    def answer_on_screen(self, call_sid: str, agent_target: str,
                         choice: Literal["accept", "decline"]) -> ScreenAnswer:
        """The agent at `agent_target` took or passed the call in the console rather than on
        the keypad. Recorded exactly as the keys 1 and 2 are (`agent_pressed`); the agent's
        leg is bridged or hung up through Twilio's REST API. When Twilio refuses, nothing is
        recorded and the whisper goes on, so the keypad still works."""
        with session_scope(self.url) as session:
            transfer = self._transfer(session, call_sid)
            if (transfer is None or transfer.outcome != "ringing"
                    or _current_target(transfer) != agent_target):
                return ScreenAnswer("not-ringing-you")
            if transfer.mode != "dial":
                return ScreenAnswer("unsupported")
            leg, attempt = transfer.agent_call_sid, transfer.attempt
        settings = self.calls.settings
        account, token = settings.twilio_account_sid, settings.auth_token
        try:
            if leg is None or not agent_leg.is_live_leg_of(account, token, leg, call_sid):
                return ScreenAnswer("no-agent-leg")
            if choice == "accept":
                agent_leg.bridge(account, token, leg)
                self.agent_pressed(call_sid, "1")
                return ScreenAnswer("accepted")
            # Recorded before the leg ends: Twilio's <Dial action> may arrive at once, and the
            # decline must count for this agent, not the next one.
            self.agent_pressed(call_sid, "2")
            try:
                agent_leg.hang_up(account, token, leg)
            except agent_leg.AgentLegError:
                self._withdraw_decline(call_sid, attempt)
                raise
            return ScreenAnswer("declined")
        except agent_leg.AgentLegError as error:
            log.warning("call %s: on-screen %s failed: %s", call_sid, choice, error)
            return ScreenAnswer("twilio-error", error.http_status, error.code)

    def _withdraw_decline(self, call_sid: str, attempt: int) -> None:
        """Forget a decline that Twilio did not carry out: the agent's phone still rings."""
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if transfer is None or transfer.attempt != attempt or transfer.outcome != "ringing":
                return
            attempts = list(transfer.attempts or [])
            if attempts and attempts[-1].get("index") == attempt \
                    and attempts[-1].get("outcome") == "declined":
                transfer.attempts = attempts[:-1]

    def agent_pressed(self, call_sid: str, digits: str) -> AgentChoice:
        """The agent's key during the whisper: 1 takes the call, 9 repeats, anything else passes."""
        choice: AgentChoice = {"1": "accept", "9": "replay"}.get(digits[:1], "decline")
        if choice == "replay":
            return choice
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if transfer is None:
                return choice
            if choice == "accept":  # a routed agent stays busy with the call
                transfer.outcome = "accepted"
                transfer.accepted_by = _current_target(transfer)
                transfer.answered_at = utcnow()
            else:
                _record_attempt(transfer, "declined")
                if transfer.outcome == "ringing":
                    Router.of(self.calls).release(session, call_sid)
        return choice

    def dial_finished(self, call_sid: str, dial_status: str) -> Reply:
        """Twilio's <Dial action>: the agent leg ended. Next agent, fallback, or goodbye.

        The next agent is the next configured target or, once there is none, the longest-idle
        available agent of the queue not yet tried on this transfer (reserved here)."""
        router = Router.of(self.calls)
        with session_scope(self.url, write_lock=True) as session:
            call = repository.get_call(session, call_sid)
            transfer = self._transfer(session, call_sid, lock=True)
            if call is None or transfer is None:
                return Reply([Say("Thanks for calling. Goodbye."), Hangup()])
            if transfer.outcome in ("accepted", "completed"):
                transfer.outcome = "completed"
                call.status = "completed-by-agent"
                router.call_over(session, call_sid)
                return Reply([Hangup()])
            if transfer.outcome.startswith("fallback"):
                transfer.outcome = f"{transfer.outcome}-ended"
                return Reply([Hangup()])
            if transfer.outcome == "caller-abandoned":  # nobody is left to connect
                router.release(session, call_sid)
                return Reply([Hangup()])
            _record_attempt(transfer, _attempt_outcome(dial_status))
            router.release(session, call_sid)
            transfer.attempt += 1
            directive = Transfer(reason=transfer.reason, queue=transfer.queue,
                                 trigger=transfer.trigger)
            if transfer.attempt < len(transfer.targets):
                target = str(transfer.targets[transfer.attempt])
            else:
                target = router.reserve(session, transfer.queue, call_sid,
                                        tried=[str(tried) for tried in transfer.targets]).target
                if target is not None:
                    transfer.targets = [*transfer.targets, target]
            if target is not None:
                return Reply([directive],
                             leg=AgentLeg(target, self.calls.ring_seconds(transfer.queue),
                                          NEXT_AGENT_INTRO))
            fallback = self.calls.fallback()
            transfer.outcome = f"fallback-{fallback.kind}"
            log.info("call %s: no agent answered, fallback %s", call_sid, fallback.kind)
            return Reply([directive], leg=fallback)

    def voicemail_saved(self, call_sid: str, recording_sid: str | None) -> Reply:
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if transfer is not None:
                transfer.outcome = "voicemail" if recording_sid else "voicemail-empty"
                Router.of(self.calls).release(session, call_sid)  # none should be left; be sure
        return Reply([Say("Thank you. We've got your message and we'll call you back soon. "
                          "Goodbye."), Hangup()])

    def recording_completed(self, call_sid: str, recording_sid: str, duration: str) -> str:
        """A voicemail recording is ready on Twilio: copy it here (encrypted), then delete it
        there. Returns what happened: stored, stored-not-deleted, deleted-unwanted, ignored."""
        settings = self.calls.settings
        if not recordings.is_recording_sid(recording_sid):
            return "ignored"
        account, token = settings.twilio_account_sid, settings.auth_token
        with session_scope(self.url) as session:
            call = repository.get_call(session, call_sid)
            known = call is not None and settings.privacy.recordings
            if known and repository.voicemail_exists(session, recording_sid):
                return "ignored"  # Twilio retried a callback we already processed
        if not known:
            # Recordings are off, or the call is not ours: keep nothing, anywhere.
            recordings.delete_recording(account, token, recording_sid)
            return "deleted-unwanted"
        audio = recordings.fetch_audio(account, token, recording_sid)
        with session_scope(self.url) as session:
            call = repository.get_call(session, call_sid)
            assert call is not None
            voicemail = repository.add_voicemail(
                session, call, recording_sid, audio,
                int(duration) if duration.isdigit() else None)
        try:
            recordings.delete_recording(account, token, recording_sid)
        except recordings.RecordingError as error:
            log.error("voicemail %s copied but not deleted from Twilio: %s", recording_sid, error)
            return "stored-not-deleted"
        with session_scope(self.url) as session:
            repository.mark_voicemail_deleted(session, voicemail.id)
        return "stored"

    def call_ended(self, call_sid: str, call_status: str, duration: str | None) -> bool:
        """Twilio's status callback. Returns False for a call this server never saw.

        The agent who took the call goes to wrap-up; one still being rung is released."""
        with session_scope(self.url, write_lock=True) as session:
            call = repository.call_for_update(session, call_sid)
            if call is None:
                return False
            if call_status in FINAL_CALL_STATUSES:
                call.ended_at = utcnow()
                if duration and duration.isdigit():
                    call.duration_seconds = int(duration)
                if call.status in ("in-progress", "transferring"):
                    call.status = call_status
                transfer = repository.latest_transfer(session, call, lock=True)
                if transfer is not None and transfer.outcome == "ringing":
                    transfer.outcome = "caller-abandoned"
                router = Router.of(self.calls)
                if transfer is not None and transfer.outcome in ("accepted", "completed"):
                    router.call_over(session, call_sid)
                else:
                    router.release(session, call_sid)
            return True

    def _transfer(self, session, call_sid: str, *, lock: bool = False) -> TransferRow | None:  # type: ignore[no-untyped-def]
        call = repository.get_call(session, call_sid)
        if call is None:
            return None
        return repository.latest_transfer(session, call, lock=lock)


def _current_target(transfer: TransferRow) -> str | None:
    if transfer.attempt < len(transfer.targets):
        return str(transfer.targets[transfer.attempt])
    return None


def _record_attempt(transfer: TransferRow, outcome: str) -> None:
    """One entry per target tried; a decline seen in the whisper is not counted twice."""
    attempts = list(transfer.attempts or [])
    if attempts and attempts[-1].get("index") == transfer.attempt:
        return
    attempts.append({"index": transfer.attempt, "target": _current_target(transfer),
                     "outcome": outcome, "at": utcnow().isoformat()})
    transfer.attempts = attempts


def _attempt_outcome(dial_status: str) -> str:
    return {"busy": "busy", "no-answer": "no-answer", "failed": "failed",
            "canceled": "canceled"}.get(dial_status, "not-accepted")
