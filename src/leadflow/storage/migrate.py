"""Alembic, driven from code: the migration scripts ship inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from leadflow.errors import SchemaOutOfDate
from leadflow.storage.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database"] = db
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(db), revision)


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ensure_current(db: Database) -> None:
    """Refuse to work on a schema that is behind the code."""
    current, head = current_revision(db), head_revision(db)
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `leadflow db upgrade`"
        )
