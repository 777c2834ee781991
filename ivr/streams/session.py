"""One caller's media stream: audio in, recognition, turns through the call use case,
prompt audio out, barge-in, keys, and the end of the stream when a person takes over.

Transport-free: the WebSocket handler feeds it parsed messages and calls `tick()` often;
it sends through the `send` callable it was given. One session is used by one thread.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ivr.app.calls import CallService
from ivr.app.contract import Inbound, Reply
from ivr.dialog import Directive, Hangup, Listen, Say, Transfer
from ivr.nlu.escalation import asks_for_person
from ivr.speech.asr import Recognizer, SpeechEngine, SpeechEngineError, Transcript
from ivr.speech.audio import ULAW_FRAME_BYTES, ResampleState, resample, ulaw_to_pcm16
from ivr.speech.grammar import flow_phrases
from ivr.speech.tts import PromptLibrary
from ivr.speech.vad import EndOfSpeech
from ivr.streams import token
from ivr.telephony import media_streams as protocol

log = logging.getLogger(__name__)

FRAME_SECONDS = 0.02
LEAD_SECONDS = 0.12
"""Audio sent ahead of real time, so network jitter never starves the caller's playback."""
DIGIT_PAUSE_SECONDS = 3.0
CLOSE_GRACE_SECONDS = 0.3
RENDER_TIMEOUT_SECONDS = 3.0
PRE_ROLL_FRAMES = 15
"""Audio kept from before the detector hears speech (300 ms), fed to the recogniser then."""
UNINTELLIGIBLE = "(unintelligible)"
WARM_UP_TEXT = "One moment."


@dataclass
class Chunk:
    """Prompt audio waiting to be sent; `barge_in` says the caller may talk over it."""

    frames: deque[bytes]
    barge_in: bool
    mark: str


@dataclass
class Timing:
    """Server-side figures: stream start to first audio, and for each turn the time from
    the end of the caller's utterance being detected to the first frame of the answer."""

    started_at: float | None = None
    first_audio_at: float | None = None
    turn_began_at: float | None = None
    turn_latencies: list[float] = field(default_factory=list)


class StreamSession:
    """The server side of one Twilio Media Stream (or the softphone, which speaks the same)."""

    def __init__(
        self,
        calls: CallService,
        engine: SpeechEngine,
        prompts: PromptLibrary,
        send: Callable[[str], None],
        *,
        secret: bytes,
        end_of_speech_ms: int = 700,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.calls = calls
        self.engine = engine
        self.prompts = prompts
        self.send = send
        self.secret = secret
        self.end_of_speech_ms = end_of_speech_ms
        self.clock = clock
        self.stream_sid = ""
        self.call_sid = ""
        self.caller: str | None = None
        self.called: str | None = None
        self.recognizer: Recognizer | None = None
        self.vad = EndOfSpeech(silence_ms=end_of_speech_ms)
        self.resample_state: ResampleState = None
        self.pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        self.queue: deque[Chunk] = deque()
        self.playing_until = 0.0
        self.send_clock = 0.0
        self.listen: Listen | None = None
        self.no_input_deadline: float | None = None
        self.digits = ""
        self.digits_deadline: float | None = None
        self.closing_at: float | None = None
        self.finished = False
        self.marks = 0
        self.timing = Timing()

    # Inbound ----------------------------------------------------------------------------

    def receive(self, raw: str | bytes) -> None:
        """Handle one WebSocket message."""
        try:
            message = protocol.parse(raw)
        except protocol.ProtocolError as error:
            log.warning("stream %s: ignored a bad message (%s)", self.stream_sid, error)
            return
        match message:
            case protocol.Start():
                self._start(message)
            case protocol.Media(payload=payload) if self.stream_sid and not self.finished:
                self._audio(payload)
            case protocol.Dtmf(digit=digit) if self.stream_sid and not self.finished:
                self._key(digit)
            case protocol.Stop():
                self.finished = True
            case _:
                pass

    def _start(self, start: protocol.Start) -> None:
        if self.stream_sid:
            return
        if not token.verify(self.secret, start.call_sid, start.parameters.get("token", "")):
            log.warning("refused a media stream with a wrong or expired token")
            self.finished = True
            return
        self.stream_sid, self.call_sid = start.stream_sid, start.call_sid
        self.caller = start.parameters.get("caller") or None
        self.called = start.parameters.get("called") or None
        self.timing.started_at = self.clock()
        flow = self.calls.flow_named(start.parameters.get("flow"))
        # The disclosure is fixed and pre-rendered: its first frames go out before the call
        # is stored (the audio sent ahead covers a normal database write).
        self._queue_speech(flow.disclosure, barge_in=False)
        self.tick()
        reply = self._safely(lambda: self.calls.start(
            self._inbound(flow=start.parameters.get("flow"))))
        self._play(replace(reply, directives=_without_first_say(reply.directives,
                                                                flow.disclosure)))
        self.tick()  # the recogniser is not needed before the disclosure ends
        try:
            self.recognizer = self.engine.recognizer(flow_phrases(flow))
        except SpeechEngineError as error:
            self._recognition_failed(error)
        # Start this process's synthesis worker while the disclosure plays, so the first
        # answer with slot values does not wait for it (seconds of dead air otherwise).
        self.prompts.render_later(WARM_UP_TEXT)

    def _inbound(self, **fields: Any) -> Inbound:
        """An event of this call, with the caller's and the dialled number from the start."""
        return Inbound(self.call_sid, self.caller, called=self.called, **fields)

    def _audio(self, ulaw: bytes) -> None:
        try:
            self._listen_to(ulaw)
        except SpeechEngineError as error:
            self._recognition_failed(error)

    def _recognition_failed(self, error: SpeechEngineError) -> None:
        """Nobody can understand the caller any more: a person takes the call."""
        log.error("stream %s: speech recognition failed (%s); transferring", self.stream_sid,
                  error)
        self.recognizer = None
        self._play(self.calls.fault(self._inbound(),
                                    "speech recognition failed during the call"))

    def _listen_to(self, ulaw: bytes) -> None:
        now = self.clock()
        pcm = ulaw_to_pcm16(ulaw)
        event = self.vad.feed(pcm)
        if self.listen is None or self.recognizer is None:
            return
        speaking_over_prompt = now < self.playing_until
        if speaking_over_prompt and not self._prompt_allows_barge_in():
            return
        self.pre_roll.append(pcm)
        if not self.vad.speaking and event != "speech_ended":
            return  # silence costs no recognition; the pre-roll keeps the first syllable
        if event == "speech_started" and speaking_over_prompt:
            self._barge_in()
        self.no_input_deadline = None
        frames = list(self.pre_roll) if event == "speech_started" else [pcm]
        self.pre_roll.clear()
        transcript = None
        for frame in frames:
            wideband, self.resample_state = resample(frame, 8000, self.engine.sample_rate,
                                                     self.resample_state)
            transcript = self.recognizer.feed(wideband) or transcript
        if transcript is not None and not transcript.final and asks_for_person(transcript.text):
            self.recognizer.finish()
            self._turn(self._inbound(text=transcript.text,
                               confidence=transcript.confidence))
        elif transcript is not None and transcript.final and transcript.text.strip():
            self._heard(transcript)
        elif event == "speech_ended":
            self._heard(self.recognizer.finish())

    def _heard(self, transcript: Transcript) -> None:
        if not transcript.text.strip():
            # The caller said something the recogniser could not make out: that is a
            # low-confidence turn (reprompt, then a person), not silence.
            transcript = Transcript(UNINTELLIGIBLE, 0.0, final=True)
        self._turn(self._inbound(text=transcript.text,
                           confidence=transcript.confidence))

    def _key(self, digit: str) -> None:
        if self.listen is None:
            return
        if self.clock() < self.playing_until:
            self._barge_in()
        self.digits += digit
        expected = self.listen.max_digits or 1
        if digit == "#" or len(self.digits) >= expected or self.digits == "0":
            self._send_digits()
        else:
            self.digits_deadline = self.clock() + DIGIT_PAUSE_SECONDS

    def _send_digits(self) -> None:
        digits, self.digits, self.digits_deadline = self.digits, "", None
        self._turn(self._inbound(digits=digits))

    # Turns ------------------------------------------------------------------------------

    def _turn(self, inbound: Inbound) -> None:
        self.listen = None
        self.no_input_deadline = None
        if self.recognizer is not None:
            try:
                self.recognizer.reset()
            except SpeechEngineError as error:
                self._recognition_failed(error)
                return
        self.vad = EndOfSpeech(silence_ms=self.end_of_speech_ms)
        self.timing.turn_began_at = self.clock()
        self._play(self._safely(lambda: self.calls.turn(inbound)))

    def _safely(self, handle: Callable[[], Reply]) -> Reply:
        try:
            return handle()
        except Exception as error:
            log.error("stream %s: turn failed (%s); transferring", self.stream_sid,
                      type(error).__name__)
            return self.calls.fault(self._inbound(),
                                    "the server failed while handling a streamed turn")

    def _play(self, reply: Reply) -> None:
        for directive in reply.directives:
            match directive:
                case Say(text=text, barge_in=barge_in):
                    self._queue_speech(text, barge_in)
                case Listen():
                    self.listen = directive
                case Transfer() | Hangup():
                    # Closing the stream makes Twilio fetch /voice/continue, whose TwiML tells
                    # the caller what happens next; first let the caller hear what is queued.
                    self.listen = None
                    now = self.clock()
                    grace = CLOSE_GRACE_SECONDS if self.playing_until > now else 0.0
                    self.closing_at = max(self.playing_until, now) + grace
        if self.listen is not None:
            self._arm_no_input()

    def _queue_speech(self, text: str, barge_in: bool) -> None:
        audio = self.prompts.audio(text)
        if audio is None and self.prompts.render(text, timeout=RENDER_TIMEOUT_SECONDS):
            audio = self.prompts.audio(text)
        if not audio:
            log.warning("stream %s: no audio for a prompt; skipped", self.stream_sid)
            return
        frames = deque(audio[i:i + ULAW_FRAME_BYTES]
                       for i in range(0, len(audio), ULAW_FRAME_BYTES))
        self.marks += 1
        self.queue.append(Chunk(frames, barge_in, f"prompt-{self.marks}"))
        now = self.clock()
        self.playing_until = max(self.playing_until, now) + len(frames) * FRAME_SECONDS
        if self.send_clock < now:
            self.send_clock = now

    def _prompt_allows_barge_in(self) -> bool:
        return all(chunk.barge_in for chunk in self.queue) if self.queue else True

    def _barge_in(self) -> None:
        if not self.queue and self.clock() >= self.playing_until:
            return
        self.queue.clear()
        self.playing_until = self.send_clock = self.clock()
        self.send(protocol.clear(self.stream_sid))

    def _arm_no_input(self) -> None:
        if self.listen is not None:
            start = max(self.playing_until, self.clock())
            self.no_input_deadline = start + self.listen.timeout_seconds

    def close(self) -> None:
        """The stream is over: free the recogniser."""
        self.finished = True
        if self.recognizer is not None:
            recognizer, self.recognizer = self.recognizer, None
            try:
                recognizer.close()
            except SpeechEngineError as error:
                log.warning("stream %s: closing the recogniser failed (%s)", self.stream_sid,
                            error)

    # Time -------------------------------------------------------------------------------

    def tick(self) -> None:
        """Send audio that is due, and fire timers. Call it every few milliseconds."""
        now = self.clock()
        self._send_due_audio(now)
        if self.digits_deadline is not None and now >= self.digits_deadline:
            self._send_digits()
        elif (self.no_input_deadline is not None and now >= self.no_input_deadline
              and not self.vad.speaking):
            self.no_input_deadline = None
            self._turn(self._inbound())
        if self.closing_at is not None and now >= self.closing_at and not self.queue:
            self.finished = True

    def _send_due_audio(self, now: float) -> None:
        while self.queue and self.send_clock <= now + LEAD_SECONDS:
            chunk = self.queue[0]
            frame = chunk.frames.popleft()
            self._note_first_audio(now)
            self.send(protocol.media(self.stream_sid, frame))
            self.send_clock += FRAME_SECONDS
            if not chunk.frames:
                self.queue.popleft()
                self.send(protocol.mark(self.stream_sid, chunk.mark))

    def _note_first_audio(self, now: float) -> None:
        if self.timing.first_audio_at is None:
            self.timing.first_audio_at = now
        if self.timing.turn_began_at is not None:
            self.timing.turn_latencies.append(now - self.timing.turn_began_at)
            self.timing.turn_began_at = None


def _without_first_say(directives: list[Directive], text: str) -> list[Directive]:
    """The directives, less a leading `Say(text)` that is already playing."""
    if directives and isinstance(directives[0], Say) and directives[0].text == text:
        return directives[1:]
    return directives
