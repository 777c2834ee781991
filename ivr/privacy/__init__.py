"""Privacy: callers are known by pseudonyms, and what they said is redacted before it is
stored, summarised or logged.

- `pseudonyms`: the keyed HMAC of a caller's number, and whether a caller ID is a number.
- `redaction`: card numbers, security codes, SSNs, emails, phone numbers and dates of birth
  found in text (written or spoken) and replaced by typed markers.
  It is the public API; `normalise` (number words to digits, spans mapped back) and `detect`
  (the detectors and their priority) do the work.
"""
