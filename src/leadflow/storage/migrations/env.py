"""Alembic environment: uses the Database handed in through the config's attributes."""

from __future__ import annotations

from alembic import context

from leadflow.storage.database import Database
from leadflow.storage.schema import all_tables

config = context.config
target_metadata = all_tables()


def run_migrations_online() -> None:
    db: Database = config.attributes["database"]
    with db.write() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=db.is_sqlite,  # SQLite alters tables by copying them
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
