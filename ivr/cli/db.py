"""`ivr db`: database maintenance (Alembic migrations)."""

from __future__ import annotations

import click

from ivr.config import load_settings


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to IVR_DATABASE_URL."""
    from ivr.storage import crypto
    from ivr.storage.migrate import upgrade

    settings = load_settings()
    crypto.configure(settings.data_keys)  # existing rows are encrypted on the way up
    upgrade(settings.database_url)
    click.echo("database is up to date")
