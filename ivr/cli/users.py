"""The `ivr users` commands: add, list and disable the people who sign in to the console."""

from __future__ import annotations

import sys

import click

from ivr.app.accounts import MIN_PASSWORD_LENGTH, ROLES, AccountError, Accounts
from ivr.cli.common import cli_actor, settings_for_data


class UsageProblem(click.ClickException):
    """A clear message and exit status 2, like click's own usage errors."""

    exit_code = 2


def _accounts() -> Accounts:
    return Accounts(settings_for_data())


@click.group("users")
def users() -> None:
    """People who sign in to the agent console, and their roles."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="agent: own calls; supervisor: + figures; admin: + users, flows, audit.")
@click.option("--agent-target", default=None,
              help="The number, client:NAME or sip: address this person takes transfers on.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def add(name: str, role: str, agent_target: str | None, password_stdin: bool) -> None:
    """Add the user NAME (asks for the password twice unless --password-stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
                                hide_input=True, confirmation_prompt=True)
    try:
        account = _accounts().add(name, password, role, agent_target=agent_target,
                                  actor=cli_actor())
    except AccountError as error:
        raise UsageProblem(str(error)) from None
    target = f", takes transfers on {account.agent_target}" if account.agent_target else ""
    click.echo(f"added {account.role} {account.username}{target}")


@users.command("list")
def list_users() -> None:
    """List the users with their role, agent target and last sign-in."""
    accounts = _accounts().list_users()
    if not accounts:
        click.echo("no users yet: add one with `ivr users add NAME --role admin`")
        return
    rows = [("USERNAME", "ROLE", "AGENT TARGET", "STATUS", "LAST SIGN-IN")]
    for account in accounts:
        rows.append((account.username, account.role, account.agent_target or "-",
                     "disabled" if account.disabled else "active",
                     f"{account.last_sign_in_at:%Y-%m-%d %H:%M}" if account.last_sign_in_at
                     else "never"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                   .rstrip())


@users.command("disable")
@click.argument("name")
def disable(name: str) -> None:
    """Disable the user NAME: no more sign-ins, and open console sessions end at once."""
    try:
        account = _accounts().disable(name, actor=cli_actor())
    except AccountError as error:
        raise UsageProblem(str(error)) from None
    click.echo(f"disabled {account.username}")
