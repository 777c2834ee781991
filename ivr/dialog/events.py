"""Input events: what happened on the call, as the engine sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallStarted:
    """A new call: disclose, then ask the first question."""


@dataclass(frozen=True)
class UserInput:
    """The caller said or keyed something, already interpreted by the NLU.

    `asr_confidence` is the recogniser's confidence in the words (None for keys);
    `intent_confidence` is the classifier's confidence in `intent`.
    `entities` holds values found in the words: `digits` (str) and `yes_no` (bool).
    `sentiment` is how the words sound, -1 (negative) to 1 (positive); None for keys.
    """

    text: str = ""
    digits: str = ""
    asr_confidence: float | None = None
    intent: str | None = None
    intent_confidence: float = 0.0
    entities: dict[str, Any] = field(default_factory=dict)
    frustrated: bool = False
    sentiment: float | None = None


@dataclass(frozen=True)
class NoInput:
    """The caller said nothing before the timeout."""


@dataclass(frozen=True)
class ActionDone:
    """A custom action finished. `ok` is False when it failed or timed out."""

    name: str
    ok: bool
    messages: tuple[str, ...] = ()
    slots: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Fault:
    """Something inside the server failed; the caller must reach a person."""

    reason: str


Event = CallStarted | UserInput | NoInput | ActionDone | Fault
