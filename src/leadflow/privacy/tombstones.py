"""Erased contacts are tombstones that take no new data.

An erased person's contact row stays (stage counts and the funnel read it), but nothing
may be written about it again: an event, a form answer, a stage move, a deal or a
visitor id recorded on the tombstone would start a new record of someone who asked to be
forgotten. The ``erasures`` table says who was erased (one indexed row per request), so a
check is an index lookup that a caller folds into a query it runs anyway.

Only the models are imported here: the services that refuse writes (activity, lifecycle,
contacts, capture) sit below :mod:`leadflow.privacy.service`, which imports them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Connection, exists, select

from leadflow.errors import ContactErased
from leadflow.privacy.models import erasures
from leadflow.storage.sql import chunked

__all__ = ["erased_among", "is_erased", "refuse_erased"]


def is_erased(contact_id: ColumnElement[int]) -> ColumnElement[bool]:
    """True when the contact ``contact_id`` (a column or a bound value) was erased."""
    return exists().where(erasures.c.contact_id == contact_id)


def erased_among(conn: Connection, contact_ids: Iterable[int]) -> set[int]:
    """Which of these contacts were erased (one query per thousand ids)."""
    found: set[int] = set()
    for chunk in chunked(sorted(set(contact_ids))):
        query = select(erasures.c.contact_id).where(erasures.c.contact_id.in_(chunk))
        found.update(conn.execute(query).scalars())
    return found


def refuse_erased(conn: Connection, *contact_ids: int) -> None:
    """Raise :class:`ContactErased` when one of these contacts was erased (one query)."""
    found = erased_among(conn, contact_ids)
    if found:
        raise ContactErased(min(found))
