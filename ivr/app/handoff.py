"""The hand-over to a person after the bot decided to transfer: whisper, accept, next agent,
fallback, and how the call ended. State lives in the `transfers` table (`ivr.storage.transfers`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.orm import Session

from ivr.app.after_call import AfterCall
from ivr.app.contract import AgentLeg, Fallback, Reply
from ivr.app.routing import Router
from ivr.app.transfer_policy import TransferPolicy
from ivr.config import Settings
from ivr.dialog import Flow, Hangup, Say, Transfer, lines
from ivr.storage import repository, transfers
from ivr.storage.db import session_scope
from ivr.storage.models import Transfer as TransferRow
from ivr.storage.models import as_utc, utcnow
from ivr.telephony import agent_leg, conference, recordings
from ivr.telephony.rest import TwilioUnavailable

log = logging.getLogger(__name__)

AgentChoice = Literal["accept", "replay", "decline"]
FINAL_CALL_STATUSES = {"completed", "busy", "failed", "no-answer", "canceled"}
HOLD_FIRST_SECONDS = 40
ScreenResult = Literal["accepted", "declined", "not-ringing-you", "no-agent-leg",
                       "twilio-error"]


@dataclass(frozen=True)
class ScreenAnswer:
    """What came of an agent's accept or decline in the console; Twilio's HTTP status and
    error code when it refused."""

    result: ScreenResult
    http_status: int | None = None
    code: int | None = None


class HandoffService:
    """Operates the transfer legs of calls the bot handed to a person."""

    def __init__(self, settings: Settings, flows: dict[str, Flow], policy: TransferPolicy):
        self.settings = settings
        self.flows = flows
        self.policy = policy
        self.url = settings.database_url

    def whisper_text(self, call_sid: str, agent_call_sid: str | None = None) -> str:
        """The spoken summary for the agent about to take this call.

        `agent_call_sid` is the agent's leg asking for it (the `CallSid` of Twilio's whisper
        request); it is kept on the ringing transfer, so that the agent can accept or decline
        on screen (`answer_on_screen`)."""
        keep = bool(agent_call_sid) and agent_call_sid != call_sid
        with session_scope(self.url, write_lock=keep) as session:
            transfer = self._transfer(session, call_sid, lock=keep)
            if transfer is None:
                return lines.NO_SUMMARY
            if keep and transfer.outcome == "ringing":
                transfer.agent_call_sid = agent_call_sid
            return transfer.spoken_summary or lines.NO_SUMMARY

    def answer_on_screen(self, call_sid: str, agent_target: str,
                         choice: Literal["accept", "decline"]) -> ScreenAnswer:
        """The agent at `agent_target` took or passed the call in the console rather than on
        the keypad. Recorded exactly as the keys 1 and 2 are (`agent_pressed`); the agent's
        leg is bridged (or joins the conference) or hung up through Twilio's REST API. When
        Twilio refuses, nothing is recorded and the whisper goes on, so the keypad still
        works."""
        with session_scope(self.url) as session:
            transfer = self._transfer(session, call_sid)
            if (transfer is None or transfer.outcome != "ringing"
                    or transfers.current_target(transfer) != agent_target):
                return ScreenAnswer("not-ringing-you")
            leg, attempt, mode = transfer.agent_call_sid, transfer.attempt, transfer.mode
        settings = self.settings
        account, token = settings.twilio_account_sid, settings.auth_token
        try:
            conferenced = mode == "conference"  # its agent legs have no parent call
            parent = None if conferenced else call_sid
            if leg is None or not agent_leg.is_live_leg_of(account, token, leg, parent):
                return ScreenAnswer("no-agent-leg")
            if choice == "accept":
                agent_leg.bridge(account, token, leg,
                                 conference.agent_joins(call_sid) if conferenced else None)
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
        keys: dict[str, AgentChoice] = {"1": "accept", "9": "replay"}
        choice = keys.get(digits[:1], "decline")
        if choice == "replay":
            return choice
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if transfer is None:
                return choice
            if choice == "accept":  # a routed agent stays busy with the call
                transfer.outcome = "accepted"
                transfer.accepted_by = transfers.current_target(transfer)
                transfer.answered_at = utcnow()
                waited = transfer.answered_at - as_utc(transfer.created_at)
                transfers.record_attempt(transfer, "answered",
                                         seconds_to_answer=round(waited.total_seconds(), 1))
            else:
                transfers.record_attempt(transfer, "declined")
                if transfer.outcome == "ringing":
                    Router.of(self.policy).release(session, call_sid)
        return choice

    def dial_finished(self, call_sid: str, dial_status: str, caller: str | None = None) -> Reply:
        """Twilio's <Dial action>: the agent leg ended. Next agent, fallback, or goodbye (after
        an accepted transfer, what the flow's `after_transfer:` asks for, see `AfterCall`;
        `caller` is the request's `From`, used for the confirmation text and not kept).

        The next agent is the next configured target or, once there is none, the longest-idle
        available agent of the queue not yet tried on this transfer (reserved here)."""
        router = Router.of(self.policy)
        with session_scope(self.url, write_lock=True) as session:
            call = repository.get_call(session, call_sid)
            transfer = self._transfer(session, call_sid, lock=True)
            if call is None or transfer is None:
                return Reply([Say(lines.DEFAULT_GOODBYE), Hangup()])
            if transfer.outcome in ("accepted", "completed"):
                transfer.outcome = "completed"
                call.status = "completed-by-agent"
                router.call_over(session, call_sid)
                # Saved now: the call is done whatever comes next, and no database lock is held
                # while the confirmation text goes through Twilio.
                session.commit()
                return AfterCall(self.settings, self.flows).agent_leg_ended(
                    call_sid, caller)
            if transfer.outcome.startswith("fallback"):
                transfer.outcome = f"{transfer.outcome}-ended"
                return Reply([Hangup()])
            if transfer.outcome == "caller-abandoned":  # nobody is left to connect
                router.release(session, call_sid)
                return Reply([Hangup()])
            transfers.record_attempt(transfer, transfers.attempt_outcome(dial_status))
            router.release(session, call_sid)
            transfer.attempt += 1
            directive = Transfer(reason=transfer.reason, queue=transfer.queue,
                                 trigger=transfer.trigger)
            target = _next_target(session, transfer, router, call_sid)
            if target is not None:
                return Reply([directive],
                             leg=AgentLeg(target, self.policy.ring_seconds(transfer.queue),
                                          lines.NEXT_AGENT_INTRO))
            fallback = self.policy.fallback()
            transfer.outcome = f"fallback-{fallback.kind}"
            log.info("call %s: no agent answered, fallback %s", call_sid, fallback.kind)
            return Reply([directive], leg=fallback)

    def voicemail_saved(self, call_sid: str, recording_sid: str | None) -> Reply:
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if transfer is not None:
                transfer.outcome = "voicemail" if recording_sid else "voicemail-empty"
                Router.of(self.policy).release(session, call_sid)  # none should be left; be sure
        return Reply([Say(lines.VOICEMAIL_SAVED), Hangup()])

    def recording_completed(self, call_sid: str, recording_sid: str, duration: str) -> str:
        """A voicemail recording is ready on Twilio: copy it here (encrypted), then delete it
        there. Returns what happened: stored, stored-not-deleted, deleted-unwanted, ignored."""
        settings = self.settings
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

        The agent who took the call goes to wrap-up; one still being rung is released (and in
        conference mode their ringing leg is hung up through the REST API)."""
        ringing_leg = None
        with session_scope(self.url, write_lock=True) as session:
            call = repository.call_for_update(session, call_sid)
            if call is None:
                return False
            if call_status in FINAL_CALL_STATUSES:
                call.ended_at = call.ended_at or utcnow()  # a repeated report moves nothing
                if duration and duration.isdigit():
                    call.duration_seconds = int(duration)
                if call.status in ("in-progress", "transferring"):
                    call.status = call_status
                transfer = repository.latest_transfer(session, call, lock=True)
                if transfer is not None and transfer.outcome == "ringing":
                    transfer.outcome = "caller-abandoned"
                    transfers.record_attempt(transfer, "caller-abandoned")
                    if transfer.mode == "conference" and transfer.agent_call_sid:
                        ringing_leg = transfer.agent_call_sid
                router = Router.of(self.policy)
                if transfer is not None and transfer.outcome in ("accepted", "completed"):
                    router.call_over(session, call_sid)
                else:
                    router.release(session, call_sid)
        if ringing_leg is not None:
            self._hang_up_agent_leg(ringing_leg)
        return True

    def _hang_up_agent_leg(self, leg_sid: str) -> None:
        """Cancel an agent's leg that still rings (or end it if it was just answered)."""
        settings = self.settings
        account, token = settings.twilio_account_sid, settings.auth_token
        try:
            conference.end_leg(account, token, leg_sid, ringing=True)
        except TwilioUnavailable:
            try:
                conference.end_leg(account, token, leg_sid, ringing=False)
            except TwilioUnavailable as error:
                log.warning("an agent's leg could not be hung up: %s", error)

    # Conference mode: the caller holds in a conference, agents are rung through the REST API.

    def ring_in_conference(self, call_sid: str, reply: Reply, *, called: str | None) -> Reply:
        """The caller is about to hold in the conference: ring the agent of `reply.leg`
        through Twilio's REST API (once: Twilio asking again for the call rings nobody twice).
        Twilio refusing counts as that agent failing; then the next, then the fallback."""
        leg = reply.leg
        if not isinstance(leg, AgentLeg) or leg.mode != "conference":
            return reply
        with session_scope(self.url) as session:
            transfer = self._transfer(session, call_sid)
            if transfer is None or (transfer.outcome == "ringing" and transfer.agent_call_sid):
                return reply
        following = self._ring_until_someone(call_sid, caller_id=self._caller_id(called))
        return replace(reply, leg=following)

    def conference_leg_ended(self, call_sid: str, agent_call_sid: str, call_status: str,
                             *, called: str | None = None) -> str:
        """The status callback of an agent's leg. When it ended without the agent joining,
        ring the next agent, or send the waiting caller to the fallback. Returns what
        happened: ignored, next-agent, fallback."""
        if call_status not in FINAL_CALL_STATUSES:
            return "ignored"
        router = Router.of(self.policy)
        with session_scope(self.url, write_lock=True) as session:
            transfer = self._transfer(session, call_sid, lock=True)
            if (transfer is None or transfer.mode != "conference"
                    or transfer.outcome != "ringing" or transfer.agent_call_sid != agent_call_sid):
                return "ignored"  # joined, abandoned, or an older leg
            transfers.record_attempt(transfer, transfers.attempt_outcome(call_status))
            router.release(session, call_sid)
            transfer.attempt += 1
            transfer.agent_call_sid = None
        following = self._ring_until_someone(call_sid, caller_id=self._caller_id(called))
        if isinstance(following, AgentLeg):
            return "next-agent"
        settings = self.settings
        try:
            conference.redirect(settings.twilio_account_sid, settings.auth_token, call_sid,
                                self._url(f"/voice/conference-fallback/{call_sid}"))
        except TwilioUnavailable as error:
            log.error("call %s: the waiting caller could not be sent to the fallback: %s",
                      call_sid, error)
        return "fallback"

    def hold_update(self, call_sid: str) -> str:
        """What a caller holding in the conference hears between the music."""
        with session_scope(self.url) as session:
            transfer = self._transfer(session, call_sid)
            waited = 0.0
            if transfer is not None:
                waited = (utcnow() - as_utc(transfer.created_at)).total_seconds()
        return lines.HOLD_FIRST if waited < HOLD_FIRST_SECONDS else lines.HOLD_LATER

    def transfer_mode(self, call_sid: str) -> str:
        with session_scope(self.url) as session:
            transfer = self._transfer(session, call_sid)
            return transfer.mode if transfer is not None else "dial"

    def _ring_until_someone(self, call_sid: str, *, caller_id: str | None) -> AgentLeg | Fallback:
        """Ring the transfer's current target, or the next ones while Twilio refuses to; the
        fallback when nobody is left. The agent's leg is stored on the transfer."""
        settings = self.settings
        router = Router.of(self.policy)
        while True:
            with session_scope(self.url, write_lock=True) as session:
                transfer = self._transfer(session, call_sid, lock=True)
                if transfer is None or transfer.outcome != "ringing":
                    return self.policy.fallback()
                target = _next_target(session, transfer, router, call_sid)
                if target is None:
                    fallback = self.policy.fallback()
                    transfer.outcome = f"fallback-{fallback.kind}"
                    return fallback
                queue = transfer.queue
            ring = self.policy.ring_seconds(queue)
            try:
                leg_sid = conference.ring_agent(
                    settings.twilio_account_sid, settings.auth_token, to=target,
                    from_=caller_id or target,
                    answer_url=self._url(f"/voice/whisper/{call_sid}"),
                    status_url=self._url(f"/voice/agent-status/{call_sid}"), ring_seconds=ring)
            except TwilioUnavailable as error:
                log.warning("call %s: an agent could not be rung: %s", call_sid, error)
                with session_scope(self.url, write_lock=True) as session:
                    transfer = self._transfer(session, call_sid, lock=True)
                    if transfer is None:
                        return self.policy.fallback()
                    transfers.record_attempt(transfer, "failed")
                    router.release(session, call_sid)
                    transfer.attempt += 1
                continue
            with session_scope(self.url, write_lock=True) as session:
                transfer = self._transfer(session, call_sid, lock=True)
                if transfer is not None:
                    transfer.agent_call_sid = leg_sid
            return AgentLeg(target, ring, lines.HANDOVER_INTRO, "conference")

    def _caller_id(self, called: str | None) -> str | None:
        """What agents see calling them: the configured caller ID, else the number the caller
        dialled (a number of this Twilio account)."""
        return self.settings.transfer.caller_id or called

    def _url(self, path: str) -> str:
        return self.settings.public_url + path

    def _transfer(self, session: Session, call_sid: str, *,
                  lock: bool = False) -> TransferRow | None:
        call = repository.get_call(session, call_sid)
        if call is None:
            return None
        return repository.latest_transfer(session, call, lock=lock)


def _next_target(session: Session, transfer: TransferRow, router: Router,
                 call_sid: str) -> str | None:
    """Who the transfer rings now: its current configured target, or else the longest-idle
    available agent of its queue not tried yet (reserved, and added to its targets)."""
    target = transfers.current_target(transfer)
    if target is None:
        target = router.reserve(session, transfer.queue, call_sid,
                                tried=[str(tried) for tried in transfer.targets]).target
        if target is not None:
            transfer.targets = [*transfer.targets, target]
    return target
