"""What a principal may see: a sales key sees only the contacts its user owns.

A contact outside the caller's scope is reported exactly as a contact that does not exist
(:class:`NotFound`, same message), so ids and emails do not leak across owners.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select
from sqlalchemy.sql.elements import ColumnElement

from leadflow.access.engine import Principal, Role
from leadflow.contacts.models import contacts
from leadflow.contacts.queries import resolve_contact_id
from leadflow.errors import NotFound
from leadflow.routing.models import tasks
from leadflow.storage.database import Database


def restricted_to(principal: Principal) -> str | None:
    """The owner a principal is limited to (a sales key's user), or None for everyone."""
    return principal.user_id if principal.role is Role.sales else None


def contact_condition(principal: Principal) -> ColumnElement[bool] | None:
    """The ``WHERE`` term that limits a contact query to the principal's scope, if any."""
    owner = restricted_to(principal)
    return None if owner is None else contacts.c.owner_id == owner


def visible_contact_id(conn: Connection, principal: Principal, ref: str | int) -> int:
    """The id ``ref`` names (following merges) if the principal may see it; else NotFound."""
    contact_id = resolve_contact_id(conn, ref)
    owner = restricted_to(principal)
    if owner is not None:
        held = conn.execute(select(contacts.c.owner_id).where(contacts.c.id == contact_id))
        if held.scalar() != owner:
            raise NotFound(f"no contact {ref!r}")
    return contact_id


def check_contact(db: Database, principal: Principal, ref: str | int) -> int:
    """:func:`visible_contact_id` in its own read transaction."""
    with db.read() as conn:
        return visible_contact_id(conn, principal, ref)


def check_contacts(
    db: Database, principal: Principal, refs: Iterable[tuple[str, str | int]]
) -> None:
    """Refuse (NotFound, naming the field) when a ``(field, ref)`` is outside the scope.

    Only sales keys are checked; for the others this costs nothing.
    """
    if restricted_to(principal) is None:
        return
    with db.read() as conn:
        for field, ref in refs:
            try:
                visible_contact_id(conn, principal, ref)
            except NotFound:
                raise NotFound(f"{field}: no contact {ref!r}") from None


def check_task(db: Database, principal: Principal, task_id: int) -> None:
    """NotFound for a task of another user, as for one that does not exist (sales keys)."""
    owner = restricted_to(principal)
    if owner is None:
        return
    with db.read() as conn:
        held = conn.execute(select(tasks.c.owner_id).where(tasks.c.id == task_id)).scalar()
    if held != owner:
        raise NotFound(f"no task with id {task_id}")
