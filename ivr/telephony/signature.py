"""Twilio request signatures, checked and made with Twilio's own `RequestValidator`."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def is_signed_by_twilio(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """True when `signature` is Twilio's signature of this URL and form body."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def sign(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The signature Twilio would send; used by `ivr simulate`, tests and the benchmark."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))
