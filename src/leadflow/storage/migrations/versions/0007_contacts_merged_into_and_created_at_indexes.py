"""contacts indexed by the contact they were merged into, and by creation time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MERGED = sa.text("merged_into_id IS NOT NULL")


def upgrade() -> None:
    # A merge re-points earlier tombstones with WHERE merged_into_id = ?: without an index
    # that read every contact (7 ms at 100,000), in each merge and in each form capture
    # that stitches a visitor into a known person. Only tombstones are indexed.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contacts_merged_into_id",
            ["merged_into_id"],
            unique=False,
            sqlite_where=_MERGED,
            postgresql_where=_MERGED,
        )
        # A page of contacts newest (or oldest) first read and sorted every active contact:
        # 17-86 ms at 100,000. Contacts are created in time order: new ones append.
        batch_op.create_index(batch_op.f("ix_contacts_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_created_at"))
        batch_op.drop_index("ix_contacts_merged_into_id")
