"""Directives and hand-over plans to TwiML, with Twilio's own builder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

from ivr.dialog.directives import Directive, Hangup, Listen, RunAction, Say, Transfer
from ivr.dialog.lines import LAST_RESORT, LAST_RESORT_NOBODY, NO_MESSAGE, NOBODY_AVAILABLE

MAX_SPEECH_CHARS = 4000  # Twilio <Say> limit

PlayUrl = Callable[[str], str | None]
"""The URL of a pre-rendered recording of a text, or None when there is none."""
Plays = tuple[tuple[str, str], ...]
"""(text, URL) pairs of the recordings one answer uses: hashable, so answers stay cached."""


@dataclass(frozen=True)
class Voice:
    """How <Say> speaks: a Twilio voice name (or None for the default) and a language."""

    name: str | None = None
    language: str = "en-US"


@dataclass(frozen=True)
class DialPlan:
    """Ring one agent with a whisper first; Twilio posts the outcome to `action_url`."""

    intro: str
    target: str
    whisper_url: str
    action_url: str
    ring_seconds: int = 20
    caller_id: str | None = None


@dataclass(frozen=True)
class VoicemailPlan:
    """Nobody answered: take a message and promise a call back."""

    intro: str
    action_url: str
    recording_status_url: str | None = None
    max_seconds: int = 120


@dataclass(frozen=True)
class ConferencePlan:
    """The caller holds in a conference named `room` (music and updates from `wait_url`)
    while the agent is rung through the REST API; `action_url` continues the call when the
    conference ends."""

    intro: str
    room: str
    wait_url: str
    action_url: str


@dataclass(frozen=True)
class BusyPlan:
    """Nobody answered and no message can be taken: apologise and hang up."""

    intro: str


@dataclass(frozen=True)
class BackupPlan:
    """Nobody answered: try a backup number without a whisper."""

    intro: str
    number: str
    action_url: str


HandoverPlan = DialPlan | ConferencePlan | VoicemailPlan | BackupPlan | BusyPlan


def render(
    directives: Sequence[Directive],
    *,
    voice: Voice,
    turn_url: str,
    handover: HandoverPlan | None = None,
    play_url: PlayUrl | None = None,
) -> str:
    """TwiML for one webhook answer. A `Transfer` directive needs a `handover` plan.

    With `play_url`, every text that has a pre-rendered recording is a `<Play>` where its
    `<Say>` would be (inside the `<Gather>` for a question, so the caller can still talk
    over it); the others stay `<Say>`.

    Directives and plans are immutable, and most turns repeat an earlier answer word for
    word, so answers are cached (with the recordings they use in the key, so a prompt
    rendered since then changes the answer).
    """
    directives = tuple(directives)
    plays = _plays(directives, handover, play_url) if play_url else ()
    return _render_cached(directives, voice, turn_url, handover, plays)


def _plays(directives: tuple[Directive, ...], handover: HandoverPlan | None,
           play_url: PlayUrl) -> Plays:
    texts = [directive.text for directive in directives if isinstance(directive, Say)]
    if any(isinstance(directive, Transfer) for directive in directives):
        texts += [handover.intro] if handover else [NOBODY_AVAILABLE]
        if isinstance(handover, VoicemailPlan):
            texts.append(NO_MESSAGE)
    found = ((text, play_url(text)) for text in dict.fromkeys(texts))
    return tuple((text, url) for text, url in found if url)


@lru_cache(maxsize=2048)
def _render_cached(
    directives: tuple[Directive, ...],
    voice: Voice,
    turn_url: str,
    handover: HandoverPlan | None,
    plays: Plays = (),
) -> str:
    response = VoiceResponse()
    pending: list[Say] = []
    for directive in directives:
        match directive:
            case Say():
                pending.append(directive)
            case Listen():
                gather = _gather(directive, turn_url)
                for say in pending:
                    target = gather if say.barge_in else response
                    speak(target, say.text, voice, plays)
                pending = []
                response.append(gather)
                response.redirect(turn_url, method="POST")
            case Transfer():
                _flush(response, pending, voice, plays)
                pending = []
                append_handover(response, handover, voice, plays)
            case Hangup():
                _flush(response, pending, voice, plays)
                pending = []
                response.hangup()
            case RunAction():
                raise ValueError("actions run before rendering; RunAction cannot be rendered")
    _flush(response, pending, voice, plays)
    return str(response)


def append_handover(response: VoiceResponse, plan: HandoverPlan | None, voice: Voice,
                    plays: Plays = ()) -> None:
    """The caller hears what is happening, then rings an agent or the fallback."""
    match plan:
        case DialPlan():
            speak(response, plan.intro, voice, plays)
            dial = Dial(action=plan.action_url, method="POST", timeout=plan.ring_seconds,
                        caller_id=plan.caller_id)
            _dial_target(dial, plan.target, plan.whisper_url)
            response.append(dial)
        case ConferencePlan():
            speak(response, plan.intro, voice, plays)
            dial = Dial(action=plan.action_url, method="POST")
            dial.conference(plan.room, start_conference_on_enter=False,
                            end_conference_on_exit=True, wait_url=plan.wait_url,
                            wait_method="POST", beep=False)
            response.append(dial)
        case VoicemailPlan():
            speak(response, plan.intro, voice, plays)
            response.record(max_length=plan.max_seconds, action=plan.action_url, method="POST",
                            play_beep=True, timeout=5, finish_on_key="#",
                            recording_status_callback=plan.recording_status_url,
                            recording_status_callback_method="POST",
                            recording_status_callback_event="completed")
            speak(response, NO_MESSAGE, voice, plays)
            response.hangup()
        case BackupPlan():
            speak(response, plan.intro, voice, plays)
            dial = Dial(action=plan.action_url, method="POST", timeout=30)
            dial.number(plan.number)
            response.append(dial)
        case BusyPlan():
            speak(response, plan.intro, voice, plays)
            response.hangup()
        case None:
            speak(response, NOBODY_AVAILABLE, voice, plays)
            response.hangup()


def whisper(summary: str, accept_url: str, *, voice: Voice, timeout: int) -> str:
    """What the agent hears before the bridge: the summary, then press 1 to take the call."""
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, action=accept_url, method="POST",
                    timeout=timeout)
    speak(gather, f"Incoming call from the automated assistant. {summary}", voice)
    speak(gather, "Press 1 to take the call, 9 to hear this again, or 2 to pass.", voice)
    response.append(gather)
    speak(response, "No answer. Passing the call on.", voice)
    response.hangup()
    return str(response)


def keypad_question(directives: Sequence[Directive], action_url: str, voice: Voice, *,
                    play_url: PlayUrl | None = None) -> str:
    """One key to `action_url` (a survey): what is said before the `Listen` is said inside the
    `<Gather>`, so a key interrupts it; silence falls through to what follows (a goodbye)."""
    listen = next(directive for directive in directives if isinstance(directive, Listen))
    texts = [directive.text for directive in directives if isinstance(directive, Say)]
    found = ((text, play_url(text)) for text in texts) if play_url else ()
    plays = tuple((text, url) for text, url in found if url)
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=listen.max_digits or 1, finish_on_key="",
                    timeout=listen.timeout_seconds, method="POST", action=action_url)
    target: VoiceResponse | Gather = gather  # what is said before it listens
    for directive in directives:
        match directive:
            case Listen():
                response.append(gather)
                target = response
            case Say():
                speak(target, directive.text, voice, plays)
            case Hangup():
                response.hangup()
    return str(response)


def last_resort(target: str | None) -> str:
    """Built by hand from the fewest parts, for when rendering itself failed."""
    response = VoiceResponse()
    response.say(LAST_RESORT)
    if target:
        dial = Dial(timeout=30)
        _dial_target(dial, target, whisper_url="")
        response.append(dial)
    else:
        response.say(LAST_RESORT_NOBODY)
        response.hangup()
    return str(response)


def connect_stream(stream_url: str, parameters: dict[str, str], continue_url: str) -> str:
    """Hand the call's audio to our WebSocket; when we close it, Twilio fetches
    `continue_url` for what comes next (a transfer, a goodbye)."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    response.redirect(continue_url, method="POST")
    return str(response)


def connect_agent(voice: Voice) -> str:
    """The agent accepted: an answer with no further verbs bridges the two legs."""
    response = VoiceResponse()
    speak(response, "Connecting you now.", voice)
    return str(response)


def say_and_hang_up(text: str, voice: Voice) -> str:
    response = VoiceResponse()
    if text:
        speak(response, text, voice)
    response.hangup()
    return str(response)


def empty() -> str:
    return str(VoiceResponse())


def _gather(listen: Listen, turn_url: str) -> Gather:
    inputs = " ".join(kind for kind, on in (("speech", listen.speech), ("dtmf", listen.keys)) if on)
    options: dict[str, object] = {
        "input": inputs,
        "action": turn_url,
        "method": "POST",
        "action_on_empty_result": True,
        "timeout": listen.timeout_seconds,
        "language": listen.language,
    }
    if listen.speech:
        options["speech_timeout"] = listen.speech_timeout
        if listen.hints:
            options["hints"] = ", ".join(listen.hints)
    if listen.max_digits:
        options["num_digits"] = listen.max_digits
        options["finish_on_key"] = "#"
        options["speech_model"] = "numbers_and_commands"
    else:
        options["num_digits"] = 1
    return Gather(**options)


def _dial_target(dial: Dial, target: str, whisper_url: str) -> None:
    options = {"url": whisper_url, "method": "POST"} if whisper_url else {}
    if target.startswith("client:"):
        dial.client(target.removeprefix("client:"), **options)
    elif target.startswith("sip:"):
        dial.sip(target, **options)
    else:
        dial.number(target, **options)


def speak(parent: VoiceResponse | Gather, text: str, voice: Voice, plays: Plays = ()) -> None:
    url = dict(plays).get(text)
    if url:
        parent.play(url)
        return
    options = {"language": voice.language}
    if voice.name:
        options["voice"] = voice.name
    parent.say(text[:MAX_SPEECH_CHARS], **options)


def _flush(response: VoiceResponse, pending: list[Say], voice: Voice, plays: Plays = ()) -> None:
    for say in pending:
        speak(response, say.text, voice, plays)
