"""The call contract: what a transport (webhook or media stream) hands the use cases, and
what it gets back. Small and typed, like rasa-sdk's `interfaces.py`, so that the web layer,
the stream session and the use cases share four types, not each other's modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ivr.dialog import Directive


@dataclass(frozen=True)
class Inbound:
    """What arrived from the caller. `caller` is only used for the pseudonym and for actions
    that need it (an SMS); it is never stored. `called` is the number the caller dialled (the
    caller ID agents see in conference mode)."""

    call_sid: str
    caller: str | None = None
    text: str = ""
    digits: str = ""
    confidence: float | None = None
    flow: str | None = None
    called: str | None = None


@dataclass(frozen=True)
class AgentLeg:
    """Ring this agent, whispering the summary first: with `<Dial>`, or (mode conference) from
    a conference the caller holds in."""

    target: str
    ring_seconds: int
    intro: str
    mode: Literal["dial", "conference"] = "dial"


@dataclass(frozen=True)
class Fallback:
    """Nobody can take the call: voicemail with a callback promise, a backup number, or (with
    recordings off) an apology and a request to call again."""

    kind: Literal["voicemail", "number", "busy"]
    intro: str
    number: str | None = None


@dataclass
class Reply:
    """What the caller should hear now, and who to ring if the call goes to a person."""

    directives: list[Directive]
    language: str = "en-US"
    voice: str | None = None
    leg: AgentLeg | Fallback | None = None
    intent: str | None = None
    confidence: float | None = None
    summary: dict[str, object] | None = field(default=None, repr=False)
