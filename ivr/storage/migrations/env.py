"""Alembic environment: runs migrations against the URL passed in by `ivr.storage.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from ivr.storage.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "ivr.storage.migrate sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=Base.metadata,
                              render_as_batch=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()  # migrations hold no pooled connection afterwards
