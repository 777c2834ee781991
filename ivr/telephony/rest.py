"""Twilio's REST API client, built one way for the whole server, and its one error type."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

TIMEOUT_SECONDS = 10.0
T = TypeVar("T")


class TwilioUnavailable(RuntimeError):
    """Twilio refused the request or could not be reached; nothing changed on Twilio's side.
    Carries Twilio's HTTP status and error code, never its error text (which can quote phone
    numbers)."""

    def __init__(self, what: str, http_status: int | None = None, code: int | None = None):
        super().__init__(f"{what}: Twilio error {code} (HTTP {http_status})" if http_status
                         else f"{what}: Twilio could not be reached")
        self.http_status = http_status
        self.code = code


def client(account_sid: str, auth_token: str, timeout: float = TIMEOUT_SECONDS) -> Client:
    return Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))


def call_twilio(what: str, request: Callable[[], T]) -> T:
    """Run one REST request; Twilio's and the network's errors become `TwilioUnavailable`."""
    try:
        return request()
    except TwilioException as error:
        raise TwilioUnavailable(what, getattr(error, "status", None),
                                getattr(error, "code", None)) from error
    except requests.RequestException as error:
        raise TwilioUnavailable(what) from error
