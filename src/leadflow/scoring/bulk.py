"""Set-based scoring: every contact's score state computed at once from the log.

The incremental path folds events one by one; this computes the same state for many
contacts at once (``leadflow score --all``, a merge, a contact scored under an older model):
- fit: one query over contacts with a ``CASE`` per fit rule, the conditions compiled to
  SQL by :func:`leadflow.rules.compile.compile_condition`;
- engagement: one read of the activities any rule scores (id, contact, rule type, time in
  microseconds, in recorded order), then per rule the capped, decayed sums on arrays
  (:mod:`leadflow.scoring.columnar`). A rule's ``where:`` filter is the compiled SQL,
  run as its own query for the ids it keeps.

The database only filters and hands rows over: the caps need each contact's occurrences
in recorded order, which SQL gets with a window sort per cap (four sorts of 8 million page
views at a million contacts), and NumPy with one stable sort. On SQLite a whole-workspace
read goes through ADBC (``adbc-driver-sqlite``) straight into Arrow arrays, in two child
processes over halves of the id range (:mod:`leadflow.storage.arrow`; decision 20).

The state is then exactly what :func:`leadflow.scoring.engine.record_event` would have
built, up to floating-point rounding. A property test holds the two paths equal to 1e-9.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, and_, bindparam, case, func, select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import CompileError
from sqlalchemy.sql.elements import ColumnElement

from leadflow.activity.models import activities
from leadflow.contacts.models import contacts
from leadflow.rules.columnar import column_fields, evaluate_columns, read_columns
from leadflow.rules.compile import compile_condition, compile_event_filter
from leadflow.scoring.columnar import Ints, RuleSums, rule_sums
from leadflow.scoring.decay import RuleState, from_micros
from leadflow.scoring.engine import ContactState
from leadflow.scoring.model import EngagementRule, ScoringModel
from leadflow.scoring.state import StoredState
from leadflow.storage.arrow import IntColumns
from leadflow.storage.metadata import sqlite_time
from leadflow.storage.sql import chunked

# Contacts per fit query page when all of them are scored (memory stays flat).
FIT_PAGE = 50_000
# Below this many activity ids a whole-workspace read is one query on the caller's
# connection; above, SQLite reads through ADBC on two threads.
ARROW_READ_MIN = 200_000


@dataclass(frozen=True)
class BulkStates:
    """Every asked-for active contact's state, as arrays."""

    contact_ids: Ints  # ascending
    fit: NDArray[np.bool_]  # [contact, fit rule]: the rule holds
    rules: tuple[RuleSums, ...]  # one per engagement rule, in model order, these contacts only


def bulk_states(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int] | None
) -> BulkStates:
    """The state of every active contact (or of ``contact_ids``) under ``model`` at ``now``.

    With ``contact_ids`` None on SQLite the activities are read on connections of their
    own, which see what is committed: the caller must hold the write lock (``Database.write``
    begins IMMEDIATE) and must not have changed activities in its transaction.
    """
    types = sorted({t for rule in model.engagement_rules for t in rule.activity.types})
    read = _Read(conn, types, now, contact_ids, _filters_in_sql(model, now))
    pending = read.start()  # child processes, on a whole SQLite workspace
    try:
        ids, hits = fit_matrix(conn, model, now, contact_ids)
        in_children = read.flags if pending is not None else {}
        filtered = {
            rule.name: _filtered_ids(conn, rule, now, contact_ids)
            for rule in model.engagement_rules
            if rule.activity.where is not None and rule.name not in in_children
        }
        columns, flags = read.arrays(pending)
    finally:
        if pending is not None:
            pending.close()
    occurrences = _occurrences(model, types, columns, filtered, flags)
    # NumPy's sorts and gathers let go of the GIL: two rules at a time.
    with ThreadPoolExecutor(2, thread_name_prefix="leadflow-rule-sums") as pool:
        sums = list(
            pool.map(
                lambda pair: _only(_rule_sums(model, pair[0], *pair[1]), ids),
                zip(model.engagement_rules, occurrences, strict=True),
            )
        )
    return BulkStates(ids, hits, tuple(sums))


def halves(bulk: BulkStates) -> tuple[BulkStates, BulkStates]:
    """The states split in two by contact (for work on two threads)."""
    middle = bulk.contact_ids.size // 2
    if middle == 0:
        return bulk, BulkStates(
            bulk.contact_ids[:0], bulk.fit[:0], tuple(_cut(s, 0, 0) for s in bulk.rules)
        )
    first = int(bulk.contact_ids[middle])  # the second half starts at this contact
    low = tuple(_cut(s, None, first) for s in bulk.rules)
    high = tuple(_cut(s, first, None) for s in bulk.rules)
    return (
        BulkStates(bulk.contact_ids[:middle], bulk.fit[:middle], low),
        BulkStates(bulk.contact_ids[middle:], bulk.fit[middle:], high),
    )


def _cut(sums: RuleSums, start: int | None, end: int | None) -> RuleSums:
    """The sums of contacts in [start, end) (None: unbounded)."""

    def span(ids: Ints) -> slice:
        a = 0 if start is None else int(np.searchsorted(ids, start))
        b = ids.size if end is None else int(np.searchsorted(ids, end))
        return slice(a, b)

    return sums.select(span(sums.contacts), span(sums.day_contacts))


def compute_states(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int] | None
) -> dict[int, StoredState]:
    """:func:`bulk_states` as one :class:`StoredState` per contact (for a few thousand)."""
    return states_of(model, bulk_states(conn, model, now, contact_ids))


def states_of(model: ScoringModel, bulk: BulkStates) -> dict[int, StoredState]:
    fit_names = [rule.name for rule in model.fit_rules]
    engagement: dict[int, dict[str, RuleState]] = {int(c): {} for c in bulk.contact_ids}
    for rule, sums in zip(model.engagement_rules, bulk.rules, strict=True):
        days = _days_by_contact(sums)
        for i, contact in enumerate(sums.contacts.tolist()):
            engagement[contact][rule.name] = RuleState(
                value=float(sums.value[i]),
                ref=from_micros(int(sums.ref[i])),
                total=int(sums.total[i]),
                days=MappingProxyType(days.get(contact, {})),
            )
    return {
        int(contact): StoredState(
            tuple(name for name, hit in zip(fit_names, row, strict=True) if hit),
            ContactState(MappingProxyType(engagement[int(contact)])),
        )
        for contact, row in zip(bulk.contact_ids.tolist(), bulk.fit.tolist(), strict=True)
    }


def _days_by_contact(sums: RuleSums) -> dict[int, dict[int, int]]:
    found: dict[int, dict[int, int]] = {}
    for contact, day, n in zip(
        sums.day_contacts.tolist(), sums.days.tolist(), sums.day_counts.tolist(), strict=True
    ):
        found.setdefault(contact, {})[day] = n
    return found


# -- fit -----------------------------------------------------------------------------------


def fit_matrix(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int] | None
) -> tuple[Ints, NDArray[np.bool_]]:
    """The active contacts asked for (ascending) and which fit rules hold for each.

    A rule on the contact's and its account's own fields is decided on their columns in
    Python (:mod:`leadflow.rules.columnar`: a regex per distinct value, not a callback
    from SQL per row); the others (touches, activity, score...) by their compiled SQL.
    """
    rules = model.fit_rules
    fields = {i: column_fields(rule.condition) for i, rule in enumerate(rules)}
    on_columns = [i for i, found in fields.items() if found is not None]
    in_sql = [i for i, found in fields.items() if found is None]
    wanted = frozenset(f for i in on_columns for f in fields[i] or ())
    tests = [
        case((compile_condition(rules[i].condition, now=now), 1), else_=0).label(f"r{i}")
        for i in in_sql
    ]
    id_parts: list[Ints] = []
    hit_parts: list[NDArray[np.bool_]] = []
    for page in _pages(conn, contact_ids):
        where = and_(contacts.c.status == "active", page)
        query = select(contacts.c.id, *tests).where(where).order_by(contacts.c.id)
        rows = conn.execute(query).all() if in_sql or not on_columns else []
        if on_columns:
            ids, columns = read_columns(conn, wanted, where)
        else:
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        hits = np.zeros((ids.size, len(rules)), dtype=bool)
        for i in on_columns:
            hits[:, i] = evaluate_columns(rules[i].condition, columns, now)
        if in_sql:
            from_sql = np.array([row[1:] for row in rows], dtype=bool).reshape(-1, len(in_sql))
            hits[:, in_sql] = from_sql
        id_parts.append(ids)
        hit_parts.append(hits)
    if not id_parts:
        return np.empty(0, dtype=np.int64), np.zeros((0, len(rules)), dtype=bool)
    return np.concatenate(id_parts), np.concatenate(hit_parts)


def _pages(conn: Connection, contact_ids: Sequence[int] | None) -> Iterator[ColumnElement[bool]]:
    if contact_ids is None:
        return _id_pages(conn)
    return (contacts.c.id.in_(chunk) for chunk in chunked(sorted(set(contact_ids))))


def _id_pages(conn: Connection) -> Iterator[ColumnElement[bool]]:
    """Id ranges of FIT_PAGE contacts each (active or not; the last may hold fewer).

    Each bound is the id FIT_PAGE - 1 places on along the primary key (OFFSET steps
    through the index): asking for the largest of the next FIT_PAGE ids instead built a
    temporary table of them per page, 1.5 s at a million contacts."""
    after = 0
    while True:
        last = conn.execute(
            select(contacts.c.id)
            .where(contacts.c.id > after)
            .order_by(contacts.c.id)
            .limit(1)
            .offset(FIT_PAGE - 1)
        ).scalar()
        if last is None:
            yield contacts.c.id > after
            return
        yield and_(contacts.c.id > after, contacts.c.id <= last)
        after = last


# -- engagement ----------------------------------------------------------------------------


def _rule_sums(model: ScoringModel, rule: EngagementRule, contact: Ints, at: Ints) -> RuleSums:
    half_life = model.engagement_slots[rule.name][1]
    return rule_sums(
        contact,
        at,
        points=rule.points,
        per_day=rule.cap.per_day,
        total=rule.cap.total,
        half_life=half_life,
    )


def _only(sums: RuleSums, ids: Ints) -> RuleSums:
    """The sums of the contacts in ``ids`` (ascending) only: inactive ones are left out."""
    return sums.select(_isin_sorted(sums.contacts, ids), _isin_sorted(sums.day_contacts, ids))


def _isin_sorted(values: Ints, ids: Ints) -> NDArray[np.bool_]:
    if ids.size == 0:
        return np.zeros(values.size, dtype=bool)
    at = np.minimum(np.searchsorted(ids, values), ids.size - 1)
    return np.asarray(ids[at] == values)


def _occurrences(
    model: ScoringModel,
    types: list[str],
    columns: tuple[Ints, Ints, Ints, Ints],
    filtered: dict[str, Ints],
    flags: dict[str, Ints],
) -> list[tuple[Ints, Ints]]:
    """Per engagement rule, its matching occurrences up to ``now`` as (contact, time in
    microseconds) arrays in recorded order. A rule's ``where:`` filter comes as the ids it
    keeps (``filtered``) or as a 0/1 column of the read (``flags``)."""
    ids, contact, code, at = columns
    found = []
    for rule in model.engagement_rules:
        wanted = [types.index(t) for t in rule.activity.types]
        mask = np.isin(code, wanted) if len(wanted) > 1 else code == wanted[0]
        if rule.name in flags:
            mask &= flags[rule.name] == 1
        elif rule.name in filtered:
            mask &= np.isin(ids, filtered[rule.name], assume_unique=True)
        found.append((contact[mask], at[mask]))
    return found


def _filters_in_sql(model: ScoringModel, now: datetime) -> dict[str, str]:
    """The ``where:`` filters SQLite can run on its own (no Python function such as the
    regex one), as SQL text for the children's read: rule name -> condition."""
    dialect = sqlite_dialect.dialect()
    found = {}
    for rule in model.engagement_rules:
        if rule.activity.where is None:
            continue
        condition = compile_event_filter(rule.activity, activities, now=now)
        try:
            text = str(condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        except (NotImplementedError, CompileError):  # a value SQLAlchemy cannot write out
            continue
        if "REGEXP" not in text:
            found[rule.name] = text
    return found


def _filtered_ids(
    conn: Connection, rule: EngagementRule, now: datetime, contact_ids: Sequence[int] | None
) -> Ints:
    """The ids of the activities a rule with a ``where:`` filter keeps (the filter is the
    compiled SQL, custom functions and all, so it runs on the caller's connection)."""
    query = select(activities.c.id).where(
        compile_event_filter(rule.activity, activities, now=now), activities.c.occurred_at <= now
    )
    if contact_ids is None:
        return np.fromiter(conn.execute(query).scalars(), dtype=np.int64)
    parts = [
        np.fromiter(
            conn.execute(query.where(activities.c.contact_id.in_(chunk))).scalars(), np.int64
        )
        for chunk in chunked(sorted(set(contact_ids)))
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


class _Read:
    """The one read of the scored activities: (id, contact, type code, microseconds)."""

    def __init__(
        self,
        conn: Connection,
        types: list[str],
        now: datetime,
        contact_ids: Sequence[int] | None,
        flags: dict[str, str],
    ) -> None:
        """``flags``: rule name -> a filter on activities that a whole-workspace read
        returns as a 0/1 column."""
        self.conn = conn
        self.flags = flags
        self.sqlite = conn.dialect.name == "sqlite"
        self.types = types
        self.now = now
        self.contact_ids = contact_ids

    def start(self) -> IntColumns | None:
        """A whole SQLite workspace's read, started in child processes (None: the read
        is :meth:`arrays`' own query)."""
        if not (self.types and self.sqlite and self.contact_ids is None):
            return None
        # Two scalar subqueries: SQLite answers a lone min() or max() from the index, but
        # scans the table for both in one SELECT.
        low, high = self.conn.execute(
            select(
                select(func.min(activities.c.id)).scalar_subquery(),
                select(func.max(activities.c.id)).scalar_subquery(),
            )
        ).one()
        if low is None or high - low < ARROW_READ_MIN:
            return None
        return IntColumns(
            self._path(),
            self.sql(" AND id > :low AND id <= :high", text_columns=True, flags=True),
            low - 1,
            high,
            times=["at"],
            codes={"code": self.types},
        )

    def arrays(
        self, pending: IntColumns | None
    ) -> tuple[tuple[Ints, Ints, Ints, Ints], dict[str, Ints]]:
        """(id, contact, type code, microseconds) and the filters' columns (children only)."""
        if pending is not None:
            found = pending.result()
            flags = dict(zip(self.flags, found[4:], strict=True))
            return (found[0], found[1], found[2], found[3]), flags
        if not self.types:
            empty = np.empty(0, dtype=np.int64)
            return (empty, empty, empty, empty), {}
        rows = self._rows()
        table = np.array(rows, dtype=np.int64).reshape(len(rows), 4)
        columns = table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), table[:, 3].copy()
        return columns, {}

    def _path(self) -> str:
        database = self.conn.engine.url.database
        if not database or database == ":memory:":
            raise RuntimeError("a whole-workspace read needs a SQLite file")
        return str(Path(database).resolve())

    def sql(self, extra: str = "", *, text_columns: bool = False, flags: bool = False) -> str:
        """The query as text with its constants written in (ADBC runs it as it is), and
        ``extra`` added to its WHERE. With ``text_columns`` (SQLite) the type and the time
        come as stored, for the reader to turn into numbers."""
        quoted = [_quote(t) for t in self.types]
        code = "CASE type " + " ".join(f"WHEN {q} THEN {i}" for i, q in enumerate(quoted)) + " END"
        kinds = ", ".join(quoted)
        if self.sqlite:
            # +type, +occurred_at: no index; one pass over the table in id order reads
            # fewer pages than the type index's lookups of every row.
            where = f"+type IN ({kinds}) AND +occurred_at <= {_quote(str(sqlite_time(self.now)))}"
            if text_columns:
                code, at = "type", "occurred_at"
            else:
                # Whole seconds of the text cut to the second, plus its six digits of micros:
                # exact (strftime('%s') of a time with a fraction rounds to the millisecond).
                at = (
                    "CAST(strftime('%s', substr(occurred_at, 1, 19)) AS INTEGER) * 1000000"
                    " + CAST(substr(occurred_at, 21, 6) AS INTEGER)"
                )
        else:
            at = "CAST(extract(epoch FROM occurred_at) * 1000000 AS BIGINT)"
            where = f"type IN ({kinds}) AND occurred_at <= :now"
        tests = "".join(
            f", CASE WHEN {test} THEN 1 ELSE 0 END AS w{i}"
            for i, test in enumerate(self.flags.values() if flags else ())
        )
        return (
            f"SELECT id, contact_id, {code} AS code, {at} AS at{tests} FROM activities"
            f" WHERE {where}{extra} ORDER BY id"
        )

    def _rows(self) -> list[Any]:
        params: dict[str, Any] = {} if self.sqlite else {"now": self.now}
        if self.contact_ids is None:
            return list(self.conn.execute(text(self.sql()), params))
        query = text(self.sql(" AND contact_id IN :ids")).bindparams(
            bindparam("ids", expanding=True)
        )
        rows: list[Any] = []
        for chunk in chunked(sorted(set(self.contact_ids))):
            rows += self.conn.execute(query, {**params, "ids": chunk})
        rows.sort(key=lambda row: row[0])
        return rows


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
