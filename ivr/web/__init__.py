"""Flask app factory: settings, flows, the database, the services and the blueprints."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.app.accounts import Accounts
from ivr.app.calls import CallService
from ivr.app.database import prepare_database
from ivr.app.feedback import AgentFeedback
from ivr.app.flows import load_flows
from ivr.app.live import LiveConsole
from ivr.app.prompts import first_audio
from ivr.app.queries import Queries
from ivr.config import Settings, load_settings
from ivr.dialog.schema import Flow
from ivr.speech.tts import PromptLibrary
from ivr.web.context import Services, SpeechEngineSlot
from ivr.web.labels import install as install_labels

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
    flows = _checked_flows(settings, flows)
    prepare_database(settings, migrate=migrate)
    app = Flask(__name__)
    _configure(app, settings)
    services = _services(settings, flows, clock)
    app.extensions["ivr"] = services
    install_labels(app)
    _protect_forms(app, exempt=_register_blueprints(app, settings))
    _warn_about_configuration(services)
    return app


def _checked_flows(settings: Settings, flows: dict[str, Flow] | None) -> dict[str, Flow]:
    flows = flows if flows is not None else load_flows(settings.dialogs_dir)
    if settings.default_flow not in flows:
        raise ValueError(f"default flow {settings.default_flow!r} is not among the flows in "
                         f"{settings.dialogs_dir}: {', '.join(sorted(flows))}")
    return flows


def _configure(app: Flask, settings: Settings) -> None:
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


def _services(settings: Settings, flows: dict[str, Flow],
              clock: Callable[[], datetime] | None) -> Services:
    calls = CallService(settings, flows, clock=clock)
    calls.warm_up()
    speech = SpeechEngineSlot(settings)
    if settings.asr != "twilio":
        # In the server's process: one model, loaded before gunicorn forks so workers share
        # its pages. A recognition pool starts its processes in each worker, on first use.
        speech.open()
    return Services(
        settings=settings,
        flows=flows,
        calls=calls,
        handoff=calls.handoff,
        accounts=Accounts(settings),
        prompts=PromptLibrary(settings.prompts_dir, cache_secret=settings.secret),
        queries=Queries(settings),
        live=LiveConsole(settings, flows, calls.handoff),
        feedback=AgentFeedback(settings, flows),
        speech=speech,
    )


def _register_blueprints(app: Flask, settings: Settings) -> list[Blueprint]:
    """Every blueprint; returns those machines call (Twilio, API clients, the softphone's
    script), which carry signatures or tokens of their own instead of CSRF tokens."""
    from ivr.web.api import api
    from ivr.web.health import health
    from ivr.web.prompts import prompts
    from ivr.web.staff import staff
    from ivr.web.stream import stream
    from ivr.web.voice import voice

    machine_facing = [voice, stream, prompts, api, health]
    if settings.softphone:
        from ivr.web.softphone import softphone

        machine_facing.append(softphone)
    for blueprint in (*machine_facing, staff):
        app.register_blueprint(blueprint)
    return machine_facing


def _protect_forms(app: Flask, exempt: list[Blueprint]) -> None:
    """CSRF tokens on every form post, except to the blueprints in `exempt`."""
    csrf = CSRFProtect(app)
    for blueprint in exempt:
        csrf.exempt(blueprint)


def _warn_about_configuration(services: Services) -> None:
    settings = services.settings
    _warn_unrendered_first_audio(services.prompts, services.flows)
    if not settings.validate_signatures:
        log.warning("!!! Twilio signature checks are OFF (IVR_VALIDATE_SIGNATURES=false). "
                    "Anyone can drive calls on this server. Never do this in production. !!!")
    if not settings.data_keys:
        log.warning("IVR_ENCRYPTION_KEYS is not set: call data is encrypted with the public "
                    "development key. Set it (`ivr keys generate`) in production.")
    if settings.twilio_auth_token is None and settings.validate_signatures:
        log.warning("TWILIO_AUTH_TOKEN is not set: requests must be signed with the development "
                    "token, so real Twilio requests will be refused (403).")


def _warn_unrendered_first_audio(library: PromptLibrary, flows: dict[str, Flow]) -> None:
    """A call's first audio should never wait for synthesis: say so when it would."""
    missing = sorted(name for name, flow in flows.items()
                     if not all(library.has(text) for text in first_audio(flow)))
    if missing:
        log.warning("the first audio of flow(s) %s is not pre-rendered in %s; run "
                    "`ivr prompts build`", ", ".join(missing), library.directory)
