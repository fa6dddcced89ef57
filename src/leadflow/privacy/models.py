"""What is stored about privacy requests: a record of each erasure (who asked, when, what
was removed), which itself holds no personal data."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

erasures = Table(
    "erasures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # No foreign key: the contact row stays as an anonymous tombstone, but the record
    # must outlive any later clean-up of it.
    Column("contact_id", Id, nullable=False, index=True),
    Column("requested_by", String(200), nullable=False),  # "cli" or an API key's prefix
    Column("erased_at", UtcDateTime, nullable=False),
    Column("removed", Json, nullable=False),  # counts by kind: identities, touches, ...
)
