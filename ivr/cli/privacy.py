"""The privacy commands: `ivr purge`, `ivr forget`, `ivr export`, `ivr keys generate|rotate`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ivr.app.data_rights import DataRights, NotAPhoneNumber
from ivr.app.leases import Leases
from ivr.cli.common import cli_actor, settings_for_data
from ivr.storage import crypto

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SWEEP_SECONDS = 60.0


def _rights() -> DataRights:
    return DataRights(settings_for_data())


@click.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--every", default=None, metavar="DURATION",
              help="Keep running, purging every DURATION (e.g. 24h, 30m); agents' leases are "
                   "swept every minute meanwhile (`ivr agents sweep`).")
def purge(dry_run: bool, every: str | None) -> None:
    """Delete calls older than the retention period (retention_days) and old audit entries."""
    interval = _seconds(every) if every else None
    next_purge = time.monotonic()
    leases: Leases | None = None
    while True:
        if time.monotonic() >= next_purge:
            _purge_once(dry_run)
            if interval is None:
                return
            next_purge = time.monotonic() + interval
        if not dry_run:
            leases = leases or Leases.from_settings(settings_for_data())
            _sweep_leases(leases)
        time.sleep(min(SWEEP_SECONDS, max(0.0, next_purge - time.monotonic())))


def _purge_once(dry_run: bool) -> None:
    result = _rights().purge(cli_actor(), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {result.calls} call(s) started before "
               f"{result.calls_cutoff:%Y-%m-%d %H:%M} UTC and {result.audit_entries} audit "
               f"entr{'y' if result.audit_entries == 1 else 'ies'} before "
               f"{result.audit_cutoff:%Y-%m-%d}")


def _sweep_leases(leases: Leases) -> None:
    """Agents whose transfer or call was never reported back become available again."""
    try:
        report = leases.sweep()
    except Exception as error:  # the database may be down for a moment: try again later
        click.echo(f"lease sweep failed: {type(error).__name__}", err=True)
        return
    if report.lost_transfers or report.calls_ended:
        click.echo(f"leases: {report.lost_transfers} lost transfer(s), {report.calls_ended} "
                   "ended call(s) released their agent")


@click.command()
@click.argument("number")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def forget(number: str, yes: bool) -> None:
    """Delete everything stored about the caller with phone NUMBER (E.164, e.g. +15551234567)."""
    rights = _rights()
    try:
        rights.pseudonym(number)
    except NotAPhoneNumber as error:
        raise click.UsageError(str(error)) from None
    if not yes:
        click.confirm("Delete every call, transcript and summary of this caller?", abort=True)
    deleted = rights.forget(number, cli_actor())
    click.echo(f"deleted {deleted} call(s) of this caller (recorded in the audit trail)")


@click.command()
@click.argument("number")
@click.option("--out", "target", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON here instead of standard output.")
def export(number: str, target: Path | None) -> None:
    """Write everything stored about the caller with phone NUMBER as JSON."""
    try:
        data = _rights().export(number, cli_actor())
    except NotAPhoneNumber as error:
        raise click.UsageError(str(error)) from None
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if target:
        target.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {len(data['calls'])} call(s) to {target}", err=True)
    else:
        click.echo(text)


@click.group()
def keys() -> None:
    """Keys for data at rest (IVR_ENCRYPTION_KEYS)."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key. Put it first in IVR_ENCRYPTION_KEYS, then run `ivr keys rotate`."""
    click.echo(crypto.generate_key())


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt all stored data with the first key of IVR_ENCRYPTION_KEYS."""
    rights = _rights()
    try:
        changed = rights.rotate_keys(cli_actor())
    except crypto.DataKeyError as error:
        raise click.ClickException(f"{error}; nothing was changed") from None
    click.echo(f"re-encrypted {sum(changed.values())} value(s) with the newest key; the older "
               "keys can now be removed from IVR_ENCRYPTION_KEYS")


def _seconds(duration: str) -> int:
    unit = duration[-1:].lower()
    if unit not in DURATION_UNITS or not duration[:-1].isdigit() or int(duration[:-1]) < 1:
        raise click.BadParameter(f"{duration!r}: use a number and s, m, h or d, e.g. 24h",
                                 param_hint="--every")
    return int(duration[:-1]) * DURATION_UNITS[unit]
