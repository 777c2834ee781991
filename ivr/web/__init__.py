"""Flask app factory: settings, flows, database, and the blueprints."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import IntegrityError
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.app.accounts import Accounts
from ivr.app.calls import CallService
from ivr.app.flows import load_flows
from ivr.config import Settings, load_settings
from ivr.dialog.schema import Flow
from ivr.speech.tts import PromptLibrary
from ivr.storage import crypto, repository
from ivr.storage.db import engine_for, session_scope
from ivr.storage.migrate import upgrade

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
CONSOLE_SESSION_HOURS = 8


def create_app(
    settings: Settings | None = None,
    flows: dict[str, Flow] | None = None,
    *,
    migrate: bool | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    """The WSGI app. Refuses to start with an invalid flow (raises `FlowError`).

    SQLite databases are migrated automatically; PostgreSQL ones with `ivr db upgrade`
    unless `migrate=True`. `clock` replaces the real time of the use cases (tests).
    """
    settings = settings or load_settings()
    crypto.configure(settings.data_keys)
    flows = flows if flows is not None else load_flows(settings.dialogs_dir)
    if settings.default_flow not in flows:
        raise ValueError(f"default flow {settings.default_flow!r} is not among the flows in "
                         f"{settings.dialogs_dir}: {', '.join(sorted(flows))}")
    if migrate if migrate is not None else settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    if settings.demo_data:
        try:
            with session_scope(settings.database_url, write_lock=True) as session:
                repository.seed_demo_orders(session)
        except IntegrityError:
            log.info("demo orders were seeded by another process")
    engine_for(settings.database_url).dispose()  # no pooled connection crosses a fork

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    # Console sessions: signed with a key of their own derived from the secret, never the
    # secret itself. WTF_CSRF_SSL_STRICT stays on: it only checks the Referer of HTTPS
    # requests (plain-HTTP development and tests are unaffected).
    app.secret_key = hmac.new(settings.secret, b"ivr console session cookie",
                              hashlib.sha256).hexdigest()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=CONSOLE_SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=CONSOLE_SESSION_HOURS * 3600,  # a form stays good for the session
    )
    if settings.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops,  # type: ignore[method-assign]
                                x_proto=settings.proxy_hops, x_host=settings.proxy_hops)
    calls = CallService(settings, flows, clock=clock)
    calls.warm_up()
    app.extensions["ivr"] = {
        "settings": settings,
        "flows": flows,
        "calls": calls,
        "handoff": calls.handoff,
        "accounts": Accounts(settings),
        "prompts": PromptLibrary(settings.prompts_dir, cache_secret=settings.secret),
        "engine": None,
    }
    _warn_unrendered_first_audio(app.extensions["ivr"]["prompts"], flows)
    if settings.asr != "twilio":
        from ivr.speech.asr import open_engine

        # In the server's process: one model, loaded before gunicorn forks so workers share
        # its pages. A recognition pool starts its processes in each worker, on first use.
        app.extensions["ivr"]["engine"] = open_engine(settings.asr,
                                                      vosk_model=settings.vosk_model,
                                                      processes=settings.asr_processes)
    if not settings.validate_signatures:
        log.warning("!!! Twilio signature checks are OFF (IVR_VALIDATE_SIGNATURES=false). "
                    "Anyone can drive calls on this server. Never do this in production. !!!")
    if not settings.data_keys:
        log.warning("IVR_ENCRYPTION_KEYS is not set: call data is encrypted with the public "
                    "development key. Set it (`ivr keys generate`) in production.")
    if settings.twilio_auth_token is None and settings.validate_signatures:
        log.warning("TWILIO_AUTH_TOKEN is not set: requests must be signed with the development "
                    "token, so real Twilio requests will be refused (403).")

    from ivr.web.agents import agent_pages
    from ivr.web.api import api
    from ivr.web.auth import auth
    from ivr.web.console import console
    from ivr.web.health import health
    from ivr.web.live import live
    from ivr.web.prompts import prompts
    from ivr.web.stream import stream
    from ivr.web.voice import voice

    app.register_blueprint(voice)
    app.register_blueprint(stream)
    app.register_blueprint(prompts)
    app.register_blueprint(api)
    app.register_blueprint(health)
    app.register_blueprint(auth)
    app.register_blueprint(console)
    app.register_blueprint(agent_pages)
    app.register_blueprint(live)
    csrf = CSRFProtect(app)
    # Twilio's webhooks are signed, the API and the softphone carry their own tokens.
    for blueprint in (voice, stream, prompts, api, health):
        csrf.exempt(blueprint)
    if settings.softphone:
        from ivr.web.softphone import softphone

        app.register_blueprint(softphone)
        csrf.exempt(softphone)
    return app


def _warn_unrendered_first_audio(library: PromptLibrary, flows: dict[str, Flow]) -> None:
    """A call's first audio should never wait for synthesis: say so when it would."""
    from ivr.app.prompts import first_audio

    missing = sorted(name for name, flow in flows.items()
                     if not all(library.has(text) for text in first_audio(flow)))
    if missing:
        log.warning("the first audio of flow(s) %s is not pre-rendered in %s; run "
                    "`ivr prompts build`", ", ".join(missing), library.directory)
