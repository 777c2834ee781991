"""Engines, sessions and transactions for a database URL (SQLite file by default,
PostgreSQL in production)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

if TYPE_CHECKING:
    import sqlite3

WRITE_LOCK: Final = "ivr_write_lock"
DEFAULT_THREADS = 32  # the Procfile's and `ivr serve`'s threads per worker
POOL_TIMEOUT_SECONDS = 3.0
"""How long a request waits for a free connection before it fails (and the caller goes to a
person), instead of SQLAlchemy's default 30 s."""
SQLITE_BUSY_SECONDS = 5.0
"""How long SQLite waits for another writer. Turns hold the write lock for milliseconds (no
NLU, action or network call runs inside a write transaction), so a longer wait means
something is wrong and the caller is better off with a person."""


def worker_threads() -> int:
    """Request threads per server process: `IVR_THREADS`, the variable the Procfile passes to
    gunicorn's `--threads` (`ivr serve --threads` sets it too)."""
    try:
        return max(1, int(os.environ.get("IVR_THREADS", DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL per process. Statement parameters are kept out of error
    messages: they hold what callers said.

    The pool follows the request threads: every thread can hold a connection for its turn's
    short transactions while a custom action on it holds another (the overflow)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    threads = worker_threads()
    if url.startswith("sqlite:///:memory:") or url == "sqlite://":
        return _with_sqlite_events(create_engine(url, hide_parameters=True))
    if url.startswith("sqlite"):
        return _with_sqlite_events(create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_SECONDS}, hide_parameters=True,
            pool_size=threads, max_overflow=threads, pool_timeout=POOL_TIMEOUT_SECONDS))
    return create_engine(url, pool_size=threads, max_overflow=threads, pool_pre_ping=True,
                         pool_timeout=POOL_TIMEOUT_SECONDS, hide_parameters=True)


def _with_sqlite_events(engine: Engine) -> Engine:
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    connection.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A `transaction()` takes the write lock at the start, so two processes handling the same
    # call one after the other cannot both read the old state (SQLite has no SELECT ... FOR
    # UPDATE). Other transactions begin deferred: in WAL mode their reads never wait.
    immediate = connection.get_execution_options().get(WRITE_LOCK, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str, *, write_lock: bool = False) -> Iterator[Session]:
    """An ORM session that commits on success and rolls back on error.

    `write_lock`: on SQLite, take the database write lock when the transaction begins, for a
    read-then-write that another process may race (a deferred transaction that reads first
    fails at once with "database is locked" when it must upgrade to a write)."""
    session = _factory(url)()
    if write_lock:
        session.connection(execution_options={WRITE_LOCK: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def reading(url: str) -> Iterator[Connection]:
    """A Core connection for reads only: it takes no lock (SQLite in WAL mode reads a snapshot;
    PostgreSQL reads committed rows) and goes back to the pool when the block ends."""
    with engine_for(url).connect() as connection:
        yield connection


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """A Core connection in a write transaction: commits on success, rolls back on error.

    On SQLite it holds the database's write lock from the start, on PostgreSQL the row locks
    it takes: keep it short, and never run NLU, a custom action or a network call inside."""
    with engine_for(url).connect().execution_options(**{WRITE_LOCK: True}) as connection, \
            connection.begin():
        yield connection
