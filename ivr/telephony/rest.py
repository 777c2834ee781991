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
    """Twilio refused the request or could not be reached. The message never quotes Twilio's
    error text, which can contain phone numbers."""


def client(account_sid: str, auth_token: str, timeout: float = TIMEOUT_SECONDS) -> Client:
    return Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))


def call_twilio(what: str, request: Callable[[], T]) -> T:
    """Run one REST request; Twilio's and the network's errors become `TwilioUnavailable`."""
    try:
        return request()
    except TwilioException as error:
        raise TwilioUnavailable(f"{what}: Twilio error {getattr(error, 'code', None)} "
                                f"(HTTP {getattr(error, 'status', None)})") from error
    except requests.RequestException as error:
        raise TwilioUnavailable(f"{what}: {type(error).__name__} talking to Twilio") from error
