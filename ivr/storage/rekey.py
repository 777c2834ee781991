"""Re-encrypt every encrypted column with the newest data key (`ivr keys rotate`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Integer, LargeBinary, Text, column, select, table, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from ivr.storage import crypto
from ivr.storage.models import Base

ENCRYPTED_TYPES = (crypto.EncryptedText, crypto.EncryptedJSON, crypto.EncryptedBytes)


def encrypted_columns() -> list[tuple[str, str, TypeEngine[bytes] | TypeEngine[str]]]:
    """(table, column, raw storage type) for every column of an encrypted type."""
    found: list[tuple[str, str, TypeEngine[bytes] | TypeEngine[str]]] = []
    for mapped in Base.metadata.sorted_tables:
        for col in mapped.columns:
            if isinstance(col.type, ENCRYPTED_TYPES):
                raw_type = LargeBinary() if isinstance(col.type, crypto.EncryptedBytes) else Text()
                found.append((mapped.name, col.name, raw_type))
    return found


def rotate_all(session: Session) -> dict[str, int]:
    """Encrypt each stored value again under the first key; returns how many per column.
    Raises `crypto.DataKeyError` when a value cannot be read with the configured keys (the
    caller's transaction then rolls back, so nothing changes)."""
    keyring = crypto.keyring()
    counts: dict[str, int] = {}
    for table_name, column_name, raw_type in encrypted_columns():
        raw = table(table_name, column("id", Integer()), column(column_name, raw_type))
        rows: Sequence[tuple[int, str | bytes]] = session.execute(
            select(raw.c.id, raw.c[column_name]).where(raw.c[column_name].is_not(None))).all()
        for row_id, token in rows:
            session.execute(update(raw).where(raw.c.id == row_id)
                            .values({column_name: keyring.rotate(token)}))
        counts[f"{table_name}.{column_name}"] = len(rows)
    return counts
