"""The `ivr agents` commands: the people transfers are routed to, their queues and presence."""

from __future__ import annotations

import click

from ivr.app.routing import AgentDirectory, AgentError, AgentInfo
from ivr.cli.common import cli_actor, settings_for_data
from ivr.cli.users import UsageProblem
from ivr.storage.agents import AVAILABLE, OFFLINE, STATUSES


def _directory() -> AgentDirectory:
    return AgentDirectory(settings_for_data())


@click.group("agents")
def agents() -> None:
    """Agents: who takes transferred calls, for which queues, and whether they are free."""


@agents.command("add")
@click.argument("name")
@click.argument("target")
@click.option("--queue", "queues", multiple=True, required=True,
              help="A queue (skill) the agent serves; repeat for more, or separate with commas.")
@click.option("--status", default=OFFLINE, show_default=True, type=click.Choice(STATUSES),
              help="Presence to start with.")
def add(name: str, target: str, queues: tuple[str, ...], status: str) -> None:
    """Add the agent NAME, rung on TARGET (+E.164 number, client:ID or sip:URI)."""
    try:
        agent = _directory().add(name, target, queues, status=status, actor=cli_actor())
    except AgentError as error:
        raise UsageProblem(str(error)) from None
    click.echo(f"added {agent.name} ({agent.target}) for {', '.join(agent.queues)}: "
               f"{agent.status}")
    if agent.status != AVAILABLE:
        click.echo(f"routing rings them once they are available: "
                   f"`ivr agents status {agent.name} available`")


@agents.command("list")
def list_agents() -> None:
    """List the agents with their queues and presence."""
    found = _directory().list_agents()
    if not found:
        click.echo("no agents yet: transfers ring the [transfer.queues] targets of the "
                   "configuration. Add one with `ivr agents add NAME TARGET --queue support`")
        return
    rows: list[tuple[str, ...]] = [
        ("NAME", "TARGET", "QUEUES", "STATUS", "SINCE", "IDLE SINCE", "CALL")]
    rows += [_row(agent) for agent in found]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                   .rstrip())


def _row(agent: AgentInfo) -> tuple[str, ...]:
    return (agent.name, agent.target, ",".join(agent.queues), agent.status,
            f"{agent.status_since:%Y-%m-%d %H:%M:%S}",
            f"{agent.idle_since:%Y-%m-%d %H:%M:%S}" if agent.status == AVAILABLE else "-",
            agent.current_call_sid or "-")


@agents.command("status")
@click.argument("name")
@click.argument("status", type=click.Choice(STATUSES))
def status(name: str, status: str) -> None:
    """Set the presence of the agent NAME."""
    try:
        agent = _directory().set_status(name, status, actor=cli_actor())
    except AgentError as error:
        raise UsageProblem(str(error)) from None
    click.echo(f"{agent.name} is {agent.status}")


@agents.command("queues")
@click.argument("name")
@click.option("--queue", "queues", multiple=True, required=True,
              help="A queue the agent serves; repeat for more. Replaces the current ones.")
def queues(name: str, queues: tuple[str, ...]) -> None:
    """Set the queues the agent NAME serves (their presence and place are kept)."""
    try:
        agent = _directory().set_queues(name, queues, actor=cli_actor())
    except AgentError as error:
        raise UsageProblem(str(error)) from None
    click.echo(f"{agent.name} serves {', '.join(agent.queues)}")


@agents.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove the agent NAME: routing no longer rings them."""
    try:
        agent = _directory().remove(name, actor=cli_actor())
    except AgentError as error:
        raise UsageProblem(str(error)) from None
    click.echo(f"removed {agent.name}")


@agents.command("sweep")
def sweep() -> None:
    """End agents' leases that ran out: transfers nobody reported on, calls that ended.

    The Procfile's `purge` process does this every minute; run it by hand after an outage."""
    from ivr.app.leases import Leases

    report = Leases.from_settings(settings_for_data()).sweep()
    click.echo(f"{report.lost_transfers} ringing transfer(s) without a report released their "
               f"agent; {report.calls_ended} ended call(s) sent their agent to wrap-up; "
               f"{report.calls_still_live} call(s) still live; {report.unchecked} could not be "
               "checked with Twilio")
