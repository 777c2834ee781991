"""An agent's reservation is a lease, not a promise: a transfer that nobody reports on any
more gives its agent back.

Twilio reports every step of a transfer (the whisper's keys, the `<Dial>` result, the agent
leg's and the call's status), but one lost or refused callback used to leave the agent "busy"
for good. Two rules end that:

- **Ringing**: a transfer still ringing its agent `ring_seconds` + the whisper's time +
  `RING_MARGIN_SECONDS` after that attempt began is `lost`; its agent is available again in
  their old place. Applied whenever routing or the agent directory looks at agents, in any
  process (no network call, inside their transaction), and by the sweep.
- **On a call**: an agent still busy with an accepted call `CHECK_AFTER` after they took it
  is checked against Twilio's REST API (at most every `RECHECK` per call and process); when
  Twilio says the call has ended, or cannot say and the call is older than `MAX_CALL`, the
  agent goes to wrap-up (then available) and the call is closed as done by the agent. Only
  the sweep does this, outside any transaction: `ivr agents sweep`, and the Procfile's
  `purge` process every minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from ivr.app.transfer_policy import TransferPolicy
from ivr.config import Settings, TransferSettings
from ivr.storage import agents, leases, repository
from ivr.storage.db import session_scope
from ivr.telephony import call_status
from ivr.telephony.rest import TwilioUnavailable

log = logging.getLogger(__name__)

RING_MARGIN_SECONDS = 60
CHECK_AFTER = timedelta(minutes=2)
RECHECK = timedelta(minutes=5)
MAX_CALL = timedelta(hours=4)


def ringing_allowance(transfer: TransferSettings, queue: str | None) -> float:
    """How long an attempt may ring (and whisper) before the transfer counts as lost."""
    ring = TransferPolicy(transfer).ring_seconds(queue)
    return ring + transfer.whisper_timeout_seconds + RING_MARGIN_SECONDS


def expire_ringing(db: agents.Db, transfer: TransferSettings, now: datetime
                   ) -> list[leases.Expired]:
    """End the ringing leases that ran out (inside the caller's transaction)."""
    expired = leases.expire_ringing(db, now, partial(ringing_allowance, transfer))
    for lease in expired:
        log.warning("call %s: no report from Twilio on a ringing transfer; it is lost and "
                    "its agent is available again", lease.call_sid)
    return expired


@dataclass
class SweepReport:
    lost_transfers: int = 0
    calls_ended: int = 0
    calls_still_live: int = 0
    unchecked: int = 0


@dataclass
class Leases:
    """The sweep: both rules, for every transfer on the database. Keep one for repeated
    sweeps: it remembers when each call was last checked with Twilio."""

    settings: Settings
    policy: TransferPolicy
    _checked: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Leases:
        return cls(settings, TransferPolicy.from_settings(settings))

    def sweep(self) -> SweepReport:
        report = SweepReport()
        now = self.policy.clock()
        with session_scope(self.settings.database_url, write_lock=True) as session:
            report.lost_transfers = len(expire_ringing(session, self.settings.transfer, now))
            agents.settle(session, now, self.settings.transfer.wrap_up_seconds)
        with session_scope(self.settings.database_url) as session:
            candidates = leases.busy_on_accepted(session, now - CHECK_AFTER)
        for call_sid, answered_at in candidates:
            if now - self._checked.get(call_sid, datetime.min.replace(tzinfo=now.tzinfo)) \
                    < RECHECK:
                continue
            self._checked[call_sid] = now
            verdict = self._has_ended(call_sid, now - answered_at)
            if verdict is None:
                report.unchecked += 1
            elif verdict:
                report.calls_ended += self._close(call_sid, now)
            else:
                report.calls_still_live += 1
        return report

    def _has_ended(self, call_sid: str, age: timedelta) -> bool | None:
        """Whether the call is over: Twilio's word, else its age; None: unknown for now."""
        try:
            status = call_status.status_of(self.settings.twilio_account_sid,
                                           self.settings.auth_token, call_sid)
        except TwilioUnavailable as error:
            log.warning("call %s: could not ask Twilio whether it ended: %s", call_sid, error)
            return True if age > MAX_CALL else None
        return status in call_status.ENDED

    def _close(self, call_sid: str, now: datetime) -> int:
        """The agent's call is over: wrap-up for them, done for the call (if still open)."""
        with session_scope(self.settings.database_url, write_lock=True) as session:
            call = repository.call_for_update(session, call_sid)
            if call is None:
                return 0
            transfer = repository.latest_transfer(session, call, lock=True)
            if transfer is None or transfer.outcome != "accepted":
                return 0
            transfer.outcome = "completed"
            call.status = "completed-by-agent"
            call.ended_at = call.ended_at or now
            agents.wrap_up(session, call_sid, now)
        self._checked.pop(call_sid, None)
        log.info("call %s: Twilio reports it ended; its agent is in wrap-up", call_sid)
        return 1
