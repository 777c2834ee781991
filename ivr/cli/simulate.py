"""`ivr simulate`: hold a call in the terminal through the real, signed webhooks."""

from __future__ import annotations

import json
import logging

import click

from ivr.cli.common import fail_flows
from ivr.config import load_settings
from ivr.dialog.parse import FlowError


@click.command()
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
        fail_flows(error)
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
