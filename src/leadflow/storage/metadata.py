"""The one MetaData every domain's tables join, and the portable column types they share."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# BIGINT keys on PostgreSQL; on SQLite only INTEGER PRIMARY KEY aliases the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")

# JSON on both dialects (JSON, not JSONB, keeps the schema portable). Python None is SQL
# NULL, so COALESCE(new, old) keeps the stored value when a capture says nothing.
Json = JSON(none_as_null=True)


def sqlite_time(value: Any) -> str | None:
    """An aware datetime as leadflow stores it in SQLite: naive UTC ISO text with microseconds."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected datetime, got {type(value).__name__}")
    if value.tzinfo is UTC:
        # The common case, without the copy replace() makes: the offset cut off the text.
        return value.isoformat(" ", "microseconds")[:26]
    if value.tzinfo is None:
        raise ValueError("naive datetime given; leadflow stores UTC-aware times only")
    text: str = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return text


def _from_sqlite_time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every dialect.

    SQLite has no timezone type; we store naive UTC and give back aware UTC values so that
    no caller ever compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    # SQLite: plain ISO text in C (datetime.isoformat / fromisoformat) instead of
    # SQLAlchemy's generic formatting and regex parsing; every row of every write carries
    # several timestamps. The text is the same as SQLAlchemy's SQLite DATETIME format.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return sqlite_time
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _from_sqlite_time
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given; leadflow stores UTC-aware times only")
        utc: datetime = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if not isinstance(value, datetime):
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
