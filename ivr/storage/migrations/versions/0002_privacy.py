"""privacy: encrypted transcript, state and summary columns; users; audit log

Existing rows are encrypted with the keys configured in `ivr.storage.crypto` (the app and
`ivr db upgrade` configure them from IVR_ENCRYPTION_KEYS before migrating).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 13:40:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from ivr.storage import crypto

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column, type before this revision); frozen here, whatever the models say later.
ENCRYPTED: list[tuple[str, str, sa.types.TypeEngine[Any]]] = [
    ("calls", "state", sa.JSON()),
    ("turns", "heard", sa.Text()),
    ("turns", "digits", sa.String(length=64)),
    ("turns", "reply", sa.Text()),
    ("transfers", "summary", sa.JSON()),
    ("transfers", "spoken_summary", sa.Text()),
]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent_target", sa.String(length=128), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.create_index(batch_op.f("ix_users_username"), ["username"], unique=True)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_target"), ["target"], unique=False)

    _retype(to_text=True)
    _rewrite(crypto.keyring().encrypt)


def downgrade() -> None:
    _rewrite(crypto.keyring().decrypt)
    _retype(to_text=False)
    op.drop_table("audit_log")
    op.drop_table("users")


def _retype(*, to_text: bool) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, before in ENCRYPTED:
        old, new = (before, sa.Text()) if to_text else (sa.Text(), before)
        using = None
        if postgres and isinstance(new, sa.JSON):
            using = f"{column}::json"
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new, postgresql_using=using)


def _rewrite(transform: Callable[[str], str]) -> None:
    """Apply `transform` to every stored value of the encrypted columns (as raw text)."""
    bind = op.get_bind()
    for table_name, column, _before in ENCRYPTED:
        table = sa.table(table_name, sa.column("id", sa.Integer()), sa.column(column, sa.Text()))
        rows: Sequence[tuple[int, str]] = bind.execute(
            sa.select(table.c.id, table.c[column]).where(table.c[column].is_not(None))).all()
        for row_id, value in rows:
            bind.execute(table.update().where(table.c.id == row_id)
                         .values({column: transform(value)}))
