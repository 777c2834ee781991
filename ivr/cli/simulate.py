"""`ivr simulate`: hold a call in the terminal through the real, signed webhooks.

The app runs inside this process on the configured database (not against a running server),
so what the server decided on each turn can be read back and shown. When the call goes to a
person, the terminal plays the agent too: the whisper, then take the call, pass it on, or let
it ring out.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from ivr.cli.common import fail_flows
from ivr.config import load_settings
from ivr.dialog.parse import FlowError

AGENT_CHOICES = "1 take the call, 2 pass it on, Enter: no answer"


@click.command()
@click.option("--flow", default=None, help="Flow name (default: the configured one).")
@click.option("--caller", default="+14155550123", show_default=True,
              help="Caller ID the simulated call comes from.")
def simulate(flow: str | None, caller: str) -> None:
    """Hold a call in the terminal, through the real webhooks with signed requests.

    Type what the caller says; `#123` presses keys; an empty line is silence; start a line
    with `?0.2` to say it with speech confidence 0.2; `quit` hangs up. The app runs in this
    process on the configured database.
    """
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
    decisions = Decisions(settings.database_url, call.call_sid)
    heard = call.start(flow)
    click.secho(f"Call {call.call_sid} ({flow or settings.default_flow})", bold=True)
    while True:
        click.secho(f"bot> {heard.text}", fg="cyan")
        decisions.show_new()
        if heard.dial_target:
            heard = _agent_side(call, heard, decisions)
            continue
        if not heard.listening:  # a <Gather> may be followed by what silence leads to
            click.secho("-- call ended --" if heard.hangup else "-- voicemail --", bold=True)
            return
        line = _prompt("you")
        if line is None or line.strip().lower() == "quit":
            call.hang_up()
            return
        heard = _caller_says(call, heard, line)


def _caller_says(call: Any, heard: Any, line: str) -> Any:
    """Send one line of the caller's to where the last answer listens (a turn, a survey)."""
    if heard.gather_action and not heard.gather_action.endswith("/voice/turn"):
        return call.send(heard.gather_action, {"Digits": line.lstrip("#").strip()})
    if line.startswith("#"):
        return call.press(line[1:].strip())
    if line.startswith("?"):
        confidence, _, words = line[1:].partition(" ")
        return call.say(words, float(confidence or 0))
    if not line.strip():
        return call.silence()
    return call.say(line)


def _agent_side(call: Any, heard: Any, decisions: Decisions) -> Any:
    """The call rings an agent: play their side, and return what the caller hears next."""
    click.secho(f"-> ringing {heard.dial_target}", fg="yellow")
    whisper = call.agent_hears()
    click.secho(f"agent hears> {whisper.text}", fg="magenta")
    summary = decisions.transfer_summary()
    if summary:
        click.echo(json.dumps(summary, indent=2))
    choice = _prompt(f"agent ({AGENT_CHOICES})")
    if choice is None:
        call.hang_up()
        raise SystemExit(0)
    choice = choice.strip()
    if choice == "1":
        click.secho(f"agent hears> {call.agent_presses('1').text}", fg="magenta")
        click.secho("-- the caller and the agent talk --", bold=True)
        if _prompt("Enter ends the agent's call") is None:
            call.hang_up()
            raise SystemExit(0)
        return call.dial_ends("completed")
    if choice == "2":
        click.secho(f"agent hears> {call.agent_presses('2').text}", fg="magenta")
        return call.dial_ends("completed")
    click.secho("-- no answer --", bold=True)
    return call.dial_ends("no-answer")


def _prompt(label: str) -> str | None:
    """A line from the terminal; None when input ends (the simulated person hangs up)."""
    try:
        return str(click.prompt(label, default="", show_default=False))
    except click.exceptions.Abort:
        return None


class Decisions:
    """What the server decided on the call's turns, read back from the database; each turn
    is shown once, after the answer it led to."""

    def __init__(self, database_url: str, call_sid: str):
        self.database_url = database_url
        self.call_sid = call_sid
        self.shown = 0  # the sequence number of the last turn shown

    def show_new(self) -> None:
        from ivr.storage import repository
        from ivr.storage.db import session_scope

        with session_scope(self.database_url) as session:
            stored = repository.get_call(session, self.call_sid)
            if stored is None:
                return
            node = stored.state.get("node")
            for turn in repository.turns_of(session, stored):
                if turn.seq <= self.shown:
                    continue
                self.shown = turn.seq
                if turn.kind == "action":
                    click.secho(f"   [action {turn.action}: "
                                f"{'ok' if turn.action_ok else 'FAILED'}]", dim=True)
                elif turn.intent:
                    click.secho(f"   [heard {turn.kind}; intent {turn.intent} "
                                f"{turn.intent_confidence:.2f}; now at {node}]", dim=True)

    def transfer_summary(self) -> dict[str, Any] | None:
        from ivr.storage import repository
        from ivr.storage.db import session_scope

        with session_scope(self.database_url) as session:
            stored = repository.get_call(session, self.call_sid)
            transfer = repository.latest_transfer(session, stored) if stored else None
            return dict(transfer.summary) if transfer else None
