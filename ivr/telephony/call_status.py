"""Whether a call is still going on, as Twilio's REST API reports it."""

from __future__ import annotations

from ivr.telephony.rest import call_twilio, client

TIMEOUT_SECONDS = 5.0
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def status_of(account_sid: str, auth_token: str, call_sid: str) -> str:
    """Twilio's status of the call (queued, ringing, in-progress, completed, busy, failed,
    no-answer, canceled); `TwilioUnavailable` when Twilio cannot say."""
    call = call_twilio("checking a call's status", lambda: client(
        account_sid, auth_token, TIMEOUT_SECONDS).calls(call_sid).fetch())
    return str(call.status)
