"""The append-only activity log."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

activities = Table(
    "activities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("source", String(64)),
    Column("properties", Json, nullable=False, default=dict),
    # Recording the same key twice stores the event once.
    Column("idempotency_key", String(128), nullable=False, unique=True),
    Index("ix_activities_contact_id_occurred_at", "contact_id", "occurred_at"),
    Index("ix_activities_type_occurred_at", "type", "occurred_at"),
)
