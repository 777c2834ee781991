"""Text messages through Twilio's REST API."""

from __future__ import annotations

import logging

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 3.0


def send_sms(account_sid: str, auth_token: str, *, sender: str, to: str, body: str) -> str | None:
    """Queue one SMS; the message SID, or None when Twilio refused or could not be reached.

    Errors are logged by code only: Twilio's error text can quote the number.
    """
    client = Client(account_sid, auth_token,
                    http_client=TwilioHttpClient(timeout=TIMEOUT_SECONDS))
    try:
        message = client.messages.create(to=to, from_=sender, body=body)
    except TwilioException as error:
        log.warning("SMS failed: Twilio error %s (HTTP %s)", getattr(error, "code", None),
                    getattr(error, "status", None))
        return None
    except requests.RequestException as error:
        log.warning("SMS failed: %s talking to Twilio", type(error).__name__)
        return None
    return str(message.sid)
