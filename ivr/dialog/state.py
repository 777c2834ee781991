"""Call state: everything the engine needs to carry between turns, JSON-serialisable."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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

    def entering(self, node: str) -> CallState:
        """The state after moving to `node`: per-question counters start again."""
        return self.model_copy(
            update={"node": node, "no_input": 0, "no_match": 0, "invalid": 0}
        )
