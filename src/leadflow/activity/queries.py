"""Reading the activity log: expressions other domains build their queries from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from leadflow.activity.models import activities
from leadflow.storage.metadata import UtcDateTime


def last_activity_at(contact_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """The time of the contact's latest activity, or NULL: one descent of the
    ``(contact_id, occurred_at)`` index.

    Derived rather than stored on the contact (decision 12): keeping a column up to date
    cost the ingest path one contact row written per event batch, and a derived value is
    right after a merge moves activities without anything to repair.
    """
    latest = (
        select(func.max(activities.c.occurred_at))
        .where(activities.c.contact_id == contact_id)
        .scalar_subquery()
    )
    return type_coerce(latest, UtcDateTime)
