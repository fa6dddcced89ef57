"""What is stored about API access: hashed API keys and idempotent requests' responses."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from leadflow.storage.metadata import Id, UtcDateTime, metadata

# A key is shown once, when it is made; only its SHA-256 is kept. The prefix (the key's
# first characters, not secret) names it in lists and logs.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # admin | marketing | sales
    # A sales key acts for one user and sees only that user's contacts.
    Column("user_id", String(64), ForeignKey("users.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)

# The response given to a request that carried an Idempotency-Key header, kept so a retry
# gets the same answer (and a retry with another body a 409). `scope` separates callers:
# an API key's id, or a public form's key.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(128), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Index("uq_idempotency_records_scope_key", "scope", "key", unique=True),
)
