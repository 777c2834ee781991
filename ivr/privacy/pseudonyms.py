"""Caller numbers: pseudonyms (a keyed HMAC-SHA256 of the E.164 number, never the number
itself), and whether a caller ID is a real number at all."""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

WITHHELD = frozenset({
    # What Twilio puts in `From` when the caller withholds their number.
    "", "anonymous", "restricted", "unknown", "unavailable", "blocked", "private",
    "+266696687", "+7378742833", "+86282452253", "+2562533",
})


def normalise_number(raw: str, region: str = "US") -> str | None:
    """E.164 form of a caller ID, or None when withheld or not a phone number."""
    raw = raw.strip()
    if raw.lower() in WITHHELD:
        return None
    if raw.startswith(("client:", "sip:")):
        return raw
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def textable_number(caller: object) -> str | None:
    """The caller's number in E.164 if it is a real one (one a text can go to), else None:
    missing, withheld, `client:`/`sip:` or invalid."""
    if not isinstance(caller, str) or caller.strip().lower() in WITHHELD:
        return None
    try:
        number = phonenumbers.parse(caller.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_phone_number(raw: str, region: str = "US") -> bool:
    """Whether `raw` reads as a possible phone number (for commands that take one)."""
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(raw.strip(), region))
    except phonenumbers.NumberParseException:
        return False


def pseudonymise(raw: str | None, key: bytes) -> str | None:
    """The caller's stable pseudonym, or None for a withheld number."""
    number = normalise_number(raw or "")
    if number is None:
        return None
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
