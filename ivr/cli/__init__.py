"""The `ivr` command: one module per command group.

`serve` (the server), `simulate` (a call in the terminal), `dialogs` (check, schema), `db`
(migrations), `prompts`, `models`, `users`, `agents`, and the privacy commands `purge`,
`forget`, `export`, `keys`.
"""

from __future__ import annotations

import logging
import os

import click

from ivr.cli.agents import agents
from ivr.cli.db import db
from ivr.cli.dialogs import dialogs
from ivr.cli.models import models
from ivr.cli.privacy import export, forget, keys, purge
from ivr.cli.prompts import prompts
from ivr.cli.serve import serve
from ivr.cli.simulate import simulate
from ivr.cli.users import users


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """A voice IVR bot server for Twilio that hands callers to people with a summary."""
    from ivr.logs import configure_logging

    log_format = os.environ.get("IVR_LOG_FORMAT", "json")
    configure_logging(logging.DEBUG if verbose else logging.INFO,
                      "text" if log_format == "text" else "json")


for _command in (serve, simulate, dialogs, db, prompts, models, users, agents, purge, forget,
                 export, keys):
    main.add_command(_command)
