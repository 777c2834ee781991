"""Output directives: what the engine wants the telephony side to do, in order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Say:
    """Speak text. `barge_in` lets the caller interrupt it (questions, not the disclosure)."""

    text: str
    barge_in: bool = False


@dataclass(frozen=True)
class Listen:
    """Wait for speech or keys. `max_digits` is set when a keypad answer has a known length."""

    hints: tuple[str, ...] = ()
    speech: bool = True
    keys: bool = True
    max_digits: int | None = None
    timeout_seconds: int = 5
    speech_timeout: str = "auto"
    language: str = "en-US"


@dataclass(frozen=True)
class RunAction:
    """Run a custom business action; its result comes back as an `ActionDone` event."""

    name: str


@dataclass(frozen=True)
class Transfer:
    """Hand the call to a person. `reason` is a short phrase for the agent."""

    reason: str
    queue: str | None = None
    trigger: str = "flow"


@dataclass(frozen=True)
class Hangup:
    """End the call."""


Directive = Say | Listen | RunAction | Transfer | Hangup
