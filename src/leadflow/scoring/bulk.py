"""Set-based scoring: every contact's score state computed by the database from the log.

The incremental path folds events one by one; this computes the same state for many
contacts at once (``leadflow score --all``, a merge, a contact scored under an older model):
- fit: one query over contacts with a ``CASE`` per fit rule, the conditions compiled to
  SQL by :func:`leadflow.rules.compile.compile_condition`;
- engagement: one query per rule. The caps count occurrences in recorded (id) order, as the
  incremental path does; ``ROW_NUMBER()`` over (contact, UTC day) keeps the first
  ``per_day`` of each day, and over the contact the first ``total`` of those. (Once the
  total is reached nothing more scores, so filtering per day first gives the same set.)
  Each scored occurrence adds ``points * 2^((t - ref) / half_life)``, ``ref`` being the
  contact's latest scored occurrence of the rule, summed per contact (and per day for rules
  with a per-day cap, whose day counts the state keeps).

The state is then exactly what :func:`leadflow.scoring.engine.record_event` would have
built, up to floating-point rounding. A property test holds the two paths equal to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from leadflow.activity.models import activities
from leadflow.contacts.models import contacts
from leadflow.rules.compile import compile_condition, compile_event_filter
from leadflow.scoring.decay import RuleState
from leadflow.scoring.engine import ContactState
from leadflow.scoring.model import EngagementRule, ScoringModel
from leadflow.scoring.state import StoredState
from leadflow.storage.sql import chunked

# Contacts per fit query page when all of them are scored (memory stays flat).
FIT_PAGE = 50_000


@dataclass(frozen=True)
class _Partial:
    """One rule's scored occurrences for one contact on one day (or on all days)."""

    day: int | None
    count: int
    latest: datetime
    weight: float  # sum of 2^((t - latest) / half_life): the value at latest, per point


def compute_states(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int] | None
) -> dict[int, StoredState]:
    """The state of every active contact (or of ``contact_ids``) under ``model`` at ``now``."""
    fits = dict(fit_names(conn, model, now, contact_ids))
    engagement: dict[int, dict[str, RuleState]] = {}
    for rule in model.engagement_rules:
        for contact_id, rule_state in _rule_states(conn, model, rule, now, contact_ids):
            engagement.setdefault(contact_id, {})[rule.name] = rule_state
    return {
        contact_id: StoredState(fit, ContactState(MappingProxyType(engagement.get(contact_id, {}))))
        for contact_id, fit in fits.items()
    }


# -- fit -----------------------------------------------------------------------------------


def fit_names(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int] | None
) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(contact id, the fit rules that hold) for each active contact asked for."""
    rules = model.fit_rules
    tests = [
        case((compile_condition(rule.condition, now=now), 1), else_=0).label(f"r{i}")
        for i, rule in enumerate(rules)
    ]
    base = select(contacts.c.id, *tests).where(contacts.c.status == "active")
    pages: Iterator[ColumnElement[bool]]
    if contact_ids is None:
        pages = _id_pages(conn)
    else:
        pages = (contacts.c.id.in_(chunk) for chunk in chunked(sorted(set(contact_ids))))
    for where in pages:
        for row in conn.execute(base.where(where).order_by(contacts.c.id)):
            yield row[0], tuple(rule.name for rule, hit in zip(rules, row[1:], strict=True) if hit)


def _id_pages(conn: Connection) -> Iterator[ColumnElement[bool]]:
    """Id ranges of about FIT_PAGE active contacts each."""
    after = 0
    while True:
        last = conn.execute(
            select(func.max(contacts.c.id)).where(
                contacts.c.id.in_(
                    select(contacts.c.id)
                    .where(contacts.c.id > after)
                    .order_by(contacts.c.id)
                    .limit(FIT_PAGE)
                )
            )
        ).scalar()
        if last is None:
            return
        yield and_(contacts.c.id > after, contacts.c.id <= last)
        after = last


# -- engagement ----------------------------------------------------------------------------


def _rule_states(
    conn: Connection,
    model: ScoringModel,
    rule: EngagementRule,
    now: datetime,
    contact_ids: Sequence[int] | None,
) -> Iterator[tuple[int, RuleState]]:
    half_life = model.group(rule.group).half_life
    seconds = half_life.total_seconds() if half_life is not None else None
    partials: dict[int, list[_Partial]] = {}
    chunks: list[list[int] | None] = (
        [None] if contact_ids is None else list(chunked(sorted(set(contact_ids))))
    )
    for chunk in chunks:
        for row in conn.execute(_rule_query(conn, rule, now, seconds, chunk)):
            day = _day(row.day) if row.day is not None else None
            latest = _as_time(row.latest)
            partials.setdefault(row.contact_id, []).append(
                _Partial(day, int(row.n), latest, float(row.weight))
            )
    for contact_id, parts in partials.items():
        yield contact_id, _rebased(rule, parts)


def _rebased(rule: EngagementRule, parts: list[_Partial]) -> RuleState:
    """The rule's state at its latest occurrence (the weights are relative to it)."""
    days = (
        MappingProxyType({p.day: p.count for p in parts if p.day is not None})
        if rule.cap.per_day is not None
        else MappingProxyType({})
    )
    return RuleState(
        value=rule.points * math.fsum(p.weight for p in parts),
        ref=max(p.latest for p in parts),
        total=sum(p.count for p in parts),
        days=days,
    )


def _rule_query(
    conn: Connection,
    rule: EngagementRule,
    now: datetime,
    seconds: float | None,
    chunk: list[int] | None,
) -> Any:
    table = activities.alias("a")
    sqlite = conn.dialect.name == "sqlite"
    day = _day_expr(table.c.occurred_at, sqlite)
    where = [compile_event_filter(rule.activity, table, now=now), table.c.occurred_at <= now]
    if chunk is not None:
        where.append(table.c.contact_id.in_(chunk))
    matched = select(
        table.c.contact_id,
        table.c.id,
        table.c.occurred_at,
        day.label("day"),
    ).where(*where)
    scored = matched.subquery("m")
    if rule.cap.per_day is not None:
        ranked = select(
            *scored.c,
            func.row_number()
            .over(partition_by=(scored.c.contact_id, scored.c.day), order_by=scored.c.id)
            .label("nd"),
        ).subquery("d")
        scored = (
            select(*[c for c in ranked.c if c.name != "nd"])
            .where(ranked.c.nd <= rule.cap.per_day)
            .subquery("dc")
        )
    if rule.cap.total is not None:
        ranked = select(
            *scored.c,
            func.row_number()
            .over(partition_by=scored.c.contact_id, order_by=scored.c.id)
            .label("nt"),
        ).subquery("t")
        scored = (
            select(*[c for c in ranked.c if c.name != "nt"])
            .where(ranked.c.nt <= rule.cap.total)
            .subquery("tc")
        )
    # Each contact's latest scored occurrence is the state's reference: weights relative to
    # it stay in (0, 1] (relative to now, a short half-life would underflow to zero).
    with_ref = select(
        *scored.c,
        func.max(scored.c.occurred_at).over(partition_by=scored.c.contact_id).label("ref"),
    ).subquery("r")
    weight = (
        func.sum(_decay(with_ref.c.occurred_at, with_ref.c.ref, seconds, sqlite))
        if seconds is not None
        else cast(func.count(), Float)
    )
    keys = [with_ref.c.contact_id]
    day_column: Any = literal(None)
    if rule.cap.per_day is not None:
        keys.append(with_ref.c.day)
        day_column = with_ref.c.day
    return select(
        with_ref.c.contact_id,
        day_column.label("day"),
        func.count().label("n"),
        func.max(with_ref.c.ref).label("latest"),
        weight.label("weight"),
    ).group_by(*keys)


def _day_expr(column: Any, sqlite: bool) -> ColumnElement[Any]:
    """The activity's UTC calendar day as YYYY-MM-DD text."""
    if sqlite:
        return func.substr(column, 1, 10)  # stored as UTC "YYYY-MM-DD HH:MM:SS.ffffff"
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _decay(column: Any, ref: Any, seconds: float, sqlite: bool) -> ColumnElement[Any]:
    """2^((t - ref) / half_life), from exact whole seconds plus microseconds."""
    if sqlite:
        # julianday() rounds to tens of microseconds, and strftime('%s') of a time with a
        # fraction rounds it to the millisecond first (.9995 s counts as the next second):
        # whole seconds of the time cut to the second, plus the stored microseconds, are exact.
        whole = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer) - cast(
            func.strftime("%s", func.substr(ref, 1, 19)), Integer
        )
        micros = cast(func.substr(column, 21, 6), Integer) - cast(func.substr(ref, 21, 6), Integer)
        elapsed = whole + micros / literal(1_000_000.0)
        return func.power(literal(2.0), elapsed / literal(seconds))
    # PostgreSQL raises on underflow where Python and SQLite give 0: below 2^-1000 (1e-301)
    # a weight is nothing either way.
    halvings = func.extract("epoch", column - ref) / literal(seconds)
    return func.power(literal(2.0), func.greatest(halvings, literal(-1000.0)))


def _day(value: Any) -> int:
    return date.fromisoformat(str(value)[:10]).toordinal()


def _as_time(value: Any) -> datetime:
    """A time as the driver returns it (SQLite: the stored UTC text) made aware UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
