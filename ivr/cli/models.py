"""The `ivr models` commands: download a Vosk model, list the models on this machine."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from ivr.speech.models import DEFAULT_BASE_URL, ModelDownloadError, download_model

DEFAULT_DIR = Path("models")


@click.group("models")
def models() -> None:
    """Speech models for self-hosted recognition (Vosk)."""


models_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Folder that holds the models.",
)
"""The models folder option, shared by the commands."""


@models.command("download")
@click.argument("name")
@models_dir_option
@click.option("--sha256", default=None, help="Expected SHA-256 of the zip, in hex.")
@click.option(
    "--base-url", default=DEFAULT_BASE_URL, show_default=True, help="Where the model zips are."
)
def download(name: str, directory: Path, sha256: str | None, base_url: str) -> None:
    """Download the Vosk model NAME (e.g. vosk-model-small-en-us-0.15) and unpack it."""
    with ExitStack() as stack:
        try:
            target = download_model(
                name,
                directory,
                base_url=base_url,
                sha256=sha256,
                progress=_ProgressBar(stack, f"Downloading {name}"),
            )
        except ModelDownloadError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"Saved {name} to {target}")
    click.echo(f"Use it with: IVR_ASR=vosk IVR_VOSK_MODEL={target}")


class _ProgressBar:
    """A click progress bar, opened once the download's size is known."""

    def __init__(self, stack: ExitStack, label: str) -> None:
        self._stack = stack
        self._label = label
        self._bar: Any = None
        self._shown = 0

    def __call__(self, received: int, total: int) -> None:
        if self._bar is None and total:
            self._bar = self._stack.enter_context(
                click.progressbar(length=total, label=self._label)
            )
        if self._bar is not None:
            self._bar.update(received - self._shown)
        self._shown = received


@models.command("list")
@models_dir_option
def list_models(directory: Path) -> None:
    """List the model folders that are there."""
    folders = (
        sorted(
            path for path in directory.iterdir() if path.is_dir() and not path.name.startswith(".")
        )
        if directory.is_dir()
        else []
    )
    if not folders:
        click.echo(
            f"No models in {directory}. Download one with: "
            "ivr models download vosk-model-small-en-us-0.15"
        )
        return
    for folder in folders:
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        is_model = (folder / "conf" / "model.conf").is_file() or (
            folder / "am" / "final.mdl"
        ).is_file()
        note = "" if is_model else "  (not a Vosk model: no conf/model.conf or am/final.mdl)"
        click.echo(f"{folder.name}\t{size / 2**20:.0f} MB{note}")
