"""Who a transfer rings and what happens when nobody can, from the settings alone.

The hand-over, routing, the agent directory, the after-call steps and the prompt catalogue
take a `TransferPolicy` rather than the call use case: it needs no database, so it also
answers when the database is what failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ivr.app.contract import AgentLeg, Fallback
from ivr.config import Queue, Settings, TransferSettings
from ivr.dialog import lines

Clock = Callable[[], datetime]
DEFAULT_RING_SECONDS = 20


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TransferPolicy:
    """The transfer settings, the recordings switch and the clock, with the decisions that
    follow from them."""

    transfer: TransferSettings
    recordings: bool = False
    clock: Clock = utc_now

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utc_now) -> TransferPolicy:
        return cls(settings.transfer, settings.privacy.recordings, clock)

    @property
    def mode(self) -> Literal["dial", "conference"]:
        """`dial` or `conference`: how agents are rung."""
        return self.transfer.mode

    def targets(self, queue: str | None) -> list[str]:
        """The configured targets of the queue (`[transfer.queues.NAME] targets`), in order."""
        found = self._queue(queue)
        return list(found.targets) if found else []

    def ring_seconds(self, queue: str | None) -> int:
        found = self._queue(queue)
        return found.ring_seconds if found else DEFAULT_RING_SECONDS

    def first_leg(self, queue: str | None) -> AgentLeg | Fallback:
        """Who to ring without asking the database: the queue's first configured target, or
        the fallback. Routed transfers are decided by the call use case."""
        targets = self.targets(queue)
        if not targets:
            return self.fallback()
        return AgentLeg(targets[0], self.ring_seconds(queue), lines.HANDOVER_INTRO)

    def fallback(self) -> Fallback:
        """Nobody can take the call: the backup number, voicemail (recordings on) or an
        apology with a request to call again."""
        if self.transfer.fallback == "number" and self.transfer.fallback_number:
            return Fallback("number", lines.BACKUP_LINE_INTRO, self.transfer.fallback_number)
        if not self.recordings:
            return Fallback("busy", lines.BUSY_NO_VOICEMAIL)
        return Fallback("voicemail", lines.VOICEMAIL_INTRO)

    def _queue(self, queue: str | None) -> Queue | None:
        queues = self.transfer.queues
        if queue and queue in queues:
            return queues[queue]
        return next(iter(queues.values()), None)
