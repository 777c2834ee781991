"""Privacy: callers are known by pseudonyms, and what they said is redacted before it is
stored, summarised or logged.

- `pseudonyms`: the keyed HMAC of a caller's number, and whether a caller ID is a number.
- `redaction`: card numbers, security codes, SSNs, emails, phone numbers and dates of birth
  found in text (written or spoken) and replaced by typed markers.
"""
