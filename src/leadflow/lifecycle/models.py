"""What is stored about the lifecycle: stage moves, qualification criteria, deals, and the
versions of the workspace's lifecycle and routing files."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

# Every stage move: by hand (who, why), by a rule (which), by a conversion or a recycling.
stage_transitions = Table(
    "stage_transitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("from_stage", String(32)),  # None: the contact's first stage
    Column("to_stage", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("cause", String(16), nullable=False),  # manual | rule | deal | sla | import
    Column("rule", String(64)),  # the lifecycle rule that moved it
    Column("by_user", String(64)),  # who moved it by hand
    Column("reason", Text),
    Column("activity_id", Id),  # the event whose recording set the rule off
    Column("config_version", String(12)),
    Index("ix_stage_transitions_contact_id_at", "contact_id", "at"),
    Index("ix_stage_transitions_to_stage_at", "to_stage", "at"),
)

# The current value of each qualification criterion of a contact, and where it came from.
qualifications = Table(
    "qualifications",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("criterion", String(64), nullable=False),
    Column("value", String(255), nullable=False),
    Column("source", String(16), nullable=False),  # form | import | sales | rule
    Column("set_by", String(64)),  # a user id, a form name, a file, a rule
    Column("set_at", UtcDateTime, nullable=False),
    Column("confidence", Float, nullable=False),  # 0..1
    PrimaryKeyConstraint("contact_id", "criterion"),
    Index("ix_qualifications_criterion_value", "criterion", "value"),
)

deals = Table(
    "deals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False, index=True),
    Column("account_id", Id, ForeignKey("accounts.id"), index=True),
    Column("owner_id", String(64)),
    Column("name", String(255), nullable=False),
    Column("amount", Numeric(14, 2)),
    Column("currency", String(3), nullable=False),
    Column("expected_close", Date),
    Column("stage", String(32), nullable=False),  # the deal pipeline's stage
    Column("probability", Float, nullable=False),  # 0..1
    Column("status", String(8), nullable=False),  # open | won | lost
    Column("reason", Text),  # why it was won or lost
    Column("renewal_date", Date),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
)

# Every loaded version of a workspace file other than scoring.yaml (which has its own
# table): its text, so that every process decides with the same rules.
config_versions = Table(
    "config_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # lifecycle | routing
    Column("version", String(12), nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=False),
    Column("summary", Json),
    Index("uq_config_versions_kind_version", "kind", "version", unique=True),
)
