"""Storing small worlds of contacts for condition tests, and reading them back as snapshots.

A :class:`Person` is one contact with its account, touches and activities. ``store`` writes
people with explicit ids (so hypothesis examples never collide), ``snapshots`` reads them back
as the evaluator sees them, ``sql_matches`` runs the compiled condition, and ``erase`` removes
them again so the next example starts clean.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from leadflow.activity.models import activities
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.lifecycle.models import qualifications
from leadflow.rules.ast import Condition
from leadflow.rules.columnar import Columns, column_fields, evaluate_columns, read_columns
from leadflow.rules.compile import TimeBinds, compile_condition, compile_condition_for_any_time
from leadflow.rules.evaluate import Snapshot
from leadflow.scoring.models import contact_scores
from leadflow.storage.database import Database

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Person:
    contact: dict[str, Any] = field(default_factory=dict)
    account: dict[str, Any] | None = None
    touches: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    first_touch: int | None = None  # index into touches
    last_touch: int | None = None
    score: dict[str, Any] | None = None  # fit, engagement, total, grade
    qualification: dict[str, str] = field(default_factory=dict)  # criterion -> value


_ids = itertools.count(1)


def store(db: Database, people: list[Person]) -> list[int]:
    """Insert people; return their contact ids, in order."""
    ids = []
    with db.write() as conn:
        for person in people:
            ids.append(_store_one(conn, person))
    return ids


def _store_one(conn: Connection, person: Person) -> int:
    account_id = None
    if person.account is not None:
        account_id = next(_ids)
        row = {"name": None, "properties": {}, **person.account}
        row.setdefault("domain", f"d{account_id}.example")
        conn.execute(
            accounts.insert().values(id=account_id, created_at=CREATED, updated_at=CREATED, **row)
        )
    contact_id = next(_ids)
    conn.execute(
        contacts.insert().values(
            id=contact_id,
            account_id=account_id,
            created_at=CREATED,
            updated_at=CREATED,
            **{"properties": {}, **person.contact},
        )
    )
    touch_ids = [_insert_touch(conn, contact_id, t) for t in person.touches]
    pointers = {
        "first_touch_id": touch_ids[person.first_touch] if person.first_touch is not None else None,
        "last_touch_id": touch_ids[person.last_touch] if person.last_touch is not None else None,
    }
    conn.execute(contacts.update().where(contacts.c.id == contact_id).values(**pointers))
    for activity in person.activities:
        _insert_activity(conn, contact_id, activity)
    if person.score is not None:
        conn.execute(
            contact_scores.insert().values(
                contact_id=contact_id, model_version="test", as_of=CREATED, state={}, **person.score
            )
        )
    for criterion, value in person.qualification.items():
        conn.execute(
            qualifications.insert().values(
                contact_id=contact_id,
                criterion=criterion,
                value=value,
                source="sales",
                set_at=CREATED,
                confidence=1.0,
            )
        )
    return contact_id


def _insert_touch(conn: Connection, contact_id: int, values: dict[str, Any]) -> int:
    touch_id = next(_ids)
    row = {"channel": "web_form", "occurred_at": CREATED, **values}
    conn.execute(
        touches.insert().values(
            id=touch_id, contact_id=contact_id, idempotency_key=f"t{touch_id}", **row
        )
    )
    return touch_id


def _insert_activity(conn: Connection, contact_id: int, values: dict[str, Any]) -> int:
    activity_id = next(_ids)
    row = {"type": "page_view", "occurred_at": CREATED, "properties": {}, **values}
    conn.execute(
        activities.insert().values(
            id=activity_id,
            contact_id=contact_id,
            recorded_at=CREATED,
            idempotency_key=f"a{activity_id}",
            **row,
        )
    )
    return activity_id


def snapshots(db: Database, ids: list[int], now: datetime) -> dict[int, Snapshot]:
    """Each contact as the evaluator sees it, read back from the database."""
    with db.read() as conn:
        people = [
            dict(r._mapping) for r in conn.execute(select(contacts).where(contacts.c.id.in_(ids)))
        ]
        account_ids = [p["account_id"] for p in people if p["account_id"] is not None]
        by_account = _rows(conn, select(accounts).where(accounts.c.id.in_(account_ids)), "id")
        by_touch = _grouped(conn, select(touches).where(touches.c.contact_id.in_(ids)))
        by_activity = _grouped(conn, select(activities).where(activities.c.contact_id.in_(ids)))
        scores = _rows(
            conn, select(contact_scores).where(contact_scores.c.contact_id.in_(ids)), "contact_id"
        )
        criteria: dict[int, dict[str, str]] = {}
        for row in conn.execute(select(qualifications).where(qualifications.c.contact_id.in_(ids))):
            criteria.setdefault(row.contact_id, {})[row.criterion] = row.value
    return {
        p["id"]: Snapshot(
            contact=p,
            now=now,
            account=by_account.get(p["account_id"]),
            touches=by_touch.get(p["id"], []),
            activities=by_activity.get(p["id"], []),
            score=scores.get(p["id"]),
            qualification=criteria.get(p["id"], {}),
        )
        for p in people
    }


def _rows(conn: Connection, query: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in (dict(r._mapping) for r in conn.execute(query))}


def _grouped(conn: Connection, query: Any) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(query):
        grouped.setdefault(r.contact_id, []).append(dict(r._mapping))
    return grouped


def sql_matches(db: Database, condition: Condition, ids: list[int], now: datetime) -> set[int]:
    expr = compile_condition(condition, now=now)
    with db.read() as conn:
        return set(conn.scalars(select(contacts.c.id).where(contacts.c.id.in_(ids), expr)))


def sql_matches_any_time(
    db: Database, condition: Condition, ids: list[int], now: datetime
) -> set[int]:
    """The same, compiled once for any ``now`` and given ``now`` as parameters."""
    binds = TimeBinds()
    expr = compile_condition_for_any_time(condition, binds)
    query = select(contacts.c.id).where(contacts.c.id.in_(ids), expr)
    with db.read() as conn:
        return set(conn.scalars(query, binds.values(now)))


def columnar_matches(
    db: Database, condition: Condition, ids: list[int], now: datetime
) -> set[int] | None:
    """The same, decided on columns (None: the condition reads more than they hold)."""
    fields = column_fields(condition)
    if fields is None:
        return None
    with db.read() as conn:
        found, columns = read_columns(conn, fields, contacts.c.id.in_(ids))
    held = evaluate_columns(condition, columns, now)
    # The same columns factorised whatever their values (a sample of none): both ways of
    # deciding must agree.
    factorised = Columns(columns.values, columns.size)
    factorised.SAMPLE = 0
    assert evaluate_columns(condition, factorised, now).tolist() == held.tolist()
    return {int(i) for i, hit in zip(found.tolist(), held.tolist(), strict=True) if hit}


def erase(db: Database, ids: list[int]) -> None:
    with db.write() as conn:
        account_ids = list(
            conn.scalars(select(contacts.c.account_id).where(contacts.c.id.in_(ids)))
        )
        conn.execute(delete(activities).where(activities.c.contact_id.in_(ids)))
        conn.execute(delete(contact_scores).where(contact_scores.c.contact_id.in_(ids)))
        conn.execute(delete(qualifications).where(qualifications.c.contact_id.in_(ids)))
        conn.execute(delete(touches).where(touches.c.contact_id.in_(ids)))
        conn.execute(delete(contacts).where(contacts.c.id.in_(ids)))
        conn.execute(delete(accounts).where(accounts.c.id.in_([a for a in account_ids if a])))
