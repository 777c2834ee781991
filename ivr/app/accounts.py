"""Console accounts: users and roles, argon2id passwords, rate-limited sign-in, permissions.

No Flask here: the web layer (`ivr.web.auth`) and the CLI (`ivr users`) both use `Accounts`.

Sign-in attempts are counted in the audit trail, so every process and server sees the same
counts: at most `privacy.sign_in_attempts` failures per account within
`privacy.sign_in_window_minutes` (a successful sign-in starts the account's count afresh), and
as many per client, where a client is an HMAC of its IP address, never the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr.config import Settings
from ivr.storage import audit, users
from ivr.storage.db import session_scope
from ivr.storage.models import Call, Transfer, User, as_utc, utcnow

ROLES = ("agent", "supervisor", "admin")
OWN_CALLS = "own-calls"
FIGURES = "figures"
USERS = "users"
FLOWS = "flows"
AUDIT = "audit"
PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({OWN_CALLS}),
    "supervisor": frozenset({OWN_CALLS, FIGURES}),
    "admin": frozenset({OWN_CALLS, FIGURES, USERS, FLOWS, AUDIT}),
}

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# Starts with a letter, so a username is never a phone number, and has no ":", so it never
# collides with the `client:<hash>` targets of the audit trail.
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
USERNAME_RULES = ("2 to 64 characters: lowercase letters, digits, '.', '_' or '-', "
                  "starting with a letter")
AGENT_TARGET = re.compile(
    r"^(\+[1-9][0-9]{6,14}|client:[A-Za-z0-9_.-]{1,100}|sip:[^\s<>\"]{3,120})$")
AGENT_TARGET_RULES = "a phone number in E.164 (+15005550006), client:NAME or sip:user@host"


class AccountError(ValueError):
    """A user cannot be added or changed as asked; the message says why."""


class TooManyAttempts(Exception):
    """Too many failed sign-ins for this account or client; `retry_after` is in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins: try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    """A user as the rest of the server sees it: no password hash, detached from any session."""

    id: int
    username: str
    role: str
    agent_target: str | None
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def permissions(self) -> frozenset[str]:
        return PERMISSIONS.get(self.role, frozenset())

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(user.id, user.username, user.role, user.agent_target, user.disabled,
                   as_utc(user.created_at),
                   as_utc(user.last_sign_in_at) if user.last_sign_in_at else None)


def client_key(secret: bytes, address: str) -> str:
    """The name a client's failed sign-ins are counted under: a keyed hash of its address."""
    return hmac.new(secret, b"sign-in client\x00" + address.encode(), hashlib.sha256) \
        .hexdigest()[:32]


class Accounts:
    """Users of one database. `clock` is injectable so tests can move time instead of waiting."""

    def __init__(self, settings: Settings, *, hasher: PasswordHasher | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.url = settings.database_url
        self.secret = settings.secret
        self.attempts = settings.privacy.sign_in_attempts
        self.window = timedelta(minutes=settings.privacy.sign_in_window_minutes)
        self.hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self.clock = clock

    def client_key(self, address: str) -> str:
        return client_key(self.secret, address)

    # Users -----------------------------------------------------------------------------

    def add(self, username: str, password: str, role: str, *, agent_target: str | None = None,
            actor: str) -> Account:
        """A new user; raises `AccountError` for a taken or malformed name, a short password,
        an unknown role or an agent target another enabled user already answers on."""
        name = normalise_username(username)
        if not USERNAME.fullmatch(name):
            raise AccountError(f"username {username!r} is not allowed: {USERNAME_RULES}")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
        check_password(password)
        target = (agent_target or "").strip() or None
        if target is not None and not AGENT_TARGET.fullmatch(target):
            raise AccountError(f"agent target {target!r} is not {AGENT_TARGET_RULES}")
        password_hash = self.hasher.hash(password)
        taken = AccountError(f"a user named {name!r} already exists")
        try:
            with session_scope(self.url) as session:
                if users.by_username(session, name) is not None:
                    raise taken
                if target is not None and any(
                        not other.disabled for other in users.by_agent_target(session, target)):
                    raise AccountError(f"another user already answers transfers on {target}")
                user = users.add(session, username=name, password_hash=password_hash,
                                 role=role, agent_target=target)
                self._audit(session, actor, audit.USER_ADDED, name, role=role)
                return Account.of(user)
        except IntegrityError:  # added by someone else at the same moment
            raise taken from None

    def disable(self, username: str, *, actor: str) -> Account:
        """Disable a user: they cannot sign in, and their open sessions end at once."""
        name = normalise_username(username)
        with session_scope(self.url) as session:
            user = users.by_username(session, name, lock=True)
            if user is None:
                raise AccountError(f"there is no user named {name!r}")
            if not user.disabled:
                users.set_disabled(user)
                self._audit(session, actor, audit.USER_DISABLED, name)
            return Account.of(user)

    def list_users(self) -> list[Account]:
        with session_scope(self.url) as session:
            return [Account.of(user) for user in users.list_users(session)]

    def active(self, user_id: int) -> Account | None:
        """The user behind a console session, or None when gone or disabled."""
        with session_scope(self.url) as session:
            user = users.by_id(session, user_id)
            return None if user is None or user.disabled else Account.of(user)

    def signed_out(self, account: Account) -> None:
        with session_scope(self.url) as session:
            self._audit(session, account.username, audit.SIGN_OUT, account.username)

    # Sign-in ---------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, client_key: str) -> Account | None:
        """The account for a correct username and password, else None.

        Raises `TooManyAttempts` when the account or the client has failed too often lately
        (checked before the password, so a locked account gives nothing away). Unknown and
        disabled users cost the same hashing time as real ones.
        """
        name = normalise_username(username)
        account_target = name if USERNAME.fullmatch(name) else None
        client_target = f"client:{client_key}"
        with session_scope(self.url) as session:
            self._check_limits(session, account_target, client_target)
            user = users.by_username(session, account_target) if account_target else None
            stored_hash = user.password_hash if user is not None else None

        correct = self._verify(stored_hash, password)
        new_hash = None
        if correct and stored_hash is not None and self.hasher.check_needs_rehash(stored_hash):
            new_hash = self.hasher.hash(password)

        # Checked again and recorded in one serialised transaction: parallel attempts that
        # all passed the first check cannot together exceed the limit.
        with self._serialised_session() as session:
            user = users.by_username(session, account_target, lock=True) \
                if account_target else None
            self._check_limits(session, account_target, client_target)
            if correct and user is not None and not user.disabled:
                if new_hash is not None and user.password_hash == stored_hash:
                    users.set_password_hash(user, new_hash)
                users.touch_sign_in(user, self.clock())
                self._audit(session, user.username, audit.SIGN_IN, user.username,
                            client=client_key)
                return Account.of(user)
            reason = ("invalid-username" if account_target is None else
                      "unknown-user" if user is None else
                      "disabled" if user.disabled else "wrong-password")
            if account_target is not None:
                self._audit(session, account_target, audit.SIGN_IN_FAILED, account_target,
                            client=client_key, reason=reason)
            self._audit(session, account_target or "unknown", audit.SIGN_IN_FAILED,
                        client_target, reason=reason)
            return None

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD_LENGTH:
            password = password[:MAX_PASSWORD_LENGTH]
            stored_hash = None  # never right, but it still costs a hash
        try:
            return self.hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @cached_property
    def _dummy_hash(self) -> str:
        """Verified against for unknown users, so they take as long as real ones."""
        return self.hasher.hash("no user has this password, it is only timed")

    def _check_limits(self, session: Session, account_target: str | None,
                      client_target: str) -> None:
        now = self.clock()
        waits = [self._wait(session, client_target, now)]
        if account_target is not None:
            last = audit.entries(session, action=audit.SIGN_IN, target=account_target, limit=1)
            waits.append(self._wait(session, account_target, now,
                                    after_id=last[0].id if last else 0))
        if max(waits) > 0:
            raise TooManyAttempts(max(waits))

    def _wait(self, session: Session, target: str, now: datetime, *, after_id: int = 0) -> int:
        """Seconds until `target` is below the limit of failures in the window (those after
        entry `after_id` only); 0 when it already is."""
        start = now - self.window
        recent = [as_utc(entry.at) for entry in audit.entries(
            session, action=audit.SIGN_IN_FAILED, target=target, limit=self.attempts)
            if entry.id > after_id and as_utc(entry.at) > start]
        if len(recent) < self.attempts:
            return 0
        return max(1, math.ceil((recent[-1] + self.window - now).total_seconds()))

    def _audit(self, session: Session, actor: str, action: str, target: str,
               **detail: object) -> None:
        entry = audit.record(session, actor, action, target, **detail)
        entry.at = self.clock()  # the limits are measured with the same clock

    @contextmanager
    def _serialised_session(self) -> Iterator[Session]:
        """A session whose SQLite transaction holds the write lock from its start (BEGIN
        IMMEDIATE). On PostgreSQL the user's row is locked (`by_username(lock=True)`), which
        serialises the attempts on one account; per-client counts are not locked there, so
        parallel requests can overshoot a client's limit by a few."""
        with session_scope(self.url, write_lock=True) as session:
            yield session


def normalise_username(username: str) -> str:
    return username.strip().lower()[:200]


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} "
                           "characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD_LENGTH} characters")



# Which calls an account may see --------------------------------------------------------


def own_transfers(session: Session, account: Account, *, limit: int = 200) -> list[Transfer]:
    """Transfers this account's agent target accepted, newest first (with their calls)."""
    if not account.can(OWN_CALLS) or not account.agent_target:
        return []
    return users.transfers_accepted_by(session, account.agent_target, limit=limit)


def may_see_call(session: Session, account: Account, call: Call) -> bool:
    """Only the agent who took one of the call's transfers sees it."""
    if not account.can(OWN_CALLS) or not account.agent_target:
        return False
    return users.took_a_transfer_of(session, account.agent_target, call)
