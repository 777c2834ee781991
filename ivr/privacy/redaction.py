"""Redaction: find the personal data in what a caller said and replace it with markers.

Card numbers, card security codes, social security numbers, email addresses, phone numbers
and dates of birth, written ("4111 1111 1111 1111", "jane.doe@example.com") or spoken the way
speech recognisers write them ("four one one one ...", "oh" for zero, "double five", "jane dot
doe at example dot com", "the twelfth of march nineteen eighty five"). Pure Python, no IO.

How it works: the text is lowercased and number words become digits ("double five" -> "55",
"twelfth" -> "12th") in a normalised copy that remembers where each piece came from, so every
finding is a span of the ORIGINAL text (`ivr.privacy.normalise`). Digit runs (groups joined by
spaces, dashes, dots, "uh", "dash" ...) are then judged by their length, checksum and shape,
and by the nearest context words before them (or just after them): "card" / "visa", "security
code", "social", "date of birth", "phone" / "call me", and the words that say a number is
something else ("order", "tracking", "zip", "room", "account", "expires" ...)
(`ivr.privacy.detect`). This module is the public API: it searches the redacted text again
until nothing new turns up, and puts the markers in.

Decisions on ambiguous cases (privacy first where a number is shaped like personal data and
nothing says otherwise):

- A 13-19 digit run with no context is a card when it passes the Luhn check and starts like a
  card (2-6); a Luhn-failing 16-digit run starting 2-6 (or 15 digits starting 34/37) is a card
  too, as a misheard card fails Luhn. After card context any 13+ digit run is a card.
- Tracking, order, reference, confirmation, ticket, case, account and member numbers survive
  when the caller says what they are ("tracking number 9400 ...", "order 123456"), order and
  tracking numbers even when they pass Luhn (an "account number" that passes Luhn is taken for
  a card). UPS-style "1Z..." numbers survive (letters break the digit run). 17-23 digit runs
  with no context survive unless they start or end with Luhn-valid, card-shaped 15/16 digits;
  longer runs survive.
- A bare 9-digit run with the valid SSN shape (area not 000/666/9xx, group not 00, serial not
  0000) is an SSN; ddd-dd-dddd / ddd dd dddd is an SSN anywhere. After SSN context any 9
  digits, and any 4 digits ("last four of my social"), are an SSN.
- A card's last four ("card ending in 1111") survive: they may be shown (PCI DSS).
- A year alone survives even in birth context ("born in 1985"); a month and year is a DOB.
- 10-digit NANP-shaped runs (and 11 with a leading 1, and "+" international numbers that
  `phonenumbers` accepts) are phone numbers anywhere; 7-15 digits are after phone context.
- Amounts ("$1,234,567.89", "... dollars", "the total is ...") and counts ("last four",
  "three digit code") are never data, nor are clock times ("2024-06-01 12:34" is not a
  phone number) and IPv4 addresses.
- Not found: a day without month ("born on the 12th"), international numbers written with 00
  instead of + and no phone context, and a security code with no context words (after a card
  number, "4111 ... 1111 123" keeps its "123").
"""

from __future__ import annotations

from bisect import bisect_right

from ivr.privacy.detect import Finding, find_once, luhn_valid

__all__ = ["MARKERS", "Finding", "find_personal_data", "luhn_valid", "redact"]

MARKERS = {
    "CARD": "[CARD]",
    "CVV": "[CVV]",
    "SSN": "[SSN]",
    "EMAIL": "[EMAIL]",
    "PHONE": "[PHONE]",
    "DOB": "[DOB]",
}
_MAX_PASSES = 4


def _replaced(text: str, findings: list[Finding]) -> str:
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.append(text[position : finding.start])
        parts.append(MARKERS[finding.kind])
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def find_personal_data(text: str) -> list[Finding]:
    """Every piece of personal data in `text`: non-overlapping spans of it, in order.

    Redacting can bring a number next to its context ("dob 1111 8 march 1985": the date hides
    that "1111 8" was one run), so the redacted text is searched again, until nothing new turns
    up; that is what makes `redact` idempotent.
    """
    findings = find_once(text)
    for _ in range(_MAX_PASSES - 1):
        if not findings:
            break
        more = find_once(_replaced(text, findings))
        if not more:
            break
        # Markers are never part of a finding, so new findings lie between the old ones.
        marker_ends: list[int] = []  # where each marker ends in the redacted text
        shifts: list[int] = []  # original position - redacted position, after each marker
        shift = 0
        for finding in findings:
            marker = len(MARKERS[finding.kind])
            marker_ends.append(finding.start - shift + marker)
            shift += finding.end - finding.start - marker
            shifts.append(shift)
        for finding in more:
            before = bisect_right(marker_ends, finding.start) - 1
            offset = shifts[before] if before >= 0 else 0
            findings.append(Finding(finding.kind, finding.start + offset, finding.end + offset))
        findings.sort(key=lambda finding: finding.start)
    return findings


def redact(text: str) -> str:
    """`text` with every piece of personal data replaced by its marker, the rest unchanged."""
    findings = find_personal_data(text)
    return _replaced(text, findings) if findings else text
