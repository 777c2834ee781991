"""A Media Streams client that behaves like Twilio: it opens `/voice/stream`, sends a call's
audio in 20 ms frames at real-time pace, keys, and marks back, and records what the bot sent.
Used by the tests, the stream benchmark and anyone trying the server without a phone."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import simple_websocket

FRAME_BYTES = 160
FRAME_SECONDS = 0.02
ULAW_SILENCE = b"\xff" * FRAME_BYTES


@dataclass
class Received:
    """What came back on the stream, with monotonic arrival times."""

    media_times: list[float] = field(default_factory=list)
    media_bytes: int = 0
    marks: list[str] = field(default_factory=list)
    mark_times: list[float] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    closed_at: float | None = None


class StreamCaller:
    """One simulated caller on a media stream."""

    def __init__(self, url: str, call_sid: str, token: str, *, caller: str | None = None,
                 headers: dict[str, str] | None = None):
        self.url = url
        self.call_sid = call_sid
        self.token = token
        self.caller = caller
        self.headers = headers or {}
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.received = Received()
        self.sequence = 0
        self.sent_frames = 0
        self.started_at = 0.0
        self._ws: simple_websocket.Client | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    def connect(self) -> None:
        # as bytes, the type wsproto takes (h11 would encode str headers as ASCII all the same)
        headers = [(name.encode("ascii"), value.encode("ascii"))
                   for name, value in self.headers.items()]
        self._ws = simple_websocket.Client.connect(self.url, headers=headers)
        self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        parameters = {"token": self.token}
        if self.caller:
            parameters["caller"] = self.caller
        self.started_at = time.monotonic()
        self._send({"event": "start", "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "callSid": self.call_sid, "accountSid": "AC" + "0" * 32,
            "tracks": ["inbound"], "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def play(self, ulaw: bytes) -> None:
        """Send audio as Twilio does: 20 ms frames, paced in real time."""
        for offset in range(0, len(ulaw), FRAME_BYTES):
            if self.closed:
                return
            frame = ulaw[offset:offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\xff")
            self._send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": "inbound", "chunk": str(self.sent_frames + 1),
                "timestamp": str(self.sent_frames * 20),
                "payload": base64.b64encode(frame).decode()}})
            self.sent_frames += 1
            due = self.started_at + self.sent_frames * FRAME_SECONDS
            time.sleep(max(0.0, due - time.monotonic()))

    def silence(self, seconds: float) -> None:
        self.play(ULAW_SILENCE * int(seconds / FRAME_SECONDS))

    def wait_quiet(self, quiet: float = 0.4, limit: float = 40.0) -> bool:
        """Send silence until the bot has said nothing for `quiet` seconds (as a polite
        caller listens to the end of a prompt)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.closed:
            self.silence(0.1)
            times = self.received.media_times
            if times and time.monotonic() - times[-1] > quiet:
                return True
        return False

    def wait_for_answer(self, limit: float = 15.0) -> bool:
        """Send silence until the bot starts answering (new audio arrives)."""
        before = len(self.received.media_times)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not self.closed:
            if len(self.received.media_times) > before:
                return True
            self.silence(0.1)
        return False

    def press(self, digits: str) -> None:
        for digit in digits:
            self._send({"event": "dtmf", "streamSid": self.stream_sid,
                        "dtmf": {"track": "inbound_track", "digit": digit}})
            self.silence(0.1)

    def hang_up(self) -> None:
        if not self.closed:
            self._send({"event": "stop", "streamSid": self.stream_sid,
                        "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid}})
        self.close()

    def close(self) -> None:
        if self._ws is not None and self._ws.connected:
            self._ws.close()

    @property
    def closed(self) -> bool:
        return self._ws is None or not self._ws.connected

    def wait_closed(self, timeout: float) -> bool:
        """Keep the line open with silence until the server closes the stream."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.silence(0.2)
        return self.closed

    def _send(self, message: dict[str, object]) -> None:
        self.sequence += 1
        message["sequenceNumber"] = str(self.sequence)
        assert self._ws is not None
        # A server that closes the stream mid-send shows as either error.
        with self._lock, contextlib.suppress(simple_websocket.ConnectionClosed, OSError):
            self._ws.send(json.dumps(message))

    def _read(self) -> None:
        assert self._ws is not None
        try:
            while True:
                raw = self._ws.receive()
                if raw is None:
                    continue
                message = json.loads(raw)
                now = time.monotonic()
                match message.get("event"):
                    case "media":
                        self.received.media_times.append(now)
                        self.received.media_bytes += len(
                            base64.b64decode(message["media"]["payload"]))
                    case "mark":
                        self.received.marks.append(message["mark"]["name"])
                        self.received.mark_times.append(now)
                    case "clear":
                        self.received.clears.append(now)
        except simple_websocket.ConnectionClosed:
            self.received.closed_at = time.monotonic()
