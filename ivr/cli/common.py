"""What the `ivr` commands that touch stored data share: settings with keys, the actor name."""

from __future__ import annotations

import getpass

from ivr.config import Settings, load_settings
from ivr.storage import crypto
from ivr.storage.migrate import upgrade


def settings_for_data() -> Settings:
    """Settings with the data keys in force and (for SQLite) the schema up to date."""
    settings = load_settings()
    crypto.configure(settings.data_keys)
    if settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    return settings


def cli_actor() -> str:
    """Who is at the keyboard, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
