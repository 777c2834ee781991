"""Call state: everything the engine needs to carry between turns, JSON-serialisable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PersonOffer = Literal["not_yet", "due", "asked", "made"]
"""The offer of a person to a caller who sounds negative: not made yet; to be made at the next
question; made, waiting for the answer; made (at most once per call)."""


class CallState(BaseModel):
    """Where the call is and what it has collected. Stored with the call between turns."""

    model_config = ConfigDict(extra="ignore")

    node: str = ""
    slots: dict[str, Any] = Field(default_factory=dict)
    no_input: int = 0
    no_match: int = 0
    low_confidence: int = 0
    invalid: int = 0
    last_prompt: str = ""
    intents: list[str] = Field(default_factory=list, description="Intents acted on, in order.")
    ended: bool = False
    transferred: bool = False
    sentiment: list[float | None] = Field(
        default_factory=list,
        description="The sentiment of the caller's last turns, newest last (None: keys, silence).",
    )
    person_offer: PersonOffer = "not_yet"

    def entering(self, node: str) -> CallState:
        """The state after moving to `node`: per-question counters start again."""
        return self.model_copy(
            update={"node": node, "no_input": 0, "no_match": 0, "invalid": 0}
        )
