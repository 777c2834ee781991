"""Engines, sessions and transactions for a database URL (SQLite file by default,
PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

WRITE_LOCK = "ivr_write_lock"


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL per process. Statement parameters are kept out of error
    messages: they hold what callers said."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                         hide_parameters=True)


def _sqlite_connect(connection, _record) -> None:  # type: ignore[no-untyped-def]
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
def transaction(url: str) -> Iterator[Connection]:
    """A Core connection in a transaction: commits on success, rolls back on error."""
    with engine_for(url).connect().execution_options(**{WRITE_LOCK: True}) as connection, \
            connection.begin():
        yield connection
