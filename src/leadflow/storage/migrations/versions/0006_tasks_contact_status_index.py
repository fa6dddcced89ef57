"""tasks indexed by contact and status

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The contact's open tasks by (contact_id, status): with the contact id alone SQLite
    # took the (status, due_at) index for a list of contacts and read every open task.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_contact_id"))
        batch_op.create_index(
            batch_op.f("ix_tasks_contact_id_status"), ["contact_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_contact_id_status"))
        batch_op.create_index(batch_op.f("ix_tasks_contact_id"), ["contact_id"], unique=False)
