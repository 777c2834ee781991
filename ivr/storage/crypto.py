"""Encryption at rest, per field: column types that store Fernet tokens instead of plaintext.

Transcripts, bot replies, call state (slots) and hand-over summaries are written as
`MultiFernet` tokens (AES-128-CBC + HMAC-SHA256). The keys come from the environment
(`IVR_ENCRYPTION_KEYS`, newest first) and are set once per process with `configure`; the first
key encrypts, every key decrypts, so a new key can be put in front and `ivr keys rotate`
re-encrypts the old rows before the old key is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import LargeBinary, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"ivr development data key").digest())
"""Used when no key is configured, so that a fresh checkout still never stores plaintext.
Anyone can derive it: production sets IVR_ENCRYPTION_KEYS (a warning says so at start)."""


class DataKeyError(ValueError):
    """A key is not a valid Fernet key, or stored data cannot be decrypted with the keys."""


class Keyring:
    """The process's data keys: the first encrypts, all decrypt."""

    def __init__(self, keys: Sequence[str | bytes]):
        if not keys:
            keys = [DEVELOPMENT_KEY]
        try:
            self._fernets = [Fernet(key) for key in keys]
        except (ValueError, TypeError) as error:
            raise DataKeyError("IVR_ENCRYPTION_KEYS must be Fernet keys (`ivr keys generate` "
                            "makes one), separated by commas, newest first") from error
        self._multi = MultiFernet(self._fernets)
        self.uses_development_key = keys == [DEVELOPMENT_KEY]

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError) as error:
            raise DataKeyError("stored data cannot be decrypted with the configured keys: is "
                            "IVR_ENCRYPTION_KEYS missing the key it was written with?") from error

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._multi.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken as error:
            raise DataKeyError("stored audio cannot be decrypted with the configured keys") \
                from error

    def rotate(self, token: str | bytes) -> str | bytes:
        """The same plaintext encrypted again under the first key (same type as `token`)."""
        raw = token.encode("ascii") if isinstance(token, str) else bytes(token)
        try:
            rotated = self._multi.rotate(raw)
        except InvalidToken as error:
            raise DataKeyError("a stored value cannot be decrypted with the configured keys") \
                from error
        return rotated.decode("ascii") if isinstance(token, str) else rotated


_keyring = Keyring([])


def configure(keys: Iterable[str | bytes]) -> Keyring:
    """Set the process's data keys (newest first). Called by the app factory and the CLI."""
    global _keyring
    _keyring = Keyring(list(keys))
    return _keyring


def keyring() -> Keyring:
    return _keyring


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class EncryptedText(TypeDecorator[str]):
    """A text column stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _keyring.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _keyring.decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return _keyring.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(_keyring.decrypt(value))


class EncryptedBytes(TypeDecorator[bytes]):
    """Binary data (audio) stored as a Fernet token."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else _keyring.encrypt_bytes(value)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else _keyring.decrypt_bytes(bytes(value))
