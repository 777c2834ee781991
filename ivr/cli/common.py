"""What the `ivr` commands share: settings with data keys, the actor name for the audit trail,
and how invalid flows are reported."""

from __future__ import annotations

import getpass
import sys
from typing import NoReturn

import click

from ivr.config import Settings, load_settings
from ivr.dialog.parse import FlowError
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


def fail_flows(error: FlowError) -> NoReturn:
    """Print every problem of the flows and exit with status 2."""
    click.secho("The dialog flows are not valid; fix these first:", fg="red", err=True)
    for issue in error.issues:
        click.echo(f"  {issue}", err=True)
    sys.exit(2)
