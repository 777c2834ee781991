"""Getting the database ready before a server starts: the encryption keys, the schema and the
demo orders, with no pooled connection left open."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from ivr.config import Settings
from ivr.storage import crypto, repository
from ivr.storage.db import engine_for, session_scope
from ivr.storage.migrate import upgrade

log = logging.getLogger(__name__)


def prepare_database(settings: Settings, *, migrate: bool | None = None) -> None:
    """Configure the data keys; migrate (SQLite databases by default, PostgreSQL ones only
    with `migrate=True`: they are upgraded with `ivr db upgrade`); seed the demo orders when
    `settings.demo_data` asks for them."""
    crypto.configure(settings.data_keys)
    if migrate if migrate is not None else settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    if settings.demo_data:
        try:
            with session_scope(settings.database_url, write_lock=True) as session:
                repository.seed_demo_orders(session)
        except IntegrityError:
            log.info("demo orders were seeded by another process")
    engine_for(settings.database_url).dispose()  # no pooled connection crosses a fork
