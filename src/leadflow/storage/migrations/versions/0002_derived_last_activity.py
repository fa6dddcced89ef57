"""contacts.last_activity_at is derived from the activity log, not stored

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadflow.storage.metadata

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite 3.35+ drops an unindexed column in place (Python 3.11 bundles a newer one).
    op.drop_column("contacts", "last_activity_at")


def downgrade() -> None:
    op.add_column(
        "contacts",
        sa.Column(
            "last_activity_at", leadflow.storage.metadata.UtcDateTime(timezone=True), nullable=True
        ),
    )
    op.execute(
        "UPDATE contacts SET last_activity_at = "
        "(SELECT max(occurred_at) FROM activities WHERE activities.contact_id = contacts.id)"
    )
