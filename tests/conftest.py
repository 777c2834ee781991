"""Shared fixtures: the bundled flow, settings on a temporary database, a signed test app."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import Settings, load_settings
from ivr.dialog.parse import parse_flow
from ivr.dialog.schema import Flow

pytest_plugins = ["pg_fixture"]

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_FLOW = ROOT / "dialogs" / "support.yaml"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
POSTGRES_FIXTURES = frozenset({"postgres_url", "fresh_postgres_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the PostgreSQL server `postgres`, so that `-m "not postgres"`
    leaves them all out: those asking for a PostgreSQL fixture, and those parametrized with one's
    name and fetching it by `request.getfixturevalue` (directly, through a parametrized fixture,
    or indirectly)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None:
            names.update(value for value in callspec.params.values() if isinstance(value, str))
        if names & POSTGRES_FIXTURES and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def support_flow() -> Flow:
    return parse_flow(BUNDLED_FLOW.read_text(), str(BUNDLED_FLOW))


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings as a deployment would have them, on the given database. Answers use <Say>
    (tts=twilio) unless a test asks otherwise, so that tests can read what callers hear."""
    overrides = {"tts": "twilio", **overrides}
    environ = {
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "IVR_PUBLIC_URL": "https://ivr.example.com",
        "IVR_DATABASE_URL": database_url,
        "IVR_DIALOGS": str(ROOT / "dialogs"),
        "IVR_API_TOKEN": "api-token-for-tests",
        "IVR_SECRET_KEY": "pseudonym-key-for-tests",
    }
    return load_settings(config_dir=ROOT / "config", environ=environ, **overrides)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ivr.sqlite3'}"


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return make_settings(sqlite_url)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from ivr.web import create_app

    return create_app(settings)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def new_call(client, settings):  # type: ignore[no-untyped-def]
    """A factory of simulated callers talking to the app through signed webhooks."""
    from ivr.testing.simulated_call import SimulatedCall, flask_post

    def make(**kwargs: object) -> SimulatedCall:
        return SimulatedCall(flask_post(client), auth_token=AUTH_TOKEN,
                             public_url=settings.public_url, **kwargs)  # type: ignore[arg-type]

    return make
