"""Console accounts: argon2id passwords, roles, sign-in rate limits counted in the database,
the audit trail, and the `ivr users` commands on a real SQLite file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError
from click.testing import CliRunner
from conftest import ROOT, make_settings
from helpers.stored import audit_entries
from sqlalchemy import select

from ivr.app.accounts import (
    AUDIT,
    FIGURES,
    FLOWS,
    OWN_CALLS,
    USERS,
    AccountError,
    Accounts,
    TooManyAttempts,
    client_key,
)
from ivr.config import Settings
from ivr.storage import audit, crypto
from ivr.storage.db import session_scope
from ivr.storage.migrate import upgrade
from ivr.storage.models import User

PASSWORD = "correct horse battery"
WINDOW = timedelta(minutes=15)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting how often it verifies."""

    verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def db(settings: Settings) -> Settings:
    crypto.configure(settings.data_keys)
    upgrade(settings.database_url)
    return settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(db: Settings, clock: Clock) -> Accounts:
    return Accounts(db, clock=clock)


def stored_user(settings: Settings, username: str) -> User:
    with session_scope(settings.database_url) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        session.expunge(user)
        return user


def client(number: int = 1) -> str:
    return client_key(b"pseudonym-key-for-tests", f"203.0.113.{number}")


# Passwords and users ---------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_that_verify(accounts: Accounts, db: Settings) -> None:
    added = accounts.add("Alice", PASSWORD, "agent", agent_target="+15005550006",
                         actor="cli:test")
    assert (added.username, added.role, added.agent_target) == ("alice", "agent", "+15005550006")
    stored = stored_user(db, "alice")
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert PasswordHasher().verify(stored.password_hash, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored.password_hash, PASSWORD + "!")
    assert stored.last_sign_in_at is None

    signed_in = accounts.authenticate("alice", PASSWORD, client())
    assert signed_in is not None and signed_in.id == added.id
    assert stored_user(db, "alice").last_sign_in_at is not None
    [entry] = audit_entries(db, action=audit.SIGN_IN)
    assert (entry.actor, entry.target, entry.detail) == ("alice", "alice", {"client": client()})
    [entry] = audit_entries(db, action=audit.USER_ADDED)
    assert (entry.actor, entry.target, entry.detail["role"]) == ("cli:test", "alice", "agent")


def test_wrong_password_and_unknown_user_fail_and_are_audited(accounts: Accounts,
                                                             db: Settings) -> None:
    accounts.add("alice", PASSWORD, "agent", actor="cli:test")
    assert accounts.authenticate("alice", "not the password at all", client()) is None
    assert accounts.authenticate("mallory", PASSWORD, client()) is None
    assert accounts.authenticate("+14155550123", PASSWORD, client()) is None
    by_account = audit_entries(db, action=audit.SIGN_IN_FAILED, target="alice")
    assert [(e.actor, e.detail) for e in by_account] == [
        ("alice", {"client": client(), "reason": "wrong-password"})]
    assert audit_entries(db, action=audit.SIGN_IN_FAILED, target="mallory")[0].detail["reason"] \
        == "unknown-user"
    by_client = audit_entries(db, action=audit.SIGN_IN_FAILED, target=f"client:{client()}")
    assert [e.detail["reason"] for e in by_client] == [
        "invalid-username", "unknown-user", "wrong-password"]
    everything = " ".join(f"{e.actor} {e.target} {e.detail}" for e in audit_entries(db))
    assert "203.0.113" not in everything, "the client's address is only stored as an HMAC"
    assert "+14155550123" not in everything, "a phone number typed as a username is not kept"
    assert audit_entries(db, action=audit.SIGN_IN) == []


def test_unknown_users_cost_as_much_hashing_as_real_ones(db: Settings, clock: Clock) -> None:
    hasher = CountingHasher()
    accounts = Accounts(db, hasher=hasher, clock=clock)
    accounts.add("alice", PASSWORD, "agent", actor="cli:test")
    for username, password in (("alice", "wrong password here"), ("nobody", PASSWORD),
                               ("NOT A NAME!", PASSWORD), ("alice", "x" * 5000)):
        before = hasher.verified
        assert accounts.authenticate(username, password, client()) is None
        assert hasher.verified == before + 1, username


def test_disabled_users_cannot_sign_in_and_are_no_longer_active(accounts: Accounts,
                                                                db: Settings) -> None:
    alice = accounts.add("alice", PASSWORD, "supervisor", actor="cli:test")
    assert accounts.active(alice.id) == alice
    disabled = accounts.disable("ALICE", actor="admin")
    assert disabled.disabled
    assert accounts.active(alice.id) is None
    assert accounts.authenticate("alice", PASSWORD, client()) is None
    [failure] = audit_entries(db, action=audit.SIGN_IN_FAILED, target="alice")
    assert failure.detail["reason"] == "disabled"
    [entry] = audit_entries(db, action=audit.USER_DISABLED)
    assert (entry.actor, entry.target) == ("admin", "alice")
    with pytest.raises(AccountError, match="no user named 'bob'"):
        accounts.disable("bob", actor="admin")


@pytest.mark.parametrize(("username", "password", "role", "target", "problem"), [
    ("alice", PASSWORD, "agent", None, "already exists"),
    ("bob", "eleven char", "agent", None, "too short"),
    ("bob", PASSWORD, "superuser", None, "unknown role"),
    ("14155550123", PASSWORD, "agent", None, "not allowed"),
    ("b", PASSWORD, "agent", None, "not allowed"),
    ("bob", PASSWORD, "agent", "4155550123", "not a phone number in E.164"),
    ("bob", PASSWORD, "agent", "+15005550006", "already answers transfers"),
])
def test_add_refuses_with_a_clear_reason(accounts: Accounts, db: Settings, username: str,
                                         password: str, role: str, target: str | None,
                                         problem: str) -> None:
    accounts.add("alice", PASSWORD, "agent", agent_target="+15005550006", actor="cli:test")
    with pytest.raises(AccountError, match=problem):
        accounts.add(username, password, role, agent_target=target, actor="cli:test")
    assert [user.username for user in accounts.list_users()] == ["alice"]


def test_a_disabled_agents_target_can_be_given_to_someone_else(accounts: Accounts) -> None:
    accounts.add("alice", PASSWORD, "agent", agent_target="client:desk", actor="cli:test")
    accounts.disable("alice", actor="cli:test")
    bob = accounts.add("bob", PASSWORD, "agent", agent_target="client:desk", actor="cli:test")
    assert bob.agent_target == "client:desk"


def test_permissions_are_data_per_role(accounts: Accounts) -> None:
    agent = accounts.add("ann", PASSWORD, "agent", actor="t")
    supervisor = accounts.add("sue", PASSWORD, "supervisor", actor="t")
    admin = accounts.add("ada", PASSWORD, "admin", actor="t")
    assert agent.permissions == {OWN_CALLS}
    assert supervisor.permissions == {OWN_CALLS, FIGURES}
    assert admin.permissions == {OWN_CALLS, FIGURES, USERS, FLOWS, AUDIT}
    assert not agent.can(FIGURES) and not supervisor.can(USERS) and admin.can(AUDIT)


def test_hashes_are_renewed_when_the_parameters_change(db: Settings, clock: Clock) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    Accounts(db, hasher=weak, clock=clock).add("alice", PASSWORD, "agent", actor="t")
    old_hash = stored_user(db, "alice").password_hash
    assert "m=8192,t=1,p=1" in old_hash

    current = Accounts(db, clock=clock)  # the default (stronger) parameters
    assert current.authenticate("alice", PASSWORD, client()) is not None
    new_hash = stored_user(db, "alice").password_hash
    assert new_hash != old_hash and not current.hasher.check_needs_rehash(new_hash)
    assert PasswordHasher().verify(new_hash, PASSWORD)
    assert current.authenticate("alice", PASSWORD, client()) is not None


# Sign-in rate limits -------------------------------------------------------------------


def test_an_account_is_locked_after_n_failures_and_recovers_after_the_window(
        accounts: Accounts, db: Settings, clock: Clock) -> None:
    limit = db.privacy.sign_in_attempts
    accounts.add("alice", PASSWORD, "agent", actor="t")
    for attempt in range(limit):  # each from another address: the account's count applies
        assert accounts.authenticate("alice", f"wrong password {attempt}", client(attempt)) \
            is None
        clock.advance(timedelta(seconds=10))
    with pytest.raises(TooManyAttempts) as locked:
        accounts.authenticate("alice", PASSWORD, client(99))  # even the right password
    first_failure_ends = WINDOW - timedelta(seconds=10 * limit)
    assert locked.value.retry_after == first_failure_ends.total_seconds()
    failures = len(audit_entries(db, action=audit.SIGN_IN_FAILED, target="alice"))
    assert failures == limit, "refused attempts are not counted, so they do not extend the lock"

    clock.advance(first_failure_ends - timedelta(seconds=1))
    with pytest.raises(TooManyAttempts) as still:
        accounts.authenticate("alice", PASSWORD, client(99))
    assert still.value.retry_after == 1
    clock.advance(timedelta(seconds=1))
    assert accounts.authenticate("alice", PASSWORD, client(99)) is not None


def test_unknown_accounts_lock_like_real_ones(accounts: Accounts, clock: Clock) -> None:
    for attempt in range(5):
        assert accounts.authenticate("nobody", PASSWORD, client(attempt)) is None
    with pytest.raises(TooManyAttempts):
        accounts.authenticate("nobody", PASSWORD, client(42))


def test_a_client_is_limited_across_accounts(accounts: Accounts, db: Settings,
                                             clock: Clock) -> None:
    accounts.add("alice", PASSWORD, "agent", actor="t")
    for name in ("bob", "carol", "dave", "erin", "frank"):
        assert accounts.authenticate(name, PASSWORD, client(1)) is None
    with pytest.raises(TooManyAttempts) as locked:
        accounts.authenticate("alice", PASSWORD, client(1))
    assert locked.value.retry_after == WINDOW.total_seconds()
    assert accounts.authenticate("alice", PASSWORD, client(2)) is not None
    clock.advance(WINDOW)
    assert accounts.authenticate("alice", PASSWORD, client(1)) is not None


def test_a_successful_sign_in_starts_the_accounts_count_afresh(accounts: Accounts) -> None:
    accounts.add("alice", PASSWORD, "agent", actor="t")
    for attempt in range(4):
        assert accounts.authenticate("alice", "typo typo typo", client(attempt)) is None
    assert accounts.authenticate("alice", PASSWORD, client(10)) is not None
    for attempt in range(4):
        assert accounts.authenticate("alice", "typo typo typo", client(20 + attempt)) is None
    assert accounts.authenticate("alice", PASSWORD, client(30)) is not None


@pytest.fixture(params=["sqlite_url", "fresh_postgres_url"])
def any_db(request: pytest.FixtureRequest) -> Settings:
    """Settings on a migrated SQLite file, then on a real PostgreSQL database."""
    settings = make_settings(request.getfixturevalue(request.param))
    crypto.configure(settings.data_keys)
    upgrade(settings.database_url)
    return settings


def test_the_limit_is_shared_through_the_database(any_db: Settings, clock: Clock) -> None:
    """Two services on one database (as in two server processes) share the counts."""
    first, second = Accounts(any_db, clock=clock), Accounts(any_db, clock=clock)
    first.add("alice", PASSWORD, "agent", actor="t")
    for attempt in range(5):
        service = first if attempt % 2 else second
        assert service.authenticate("alice", "wrong password!", client(attempt)) is None
    for service in (first, second):
        with pytest.raises(TooManyAttempts):
            service.authenticate("alice", PASSWORD, client(9))
    clock.advance(WINDOW)
    assert second.authenticate("alice", PASSWORD, client(9)) is not None


def test_parallel_attempts_cannot_overshoot_the_limit(any_db: Settings) -> None:
    """Twelve guesses at once, each from its own address: only the allowed number are tried;
    the rest are refused, even though all of them started before any failure was recorded."""
    accounts = Accounts(any_db)
    accounts.add("alice", PASSWORD, "agent", actor="t")

    def guess(number: int) -> str:
        try:
            accounts.authenticate("alice", f"guess number {number}", client(number))
        except TooManyAttempts:
            return "refused"
        return "failed"

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(guess, range(12)))
    limit = any_db.privacy.sign_in_attempts
    assert outcomes.count("failed") == limit and outcomes.count("refused") == 12 - limit
    assert len(audit_entries(any_db, action=audit.SIGN_IN_FAILED, target="alice")) == limit


def test_the_limit_follows_the_settings(sqlite_url: str, clock: Clock) -> None:
    settings = make_settings(sqlite_url, privacy={"sign_in_attempts": 2,
                                                  "sign_in_window_minutes": 1})
    upgrade(sqlite_url)
    accounts = Accounts(settings, clock=clock)
    accounts.add("alice", PASSWORD, "agent", actor="t")
    for attempt in range(2):
        accounts.authenticate("alice", "wrong password!", client(attempt))
    with pytest.raises(TooManyAttempts) as locked:
        accounts.authenticate("alice", PASSWORD, client(5))
    assert locked.value.retry_after == 60
    clock.advance(timedelta(minutes=1))
    assert accounts.authenticate("alice", PASSWORD, client(5)) is not None


def test_client_keys_are_keyed_hashes_of_the_address() -> None:
    key = client_key(b"secret one", "198.51.100.7")
    assert len(key) == 32 and "198" not in key
    assert key == client_key(b"secret one", "198.51.100.7")
    assert key != client_key(b"secret two", "198.51.100.7")
    assert key != client_key(b"secret one", "198.51.100.8")


# `ivr users` -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment `ivr` reads, on a fresh SQLite file; returns the database URL."""
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    for name, value in {"IVR_DATABASE_URL": url, "IVR_CONFIG_DIR": str(ROOT / "config"),
                        "IVR_DIALOGS": str(ROOT / "dialogs"),
                        "IVR_SECRET_KEY": "pseudonym-key-for-tests",
                        "IVR_LOG_FORMAT": "text"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IVR_ENCRYPTION_KEYS", raising=False)
    monkeypatch.setenv("USER", "opsperson")
    monkeypatch.setenv("LOGNAME", "opsperson")
    return url


def run_ivr(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    from ivr.cli import main

    return CliRunner().invoke(main, list(args), input=stdin)


def test_cli_adds_lists_and_disables_users(cli_env: str) -> None:
    added = run_ivr("users", "add", "Ada", "--role", "admin", "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "added admin ada" in added.output
    agent = run_ivr("users", "add", "ann", "--role", "agent", "--agent-target",
                    "client:support-desk", "--password-stdin", stdin=PASSWORD + "\n")
    assert agent.exit_code == 0, agent.output

    listed = run_ivr("users", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "AGENT", "TARGET", "STATUS", "LAST", "SIGN-IN"]
    assert lines[1].split() == ["ada", "admin", "-", "active", "never"]
    assert lines[2].split() == ["ann", "agent", "client:support-desk", "active", "never"]
    assert "$argon2" not in listed.output and PASSWORD not in listed.output
    assert "added admin ada" in added.stdout

    disabled = run_ivr("users", "disable", "ann")
    assert disabled.exit_code == 0, disabled.output
    after = {line.split()[0]: line.split() for line in run_ivr("users", "list").stdout
             .splitlines()[1:]}
    assert after["ann"][3] == "disabled" and after["ada"][3] == "active"

    with session_scope(cli_env) as session:
        users = {user.username: user for user in session.scalars(select(User))}
        trail = [(e.actor, e.action, e.target) for e in reversed(audit.entries(session))]
    assert users["ann"].disabled and not users["ada"].disabled
    assert PasswordHasher().verify(users["ada"].password_hash, PASSWORD)
    assert trail == [("cli:opsperson", audit.USER_ADDED, "ada"),
                     ("cli:opsperson", audit.USER_ADDED, "ann"),
                     ("cli:opsperson", audit.USER_DISABLED, "ann")]


def test_cli_prompts_for_the_password_twice(cli_env: str) -> None:
    result = run_ivr("users", "add", "sue", "--role", "supervisor",
                     stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output, "the password is not echoed"
    with session_scope(cli_env) as session:
        user = session.scalars(select(User).where(User.username == "sue")).one()
        assert PasswordHasher().verify(user.password_hash, PASSWORD)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("users", "add", "ada", "--role", "admin", "--password-stdin"), PASSWORD + "\n",
     "a user named 'ada' already exists"),
    (("users", "add", "bob", "--role", "agent", "--password-stdin"), "short\n",
     "the password is too short: at least 12 characters"),
    (("users", "add", "bob", "--role", "root", "--password-stdin"), PASSWORD + "\n",
     "'root' is not one of 'agent', 'supervisor', 'admin'"),
    (("users", "disable", "nobody"), None, "there is no user named 'nobody'"),
])
def test_cli_errors_are_clear_and_exit_2(cli_env: str, args: tuple[str, ...],
                                         stdin: str | None, message: str) -> None:
    first = run_ivr("users", "add", "ada", "--role", "admin", "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert first.exit_code == 0, first.output
    result = run_ivr(*args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    with session_scope(cli_env) as session:
        assert [user.username for user in session.scalars(select(User))] == ["ada"]
