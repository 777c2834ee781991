"""Text messages through Twilio's REST API."""

from __future__ import annotations

import logging

from ivr.telephony.rest import TwilioUnavailable, call_twilio, client

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0


def send_sms(account_sid: str, auth_token: str, *, sender: str, to: str, body: str) -> str | None:
    """Queue one SMS; the message SID, or None when Twilio refused or could not be reached.

    Errors are logged by code only: Twilio's error text can quote the number.
    """
    try:
        message = call_twilio("SMS failed", lambda: client(
            account_sid, auth_token, TIMEOUT_SECONDS).messages.create(
                to=to, from_=sender, body=body))
    except TwilioUnavailable as error:
        log.warning("%s", error)
        return None
    return str(message.sid)
