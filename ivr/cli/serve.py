"""`ivr serve`: the server under gunicorn (gthread workers), as the Procfile runs it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from ivr.cli.common import fail_flows
from ivr.config import load_settings
from ivr.dialog.parse import FlowError

if TYPE_CHECKING:
    from flask import Flask


@click.command()
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
    settings = load_settings()
    if "public_url" not in settings.model_fields_set:
        # Development: Twilio signs (and `ivr simulate --url` signs) the address the server
        # is reached at, so the default follows the bound host and port.
        settings = load_settings(public_url=development_url(host, port))
    try:
        app = create_app(settings)
    except FlowError as error:
        fail_flows(error)

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("logger_class", "ivr.web.gunicorn_logging.RedactingGunicornLogger")
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 30)

        # types-gunicorn types start_response without PEP 3333's exc_info and write(), so
        # no real WSGI app (Flask's __call__ takes the full StartResponse) matches its type.
        def load(self) -> Flask:  # type: ignore[override]
            return app

    click.echo(f"Serving flows from {settings.dialogs_dir} on http://{host}:{port} "
               f"(Twilio webhook: {settings.public_url}/voice/incoming)")
    Server().run()


def development_url(host: str, port: int) -> str:
    """The base URL of a server bound to `host`:`port`, as a browser on this machine says it."""
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
