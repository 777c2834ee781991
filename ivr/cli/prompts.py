"""The `ivr prompts` commands: pre-render every flow's fixed prompts as telephone audio."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ivr.app.flows import load_flows
from ivr.config import load_settings
from ivr.dialog.parse import FlowError


@click.group()
def prompts() -> None:
    """Pre-rendered speech prompts (pyttsx3, 8 kHz mu-law WAV)."""


@prompts.command("build")
@click.option(
    "--flows",
    "flows_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of flow files (default: the configured dialogs folder).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder of the audio files (default: the configured prompts folder).",
)
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    help="Delete files of prompts that no flow uses any more.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds one prompt may take before its render is abandoned.",
)
def build(flows_dir: Path | None, out_dir: Path | None, prune: bool, timeout: float) -> None:
    """Render every fixed prompt of every flow that is not rendered yet.

    Files are named by a hash of text, voice and engine, so only new or edited prompts are
    rendered. Exits 1 when a disclosure or first question could not be rendered.
    """
    # Imported here, not at the top: the synthesis worker process re-imports the main
    # module (the `ivr` script, so this module too) and should not load the whole server.
    from ivr.app.prompts import first_audio, static_prompts
    from ivr.speech.tts import PromptLibrary

    settings = load_settings()
    folder = flows_dir or settings.dialogs_dir
    try:
        flows = load_flows(folder)
    except FlowError as error:
        click.secho("The dialog flows are not valid; fix these first:", fg="red", err=True)
        for issue in error.issues:
            click.echo(f"  {issue}", err=True)
        sys.exit(2)
    texts = [text for flow in flows.values() for text in static_prompts(flow)]
    library = PromptLibrary(out_dir or settings.prompts_dir, render_timeout=timeout)
    began = time.perf_counter()
    try:
        report = library.build(texts, prune=prune)
    finally:
        library.close()
    took = time.perf_counter() - began
    click.echo(
        f"prompts in {library.directory}: {report.rendered} rendered, "
        f"{report.unchanged} unchanged, {len(report.failed)} failed, "
        f"{report.removed} removed ({took:.2f} s)"
    )
    for text in report.failed:
        click.secho(f"  failed: {text}", fg="yellow", err=True)
    missing_first = [
        (flow.name, text)
        for flow in flows.values()
        for text in first_audio(flow)
        if not library.path(text).is_file()
    ]
    if missing_first:
        for name, text in missing_first:
            click.secho(
                f"flow {name!r}: the first audio of a call is not rendered: {text}",
                fg="red",
                err=True,
            )
        sys.exit(1)
