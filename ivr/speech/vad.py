"""End-of-speech detection: when did the caller start talking, and when did they stop?

Energy-based, frame by frame, deterministic. The noise floor adapts: it is the quietest frame
of the last two seconds, so line hiss and comfort noise set their own threshold, and a louder
line raises it within the window. Speech starts after `min_speech_ms` of frames well above
the floor, and ends after `silence_ms` of frames back near it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

from ivr.speech.audio import rms

SpeechEvent = Literal["speech_started", "speech_ended"]

START_MARGIN_DB = 12.0
"""A frame is speech when it is this much louder than the noise floor..."""
HOLD_MARGIN_DB = 6.0
"""...and speech goes on while frames stay this much above it (hysteresis)."""
MIN_LEVEL_DB = -50.0
"""Never speech below this level (dB below full scale): rounding noise of near-silence."""
FLOOR_WINDOW_MS = 2000
FULL_SCALE = 32768.0


def level_db(frame: bytes) -> float:
    """Loudness of 16-bit PCM in dB below full scale (-100 for digital silence)."""
    value = rms(frame)
    return 20 * math.log10(value / FULL_SCALE) if value > 0 else -100.0


class EndOfSpeech:
    """Feed 20 ms frames of 16-bit mono PCM (any sample rate); get speech start/end events.

    `threshold` (an RMS level, 0..32767) replaces the adaptive floor with a fixed one.
    """

    def __init__(
        self,
        silence_ms: int = 700,
        min_speech_ms: int = 120,
        frame_ms: int = 20,
        threshold: float | None = None,
    ) -> None:
        if frame_ms <= 0 or silence_ms <= 0 or min_speech_ms < 0:
            raise ValueError("frame_ms and silence_ms must be positive, min_speech_ms >= 0")
        self.frame_ms = frame_ms
        self.silence_frames = max(1, math.ceil(silence_ms / frame_ms))
        self.min_speech_frames = max(1, math.ceil(min_speech_ms / frame_ms))
        self._fixed_db = (
            20 * math.log10(max(threshold, 1.0) / FULL_SCALE) if threshold is not None else None
        )
        self._levels: deque[float] = deque(maxlen=max(1, FLOOR_WINDOW_MS // frame_ms))
        self._speaking = False
        self._loud_run = 0
        self._quiet_run = 0

    @property
    def speaking(self) -> bool:
        """Whether the caller is talking (between speech_started and speech_ended)."""
        return self._speaking

    @property
    def noise_floor_db(self) -> float:
        """The current noise floor (the quietest recent frame), in dB below full scale."""
        return min(self._levels) if self._levels else -100.0

    def reset(self) -> None:
        """Forget everything, the noise floor included."""
        self._levels.clear()
        self._speaking = False
        self._loud_run = 0
        self._quiet_run = 0

    def feed(self, frame: bytes) -> SpeechEvent | None:
        """One frame in; 'speech_started', 'speech_ended' or None out."""
        level = level_db(frame)
        start_at, hold_at = self._thresholds()
        self._levels.append(level)
        if not self._speaking:
            self._loud_run = self._loud_run + 1 if level >= start_at else 0
            if self._loud_run >= self.min_speech_frames:
                self._speaking = True
                self._quiet_run = 0
                return "speech_started"
            return None
        self._quiet_run = 0 if level >= hold_at else self._quiet_run + 1
        if self._quiet_run >= self.silence_frames:
            self._speaking = False
            self._loud_run = 0
            return "speech_ended"
        return None

    def _thresholds(self) -> tuple[float, float]:
        """Levels (dB) at which a frame starts speech, and keeps it going."""
        if self._fixed_db is not None:
            return self._fixed_db, self._fixed_db
        if not self._levels:  # the first frame only teaches the floor
            return math.inf, math.inf
        floor = self.noise_floor_db
        return (
            max(floor + START_MARGIN_DB, MIN_LEVEL_DB),
            max(floor + HOLD_MARGIN_DB, MIN_LEVEL_DB - HOLD_MARGIN_DB),
        )
