"""The throwaway PostgreSQL server works, and the migrations build the schema on it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ivr.storage.migrate import upgrade

pytestmark = pytest.mark.postgres


def scalar(url: str, sql: str, **params: object) -> object:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar_one()
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_server_answers(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    version = scalar(postgres_url, "select version()")
    assert isinstance(version, str)
    assert version.startswith("PostgreSQL ")


def test_migrations_create_the_tables_on_postgres(fresh_postgres_url: str) -> None:
    assert table_names(fresh_postgres_url) == set()

    upgrade(fresh_postgres_url)

    tables = table_names(fresh_postgres_url)
    assert {"calls", "turns", "transfers", "orders", "alembic_version"} <= tables
    upgrade(fresh_postgres_url)  # a second run is a no-op
    assert table_names(fresh_postgres_url) == tables


def test_each_test_gets_its_own_empty_database(postgres_url: str,
                                               fresh_postgres_url: str) -> None:
    fresh = make_url(fresh_postgres_url)
    assert fresh.database != make_url(postgres_url).database
    assert table_names(fresh_postgres_url) == set()
    if not os.environ.get("IVR_TEST_POSTGRES_URL"):  # a shared server may hold others' ones
        leftovers = scalar(postgres_url, "select count(*) from pg_database "
                           "where datname like 'ivr\\_t\\_%'")
        assert leftovers == 1, "databases of earlier tests were not dropped"
