"""What is stored about people and companies: contacts, accounts, identities, touches, merges."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text, text

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("domain", String(255), unique=True),
    Column("name", String(255)),
    Column("industry", String(100)),
    Column("employee_count", Integer),
    Column("annual_revenue", Float),
    Column("country", String(2)),
    Column("properties", Json, nullable=False, default=dict),
    # The salesperson who owns the account: its first routed contact's owner, kept by the
    # account_owner routing strategy (leadflow.routing).
    Column("owner_id", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), index=True),
    # 'active' or 'merged'; a merged contact is kept as a tombstone pointing at its survivor.
    Column("status", String(16), nullable=False, default="active"),
    Column("merged_into_id", Id, ForeignKey("contacts.id")),
    Column("email", String(320), index=True),
    Column("phone", String(32)),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("title", String(200)),
    Column("seniority", String(32)),
    Column("company_name", String(255)),
    Column("country", String(2)),
    Column("timezone", String(64)),
    Column("language", String(16)),
    Column("properties", Json, nullable=False, default=dict),
    # Touch ids without a foreign key: touches reference contacts, and a cycle of foreign
    # keys would make inserts order-dependent on every dialect.
    Column("first_touch_id", Id),
    Column("last_touch_id", Id),
    # Lifecycle (leadflow.lifecycle): the stage, when it was entered (for velocity), and the
    # owner routing gave the contact. Kept on the contact so segments and reports read them
    # without a join; every move is also in stage_transitions.
    Column("stage", String(32), index=True),
    Column("stage_entered_at", UtcDateTime),
    Column("owner_id", String(64), index=True),
    # Indexed for the API's pages newest first: contacts are created in time order, so
    # each new one is appended to the index's end.
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("updated_at", UtcDateTime, nullable=False),
    # Tombstones by the contact they point at: a merge re-points the earlier merges into
    # the contact it merges, and erasure follows them. Partial, so that only merged
    # contacts are in it: a capture or an import of new contacts adds nothing to it.
    Index(
        "ix_contacts_merged_into_id",
        "merged_into_id",
        sqlite_where=text("merged_into_id IS NOT NULL"),
        postgresql_where=text("merged_into_id IS NOT NULL"),
    ),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # email | phone | external_id | anonymous_id
    Column("value", String(320), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("uq_identities_kind_value", "kind", "value", unique=True),
)

touches = Table(
    "touches",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("campaign", String(255)),
    Column("utm_source", String(255)),
    Column("utm_medium", String(255)),
    Column("utm_campaign", String(255)),
    Column("utm_term", String(255)),
    Column("utm_content", String(255)),
    Column("referrer", Text),
    Column("landing_page", Text),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("idempotency_key", String(128), unique=True),
)

merges = Table(
    "merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survivor_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("merged_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("merged_at", UtcDateTime, nullable=False),
    Column("merged_by", String(255), nullable=False),
    Column("reason", Text),
    # The merged contact's fields as they were, and how many rows moved, for inspection.
    Column("snapshot", Json, nullable=False),
)
