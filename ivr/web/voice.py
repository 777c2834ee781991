"""Twilio voice webhooks. Thin: read the form, call the use case, answer TwiML.

Every route checks `X-Twilio-Signature` (403 when wrong), then the call SID in its path (400
when malformed), and answers TwiML with status 200 whatever happens inside; when in doubt the
caller goes to a person.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from flask import Blueprint, Response, abort, request, url_for

from ivr.app.after_call import AfterCall
from ivr.app.contract import AgentLeg, Fallback, Inbound, Reply
from ivr.dialog import Listen, lines
from ivr.streams import token
from ivr.telephony import conference, twiml
from ivr.telephony.media_streams import stream_url
from ivr.telephony.signature import is_signed_by_twilio
from ivr.web.context import calls, handoff, prompt_library, settings

log = logging.getLogger(__name__)

voice = Blueprint("voice", __name__, url_prefix="/voice")

CALL_SID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")
MAX_TEXT = 2000
XML = "text/xml; charset=utf-8"
T = TypeVar("T")


@voice.before_request
def check_twilio_signature() -> None:
    config = settings()
    if not config.validate_signatures:
        log.warning("signature check skipped (IVR_VALIDATE_SIGNATURES=false)")
        return
    url = config.public_url + request.full_path.rstrip("?")
    params = request.form.to_dict() if request.method == "POST" else {}
    if not is_signed_by_twilio(config.auth_token, url, params,
                               request.headers.get("X-Twilio-Signature")):
        log.warning("refused a request with a missing or wrong Twilio signature on %s",
                    request.path)
        abort(403)


@voice.before_request
def check_call_sid() -> None:
    # Here rather than in a URL converter: a converter's error comes at routing, before the
    # signature check, and an unsigned request must be refused (403) whatever its path says.
    call_sid = (request.view_args or {}).get("call_sid")
    if call_sid is not None and not CALL_SID.match(call_sid):
        abort(400, "not a call SID")


@voice.post("/incoming")
def incoming() -> Response:
    inbound = replace(_inbound(with_speech=False), flow=request.args.get("flow"))
    if settings().asr != "twilio":
        return _stream_answer(inbound)
    return _answer(inbound, lambda: calls().start(inbound))


@voice.post("/continue")
def continue_call() -> Response:
    """Twilio comes here when we close a call's media stream: the bot has handed the call to
    a person or ended it (or the stream broke, and the call goes on with Twilio's speech)."""
    inbound = _inbound(with_speech=False)
    return _answer(inbound, lambda: calls().start(inbound))


def _stream_answer(inbound: Inbound) -> Response:
    """Self-hosted speech: connect the call's audio to our WebSocket."""
    parameters = {"token": token.issue(settings().secret, inbound.call_sid)}
    if inbound.caller:
        parameters["caller"] = inbound.caller
    if inbound.called:
        parameters["called"] = inbound.called
    if inbound.flow:
        parameters["flow"] = inbound.flow
    return _twiml(twiml.connect_stream(stream_url(settings().public_url), parameters,
                                       _url("/voice/continue")))


@voice.post("/turn")
def turn() -> Response:
    inbound = _inbound(with_speech=True)
    return _answer(inbound, lambda: calls().turn(inbound))


@voice.post("/fallback")
def fallback() -> Response:
    """Twilio could not use our answer (or reach us): get the caller to a person."""
    inbound = _inbound(with_speech=False, require_sid=False)
    if not inbound.call_sid:
        return _twiml(_render(calls().blind_transfer(), "unknown"))
    return _answer(inbound, lambda: calls().fault(inbound, "Twilio reported a webhook error"))


@voice.post("/status")
def status() -> Response:
    inbound = _inbound(with_speech=False)
    known = _safely("could not record a call status", False, lambda: handoff().call_ended(
        inbound.call_sid, _field("CallStatus", 32), _field("CallDuration", 12)))
    return Response(status=204 if known else 200)


@voice.post("/whisper/<call_sid>")
def whisper(call_sid: str) -> Response:
    """Played to the agent before the bridge: the summary, then 1 to accept."""
    voice_settings = twiml.Voice()
    accept_url = _url(f"/voice/whisper/{call_sid}")
    timeout = settings().transfer.whisper_timeout_seconds
    digits = _digits()
    try:
        if digits:
            choice = handoff().agent_pressed(call_sid, digits)
            if choice == "accept" and handoff().transfer_mode(call_sid) == "conference":
                return _twiml(conference.agent_joins(call_sid))
            if choice == "accept":
                return _twiml(twiml.connect_agent(voice_settings))
            if choice == "decline":
                return _twiml(twiml.say_and_hang_up(lines.AGENT_DECLINED, voice_settings))
        agent_call_sid = _field("CallSid", 64)  # the agent's leg: accept/decline on screen
        summary = handoff().whisper_text(
            call_sid, agent_call_sid if CALL_SID.match(agent_call_sid) else None)
    except Exception as error:
        log.error("whisper failed: %s", type(error).__name__)
        summary = lines.SUMMARY_NOT_LOADED
    return _twiml(twiml.whisper(summary, accept_url, voice=voice_settings, timeout=timeout))


@voice.post("/dial-result/<call_sid>")
def dial_result(call_sid: str) -> Response:
    """Twilio's <Dial action>: the agent leg is over; try the next agent or the fallback."""
    reply = _safely("dial result failed", None, lambda: handoff().dial_finished(
        call_sid, _field("DialCallStatus", 32), caller=_field("From", 64) or None))
    if reply is None:
        return _twiml(_render_handover_only(Reply([], leg=calls().policy.fallback()), call_sid))
    return _twiml(_render_after_call(reply, call_sid))


@voice.post("/hold/<call_sid>")
def hold(call_sid: str) -> Response:
    """The conference's wait URL: an update for the caller holding, then music (Twilio asks
    again when it ends)."""
    update = _safely("hold update failed", "", lambda: handoff().hold_update(call_sid))
    music = _url(url_for("static", filename="hold-music.wav"))
    recorded = _play_url(update) if update and settings().tts == "pyttsx3" else None
    plays = ((update, recorded),) if recorded else ()
    return _twiml(conference.hold(update, music, twiml.Voice(), plays))


@voice.post("/agent-status/<call_sid>")
def agent_status(call_sid: str) -> Response:
    """Status callback of an agent's leg rung for a conference transfer."""
    _safely("agent leg status failed", None, lambda: handoff().conference_leg_ended(
        call_sid, _field("CallSid", 64), _field("CallStatus", 32),
        called=_field("From", 64) or None))
    return _twiml(twiml.empty())


@voice.post("/conference-fallback/<call_sid>")
def conference_fallback(call_sid: str) -> Response:
    """Where a caller holding in a conference goes when no agent took the call."""
    return _twiml(_render_handover_only(Reply([], leg=calls().policy.fallback()), call_sid))


@voice.post("/recording/<call_sid>")
def recording_status(call_sid: str) -> Response:
    """Twilio's recording status callback: copy the voicemail (encrypted), delete it there."""
    if _field("RecordingStatus", 16) == "completed":
        _safely("voicemail recording not processed", None, lambda: handoff().recording_completed(
            call_sid, _field("RecordingSid", 64), _field("RecordingDuration", 8)))
    return _twiml(twiml.empty())


@voice.post("/voicemail/<call_sid>")
def voicemail(call_sid: str) -> Response:
    reply = _safely("voicemail record failed", None, lambda: handoff().voicemail_saved(
        call_sid, _field("RecordingSid", 64) or None))
    if reply is None:
        return _twiml(twiml.say_and_hang_up(lines.VOICEMAIL_FAILED, twiml.Voice()))
    return _twiml(_render(reply, call_sid))


@voice.post("/survey/<call_sid>")
def survey(call_sid: str) -> Response:
    """The caller's key after the survey question (`?attempt=2`: it was asked again)."""
    attempt = 2 if request.args.get("attempt") == "2" else 1

    def answered() -> str:
        reply = _after_call().survey_answered(call_sid, _digits(), attempt=attempt)
        return _render_after_call(reply, call_sid, attempt=attempt + 1)

    body = _safely("survey answer failed", None, answered)
    if body is None:
        return _twiml(twiml.say_and_hang_up(lines.DEFAULT_GOODBYE, twiml.Voice()))
    return _twiml(body)


def _safely(failure: str, fallback: T, work: Callable[[], T]) -> T:
    """`work()`, or `fallback` when it raises: a webhook answers Twilio whatever happens. The
    log names the error's type only, since its text may hold what a caller said."""
    try:
        return work()
    except Exception as error:
        log.error("%s: %s", failure, type(error).__name__)
        return fallback


def _after_call() -> AfterCall:
    return AfterCall(calls().settings, calls().flows)


def _render_after_call(reply: Reply, call_sid: str, *, attempt: int = 1) -> str:
    """An answer once the agent has left. A survey question takes one key to
    `/voice/survey/<call_sid>`; other answers render as usual."""
    if not any(isinstance(directive, Listen) for directive in reply.directives):
        return _render(reply, call_sid)
    action = _url(f"/voice/survey/{call_sid}") + (f"?attempt={attempt}" if attempt > 1 else "")
    return twiml.keypad_question(
        reply.directives, action, twiml.Voice(reply.voice, reply.language),
        play_url=_play_url if settings().tts == "pyttsx3" else None)


def _answer(inbound: Inbound, handle: Callable[[], Reply]) -> Response:
    try:
        reply = handle()
    except Exception as error:
        log.error("call %s: turn failed (%s); transferring to a person", inbound.call_sid,
                  type(error).__name__)
        reply = calls().fault(inbound, "the server failed while handling the turn")
    try:
        return _twiml(_render(reply, inbound.call_sid))
    except Exception as error:
        log.error("call %s: rendering failed (%s)", inbound.call_sid, type(error).__name__)
        leg = calls().policy.first_leg(None)
        target = leg.target if isinstance(leg, AgentLeg) else leg.number
        return _twiml(twiml.last_resort(target))


def _render(reply: Reply, call_sid: str) -> str:
    return twiml.render(
        reply.directives,
        voice=twiml.Voice(reply.voice, reply.language),
        turn_url=_url("/voice/turn"),
        handover=_plan(reply.leg, call_sid),
        play_url=_play_url if settings().tts == "pyttsx3" else None,
    )


def _play_url(text: str) -> str | None:
    """Where Twilio fetches the pre-rendered recording of `text`. Without one, the text is
    rendered in the background (never on this thread) for the next time it is said."""
    library = prompt_library()
    key = library.served_key(text)
    if key is None:
        library.render_later(text)
        return None
    return _url(f"/prompts/{key}.wav")


def _render_handover_only(reply: Reply, call_sid: str) -> str:
    response = twiml.VoiceResponse()
    twiml.append_handover(response, _plan(reply.leg, call_sid), twiml.Voice())
    return str(response)


def _plan(leg: AgentLeg | Fallback | None, call_sid: str) -> twiml.HandoverPlan | None:
    config = settings()
    match leg:
        case AgentLeg(mode="conference"):
            return twiml.ConferencePlan(
                intro=leg.intro,
                room=conference.room(call_sid),
                wait_url=_url(f"/voice/hold/{call_sid}"),
                action_url=_url(f"/voice/dial-result/{call_sid}"),
            )
        case AgentLeg():
            return twiml.DialPlan(
                intro=leg.intro,
                target=leg.target,
                whisper_url=_url(f"/voice/whisper/{call_sid}"),
                action_url=_url(f"/voice/dial-result/{call_sid}"),
                ring_seconds=leg.ring_seconds,
                caller_id=config.transfer.caller_id,
            )
        case Fallback(kind="number", number=str() as number):
            return twiml.BackupPlan(leg.intro, number, _url(f"/voice/dial-result/{call_sid}"))
        case Fallback(kind="busy"):
            return twiml.BusyPlan(leg.intro)
        case Fallback():
            return twiml.VoicemailPlan(leg.intro, _url(f"/voice/voicemail/{call_sid}"),
                                       _url(f"/voice/recording/{call_sid}"))
    return None


def _inbound(*, with_speech: bool, require_sid: bool = True) -> Inbound:
    call_sid = _field("CallSid", 64)
    if require_sid and not CALL_SID.match(call_sid):
        abort(400, "CallSid is missing or malformed: this is not a Twilio voice webhook")
    if not CALL_SID.match(call_sid):
        call_sid = ""
    caller, called = _field("From", 64) or None, _field("To", 64) or None
    if not with_speech:
        return Inbound(call_sid, caller, called=called)
    return Inbound(call_sid, caller, text=_field("SpeechResult", MAX_TEXT), digits=_digits(),
                   confidence=_confidence(), called=called)


def _field(name: str, limit: int) -> str:
    return request.form.get(name, "", type=str)[:limit].strip()


def _digits() -> str:
    return re.sub(r"[^0-9*#]", "", _field("Digits", 64))


def _confidence() -> float | None:
    raw = _field("Confidence", 32)
    try:
        value = float(raw)
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return min(1.0, max(0.0, value))


def _url(path: str) -> str:
    return settings().public_url + path


def _twiml(body: str) -> Response:
    return Response(body, status=200, mimetype="text/xml", content_type=XML)
