"""The one MetaData every domain's tables join, and the portable column types they share."""

from __future__ import annotations

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


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every dialect.

    SQLite has no timezone type; we store naive UTC and give back aware UTC values so that
    no caller ever compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

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
