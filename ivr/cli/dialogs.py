"""`ivr dialogs`: validate the flows in `dialogs/`, print their JSON Schema."""

from __future__ import annotations

from pathlib import Path

import click

from ivr.app.flows import flow_json_schema, load_flows
from ivr.cli.common import fail_flows
from ivr.config import load_settings
from ivr.dialog.parse import FlowError


@click.group()
def dialogs() -> None:
    """Work with the dialog flows."""


@dialogs.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def dialogs_check(directory: Path | None) -> None:
    """Validate every flow; print each problem with file, line and fix."""
    folder = directory or load_settings().dialogs_dir
    try:
        flows = load_flows(folder)
    except FlowError as error:
        fail_flows(error)
    for flow in flows.values():
        click.echo(f"ok: flow {flow.name!r}: {len(flow.states)} states, "
                   f"{len(flow.intents)} intents, starts at {flow.start!r}")


@dialogs.command("schema")
@click.option("--write", "target", type=click.Path(path_type=Path),
              help="Write to this file instead of printing.")
def dialogs_schema(target: Path | None) -> None:
    """Print the flow format as JSON Schema (for editor autocompletion)."""
    schema = flow_json_schema()
    if target:
        target.write_text(schema, encoding="utf-8")
        click.echo(f"wrote {target}")
    else:
        click.echo(schema, nl=False)
