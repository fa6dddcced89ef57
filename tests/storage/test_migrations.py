"""The migrations build exactly the schema the code declares, on both dialects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from leadflow.storage.database import Database
from leadflow.storage.migrate import current_revision, head_revision
from leadflow.storage.schema import all_tables


def test_database_is_at_the_newest_revision(db: Database):
    assert current_revision(db) == head_revision(db)


def test_migrations_match_the_declared_tables(db: Database):
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, all_tables())

    assert differences == []
