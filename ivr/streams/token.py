"""Per-call stream tokens: an HMAC of the call SID and an expiry, so that only the call the
server answered can open its media stream (and a leaked token soon stops working)."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TTL_SECONDS = 4 * 3600  # longer than any call


def issue(secret: bytes, call_sid: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS,
          now: float | None = None) -> str:
    """A token for `call_sid`, valid for `ttl_seconds`."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    return f"{expires}.{_signature(secret, call_sid, expires)}"


def verify(secret: bytes, call_sid: str, token: str, *, now: float | None = None) -> bool:
    """True when `token` was issued for `call_sid` with this secret and has not expired."""
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or not signature:
        return False
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(signature, _signature(secret, call_sid, expires))


def _signature(secret: bytes, call_sid: str, expires: int) -> str:
    message = f"stream:{call_sid}:{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
