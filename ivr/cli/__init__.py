"""The `ivr` command: serve, simulate, dialogs check/schema, db upgrade."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from ivr.app.flows import flow_json_schema, load_flows
from ivr.cli.agents import agents
from ivr.cli.models import models
from ivr.cli.privacy import export, forget, keys, purge
from ivr.cli.prompts import prompts
from ivr.cli.users import users
from ivr.config import load_settings
from ivr.dialog.parse import FlowError


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """A voice IVR bot server for Twilio that hands callers to people with a summary."""
    from ivr.logs import configure_logging

    log_format = os.environ.get("IVR_LOG_FORMAT", "json")
    configure_logging(logging.DEBUG if verbose else logging.INFO,
                      "text" if log_format == "text" else "json")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int,
              help="gunicorn worker processes.")
@click.option("--threads", default=32, show_default=True, type=int,
              help="Threads per worker: each media stream holds one for the whole call.")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the server (gunicorn) with the flows in the dialogs folder."""
    from gunicorn.app.base import BaseApplication

    from ivr.web import create_app

    os.environ["IVR_THREADS"] = str(threads)  # database and action pools follow it

    try:
        app = create_app()
    except FlowError as error:
        _fail_flows(error)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("logger_class", "ivr.web.gunicorn_logging.RedactingGunicornLogger")
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 30)

        def load(self):  # type: ignore[no-untyped-def]
            return app

    settings = load_settings()
    click.echo(f"Serving flows from {settings.dialogs_dir} on http://{host}:{port} "
               f"(Twilio webhook: {settings.public_url}/voice/incoming)")
    Server().run()


main.add_command(prompts)
main.add_command(models)
main.add_command(users)
main.add_command(agents)
for _command in (purge, forget, export, keys):
    main.add_command(_command)


@main.group()
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
        _fail_flows(error)
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


@main.group()
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


@main.command()
@click.option("--flow", default=None, help="Flow name (default: the configured one).")
@click.option("--caller", default="+14155550123", show_default=True,
              help="Caller ID the simulated call comes from.")
def simulate(flow: str | None, caller: str) -> None:
    """Hold a call in the terminal, through the real webhooks with signed requests.

    Type what the caller says; `#123` presses keys; an empty line is silence; start a line
    with `?0.2` to say it with speech confidence 0.2; `quit` hangs up.
    """
    from ivr.storage import repository
    from ivr.storage.db import session_scope
    from ivr.testing.simulated_call import SimulatedCall, flask_post
    from ivr.web import create_app

    logging.getLogger().setLevel(logging.WARNING)
    settings = load_settings(tts="twilio")  # show words, not audio URLs
    try:
        app = create_app(settings)
    except FlowError as error:
        _fail_flows(error)
    call = SimulatedCall(flask_post(app.test_client()), auth_token=settings.auth_token,
                         public_url=settings.public_url, caller=caller)
    heard = call.start(flow)
    click.secho(f"Call {call.call_sid} ({flow or settings.default_flow})", bold=True)
    while True:
        click.secho(f"bot> {heard.text}", fg="cyan")
        _show_decision(settings.database_url, call.call_sid, repository, session_scope)
        if heard.dial_target:
            click.secho(f"-> ringing {heard.dial_target}", fg="yellow")
            whisper = call.agent_hears()
            click.secho(f"agent hears> {whisper.text}", fg="magenta")
            with session_scope(settings.database_url) as session:
                stored = repository.get_call(session, call.call_sid)
                transfer = repository.latest_transfer(session, stored) if stored else None
                if transfer:
                    click.echo(json.dumps(transfer.summary, indent=2))
            return
        if heard.recording or heard.hangup or not heard.listening:
            click.secho("-- call ended --" if heard.hangup else "-- voicemail --", bold=True)
            return
        line = click.prompt("you", default="", show_default=False)
        if line.strip().lower() == "quit":
            call.hang_up()
            return
        if line.startswith("#"):
            heard = call.press(line[1:].strip())
        elif line.startswith("?"):
            confidence, _, words = line[1:].partition(" ")
            heard = call.say(words, float(confidence or 0))
        elif not line.strip():
            heard = call.silence()
        else:
            heard = call.say(line)


def _show_decision(url, call_sid, repository, session_scope) -> None:  # type: ignore[no-untyped-def]
    with session_scope(url) as session:
        stored = repository.get_call(session, call_sid)
        turns = repository.turns_of(session, stored) if stored else []
        for turn in turns[-3:]:
            if turn.seq != stored.turn_count and turn.kind != "action":
                continue
            if turn.kind == "action":
                click.secho(f"   [action {turn.action}: {'ok' if turn.action_ok else 'FAILED'}]",
                            dim=True)
            elif turn.intent:
                click.secho(f"   [heard {turn.kind}; intent {turn.intent} "
                            f"{turn.intent_confidence:.2f}; now at {stored.state.get('node')}]",
                            dim=True)


def _fail_flows(error: FlowError) -> None:
    click.secho("The dialog flows are not valid; fix these first:", fg="red", err=True)
    for issue in error.issues:
        click.echo(f"  {issue}", err=True)
    sys.exit(2)
