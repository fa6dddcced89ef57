"""Replacing the stored scores of many contacts at once (a rescore, a merge, a capture).

The new scores come as columns (:class:`ScoreRows`): from the set-based states of
:mod:`leadflow.scoring.bulk` for many contacts, or from states replayed in Python for a
few. The old rows go, the new ones are written with one ``executemany``, and the grade
changes and threshold crossings between the two go to ``score_history`` (and to webhook
subscribers), all in the caller's transaction.

At a million contacts the per-contact Python is what costs: the totals and grades are
array operations (:func:`leadflow.scoring.columnar.score_columns`), each state's JSON is
written by joining strings (not built as dicts and encoded), the old grades are compared
as arrays and only the contacts that changed get history rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import Connection, delete, select

from leadflow.activity.store import type_time
from leadflow.scoring.bulk import BulkStates, halves
from leadflow.scoring.columnar import Floats, Ints, RuleSums, score_columns
from leadflow.scoring.decay import from_micros, to_micros
from leadflow.scoring.engine import state_sums, totals
from leadflow.scoring.model import ScoringModel
from leadflow.scoring.models import contact_scores, score_history
from leadflow.scoring.state import StoredState, dump_state
from leadflow.storage.metadata import sqlite_time
from leadflow.storage.sql import chunked
from leadflow.webhooks.engine import score_changed
from leadflow.webhooks.service import publish_each

# From this many contacts the states' JSON is made on two threads, half each.
THREADED_TEXTS_MIN = 100_000


@dataclass(frozen=True)
class ScoreRows:
    """New stored scores, one entry per contact in every column."""

    contact_ids: Ints
    fit: Floats
    engagement: Floats
    total: Floats
    grade: list[str]
    as_of: Ints  # microseconds since the epoch
    state: list[str]  # the JSON text of scoring.state's stored form


def bulk_rows(model: ScoringModel, bulk: BulkStates, now: datetime) -> ScoreRows:
    columns = score_columns(model, bulk.contact_ids, bulk.fit, bulk.rules, to_micros(now))
    return ScoreRows(
        bulk.contact_ids,
        columns.fit,
        columns.engagement,
        columns.total,
        columns.grade,
        columns.as_of,
        _texts_on_two_threads(model, bulk),
    )


def _texts_on_two_threads(model: ScoringModel, bulk: BulkStates) -> list[str]:
    """:func:`state_texts` of each half of the contacts on its own thread (Arrow's string
    kernels and NumPy let go of the GIL)."""
    if bulk.contact_ids.size < THREADED_TEXTS_MIN:
        return state_texts(model, bulk)
    with ThreadPoolExecutor(2, thread_name_prefix="leadflow-state-texts") as pool:
        first, second = pool.map(lambda part: state_texts(model, part), halves(bulk))
    return first + second


def rows_of_states(
    model: ScoringModel, states: Mapping[int, StoredState], now: datetime
) -> ScoreRows:
    """The same columns for a few contacts' states built as objects."""
    ids = sorted(states)
    found = []
    as_of = []
    texts = []
    for contact_id in ids:
        state = states[contact_id]
        refs = [to_micros(s.ref) for s in state.engagement.rules.values() if s.ref is not None]
        at = max([to_micros(now), *refs])
        found.append(totals(model, state.fit, state_sums(state.engagement), at))
        as_of.append(at)
        texts.append(orjson.dumps(dump_state(state)).decode())
    return ScoreRows(
        np.array(ids, dtype=np.int64),
        np.array([f.fit for f in found]),
        np.array([f.engagement for f in found]),
        np.array([f.total for f in found]),
        [f.grade for f in found],
        np.array(as_of, dtype=np.int64),
        texts,
    )


# -- the states' JSON ----------------------------------------------------------------------


def state_texts(model: ScoringModel, bulk: BulkStates) -> list[str]:
    """Each contact's stored state as :func:`~leadflow.scoring.state.dump_state` gives it,
    as JSON text, built by Arrow's string kernels (a Python f-string per (contact, rule) and
    per day cost 15 µs a contact). Arrow writes a float as the shortest text that reads back
    as the same float (so a stored state loses nothing), an integral one without ".0".

    Everything is put in its final order while it is still numbers (a gather of fixed-width
    values), so each text is made once, in place: one fragment per (contact, rule) that
    scored, ``"rule":[value,ref,total,{"day":count,...}]``, joined per contact."""
    import pyarrow as pa

    rules = model.engagement_rules
    n = bulk.contact_ids.size
    present = [(slot, sums) for slot, sums in enumerate(bulk.rules) if sums.contacts.size]
    if not present:
        empty = pa.array([""] * n, pa.large_string())
        return list(
            _join('{"fit":', _fit_texts(model, bulk), ',"rules":{', empty, "}}").to_pylist()
        )
    places = [np.searchsorted(bulk.contact_ids, sums.contacts) for _, sums in present]
    slots = np.concatenate([np.full(s.contacts.size, slot) for slot, s in present])
    order = np.argsort(np.concatenate(places) * len(rules) + slots)
    where = np.empty_like(order)
    where[order] = np.arange(order.size)  # a fragment's place in the final order
    value = np.concatenate([s.value for _, s in present])[order]
    ref = np.concatenate([s.ref for _, s in present])[order]
    total = np.concatenate([s.total for _, s in present])[order]
    names = pa.array([orjson.dumps(r.name).decode() + ":[" for r in rules], pa.large_string())
    days = _day_texts(present, where)
    fragments = _join(
        names.take(pa.array(slots[order])),
        _text(value),
        ",",
        _text(ref),
        ",",
        _small_ints(total),
        ",{",
        days,
        "}]",
    )
    per_contact = np.searchsorted(np.concatenate(places)[order], np.arange(n + 1))
    joined = _joined(per_contact, fragments)
    texts: list[str] = _join(
        '{"fit":', _fit_texts(model, bulk), ',"rules":{', joined, "}}"
    ).to_pylist()
    return texts


def _day_texts(present: list[tuple[int, RuleSums]], where: Ints) -> Any:
    """Per fragment (in final order), its per-day counts without the braces: ``"d":n,...``
    (empty for rules without a per-day cap)."""
    owners, days, counts = [], [], []
    start = 0
    for _, sums in present:
        if sums.day_contacts.size:
            local = np.searchsorted(sums.contacts, sums.day_contacts)  # the entry's fragment
            owners.append(where[start + local])
            days.append(sums.days)
            counts.append(sums.day_counts)
        start += sums.contacts.size
    if not owners:
        return _joined(np.zeros(where.size + 1, dtype=np.int64), _text(np.empty(0, np.int64)))
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")  # days stay ascending within a fragment
    day, count = np.concatenate(days)[order], np.concatenate(counts)[order]
    return _joined(np.searchsorted(owner[order], np.arange(where.size + 1)), _pairs(day, count))


def _pairs(day: Ints, count: Ints) -> Any:
    """``"day":count`` texts: taken from a table of every (day, count) in range when it is
    small (a few hundred days, counts up to the per-day cap), else joined one by one."""
    import pyarrow as pa

    if day.size == 0:
        return _text(day)
    first, low = int(day.min()), int(count.min())
    days, counts = int(day.max()) - first + 1, int(count.max()) - low + 1
    if days * counts > 1_000_000:
        return _join('"', _small_ints(day), '":', _small_ints(count))
    table = [f'"{d}":{c}' for d in range(first, first + days) for c in range(low, low + counts)]
    codes = (day - first) * counts + (count - low)
    return pa.array(table, pa.large_string()).take(pa.array(codes))


def _joined(offsets: Ints, texts: Any) -> Any:
    """The texts between consecutive offsets joined with commas."""
    import pyarrow as pa
    import pyarrow.compute as pc

    listed = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), texts)
    return pc.binary_join(listed, pa.scalar(",", pa.large_string()))


def _small_ints(values: Ints) -> Any:
    """Integers as text: through a table of the distinct values when there are few (days,
    counts), which costs a gather instead of a conversion per value."""
    import pyarrow as pa

    if values.size == 0:
        return _text(values)
    low, high = int(values.min()), int(values.max())
    if high - low > 100_000:
        return _text(values)
    table = pa.array([str(v) for v in range(low, high + 1)], pa.large_string())
    return table.take(pa.array(values - low))


def _text(values: Any) -> Any:
    import pyarrow as pa

    return pa.array(values).cast(pa.large_string())  # floats: shortest round-trip text


def _join(*parts: Any) -> Any:
    """Element-wise concatenation of string arrays and constants."""
    import pyarrow as pa
    import pyarrow.compute as pc

    typed = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*typed, pa.scalar("", pa.large_string()))


def _fit_texts(model: ScoringModel, bulk: BulkStates) -> Any:
    """Per contact, the JSON list of the fit rules that hold (few distinct lists)."""
    import pyarrow as pa

    names = [rule.name for rule in model.fit_rules]
    if not names:
        return pa.array(["[]"] * bulk.contact_ids.size, pa.large_string())
    if len(names) < 63:  # each row's hits as one integer: a unique of integers, not rows
        keys = bulk.fit.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
        patterns, which = np.unique(keys, return_inverse=True)
        rows = [[bool(int(p) >> i & 1) for i in range(len(names))] for p in patterns]
    else:
        packed, which = np.unique(np.packbits(bulk.fit, axis=1), axis=0, return_inverse=True)
        rows = [np.unpackbits(p)[: len(names)].astype(bool).tolist() for p in packed]
    texts = [
        orjson.dumps([n for n, hit in zip(names, row, strict=True) if hit]).decode() for row in rows
    ]
    return pa.array(texts, pa.large_string()).take(pa.array(which.reshape(-1)))


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replaced:
    scored: int
    grade_changes: int


def replace_scores(
    conn: Connection,
    model: ScoringModel,
    rows: ScoreRows,
    contact_ids: Sequence[int] | None,
    *,
    now: datetime,
    cause: str,
) -> Replaced:
    """Swap the stored scores of ``contact_ids`` (None: all) for ``rows`` and record what
    changed, in the caller's transaction."""
    old = stored_scores(conn, contact_ids)
    return write_scores(conn, model, rows, old, now=now, cause=cause)


def write_scores(
    conn: Connection,
    model: ScoringModel,
    rows: ScoreRows,
    old: OldScores,
    *,
    now: datetime,
    cause: str,
) -> Replaced:
    """Replace the rows ``old`` lists by ``rows`` and record what changed.

    A contact with a row has it updated in place, one without gets one inserted, and a row
    with no new score (the contact is no longer active) goes: at a million contacts an
    UPDATE is 1.5 s where DELETE and INSERT were 3.7 (no B-tree rebuilt, no foreign key
    looked up again)."""
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    had = np.isin(rows.contact_ids, old.contact_ids, assume_unique=True)
    gone = old.contact_ids[~np.isin(old.contact_ids, rows.contact_ids, assume_unique=True)]
    for chunk in chunked(gone.tolist()):
        conn.execute(delete(contact_scores).where(contact_scores.c.contact_id.in_(chunk)))
    sets = ", ".join(f"{c} = {mark}" for c in _COLUMNS[1:])
    update = f"UPDATE contact_scores SET {sets} WHERE contact_id = {mark}"
    marks = ", ".join([mark] * len(_COLUMNS))
    insert = f"INSERT INTO contact_scores ({', '.join(_COLUMNS)}) VALUES ({marks})"
    # The driver's own executemany over a generator: SQLAlchemy's adds ~2 µs a row.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(update, _params(model, rows, now, sqlite, had, contact_last=True))
        cursor.executemany(insert, _params(model, rows, now, sqlite, ~had, contact_last=False))
    finally:
        cursor.close()
    history = _history(model, rows, old, cause=cause)
    if history:
        _insert_history(conn, history)
        publish_each(conn, map(score_changed, history), now=now)
    return Replaced(rows.contact_ids.size, sum(1 for h in history if h["kind"] == "grade"))


# The tables' own columns, in their order (the ids score_history numbers itself left out).
_HISTORY = tuple(c.name for c in score_history.columns if c.name != "id")
_COLUMNS = tuple(c.name for c in contact_scores.columns)


def _insert_history(conn: Connection, history: list[dict[str, Any]]) -> None:
    """The history rows through the driver's executemany (a rescore may write 100,000s)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in _HISTORY)
    sql = f"INSERT INTO score_history ({names}) VALUES ({', '.join([mark] * len(_HISTORY))})"
    to_time = type_time(conn.dialect)
    times: dict[datetime, Any] = {}  # most rows share the rescore's time: converted once

    def time(at: datetime) -> Any:
        found = times.get(at)
        if found is None:
            found = times[at] = to_time(at)
        return found

    values = itemgetter(*_HISTORY)
    at = _HISTORY.index("at")
    params = ((*row[:at], time(row[at]), *row[at + 1 :]) for row in map(values, history))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()


def _params(
    model: ScoringModel,
    rows: ScoreRows,
    now: datetime,
    sqlite: bool,
    chosen: NDArray[np.bool_],
    *,
    contact_last: bool,
) -> Iterator[tuple[Any, ...]]:
    """The ``chosen`` rows as the driver takes them, in _COLUMNS order (the contact id
    last for the UPDATE)."""
    now_micros = to_micros(now)
    now_value: Any = sqlite_time(now) if sqlite else now

    def time(micros: int) -> Any:
        if micros == now_micros:
            return now_value
        at = from_micros(micros)
        return sqlite_time(at) if sqlite else at

    grades, states = rows.grade, rows.state
    which = np.flatnonzero(chosen)
    picked = which.tolist()
    version = model.version
    for i, contact_id, fit, engagement, total, as_of in zip(
        picked,
        rows.contact_ids[which].tolist(),
        rows.fit[which].tolist(),
        rows.engagement[which].tolist(),
        rows.total[which].tolist(),
        rows.as_of[which].tolist(),
        strict=True,
    ):
        values = (version, fit, engagement, total, grades[i], time(as_of), states[i])
        yield (*values, contact_id) if contact_last else (contact_id, *values)


@dataclass(frozen=True)
class OldScores:
    contact_ids: Ints  # ascending
    grade: list[str]
    total: Floats


def stored_scores(conn: Connection, contact_ids: Sequence[int] | None) -> OldScores:
    """The stored grades and totals of ``contact_ids`` (None: all)."""
    sql = "SELECT contact_id, grade, total FROM contact_scores"
    rows: list[Any] = []
    if contact_ids is None:
        rows = list(conn.exec_driver_sql(sql + " ORDER BY contact_id"))
    else:
        query = select(contact_scores.c.contact_id, contact_scores.c.grade, contact_scores.c.total)
        for chunk in chunked(sorted(set(contact_ids))):
            rows += conn.execute(query.where(contact_scores.c.contact_id.in_(chunk)))
        rows.sort(key=lambda row: row[0])
    ids, grades, totals = zip(*rows, strict=True) if rows else ((), (), ())
    return OldScores(
        np.array(ids, dtype=np.int64), list(grades), np.array(totals, dtype=np.float64)
    )


def _history(
    model: ScoringModel, rows: ScoreRows, old: OldScores, *, cause: str
) -> list[dict[str, Any]]:
    """History rows for the contacts whose grade changed or that crossed a threshold."""
    n = rows.contact_ids.size
    place = np.minimum(
        np.searchsorted(old.contact_ids, rows.contact_ids), max(old.contact_ids.size - 1, 0)
    )
    known = (
        old.contact_ids[place] == rows.contact_ids if old.contact_ids.size else np.zeros(n, bool)
    )
    old_grade = np.array(old.grade, dtype=object)[place] if old.contact_ids.size else None
    old_total = old.total[place] if old.contact_ids.size else np.zeros(n)
    changed = ~known
    if old_grade is not None:
        changed |= old_grade != np.array(rows.grade, dtype=object)
    for _, minimum in model.thresholds:
        changed |= known & ((old_total >= minimum) != (rows.total >= minimum))
    found: list[dict[str, Any]] = []
    for i in np.flatnonzero(changed).tolist():
        before = (
            (str(old_grade[i]), float(old_total[i])) if known[i] and old_grade is not None else None
        )
        score = Now(
            rows.grade[i], float(rows.total[i]), from_micros(int(rows.as_of[i])), model.version
        )
        found += changes(
            model.thresholds, int(rows.contact_ids[i]), before, score, cause=cause, activity_id=None
        )
    return found


class Now(NamedTuple):
    """What a history entry needs of a score just computed."""

    grade: str
    total: float
    at: datetime
    model_version: str


def changes(
    thresholds: Sequence[tuple[str, float]],
    contact_id: int,
    before: tuple[str, float] | None,
    score: Now,
    *,
    cause: str,
    activity_id: int | None,
) -> list[dict[str, Any]]:
    """History rows for what changed from ``before`` (grade, total) to ``score``."""
    base = {
        "contact_id": contact_id,
        "at": score.at,
        "total": score.total,
        "model_version": score.model_version,
        "cause": cause,
        "activity_id": activity_id,
        "name": None,
    }
    found = []
    old_grade = before[0] if before else None
    if old_grade != score.grade:
        found.append({**base, "kind": "grade", "before": old_grade, "after": score.grade})
    old_total = before[1] if before else None
    for name, minimum in thresholds:
        was = old_total is not None and old_total >= minimum
        now_above = score.total >= minimum
        if was != now_above:
            found.append(
                {
                    **base,
                    "kind": "threshold",
                    "name": name,
                    "before": "above" if was else "below",
                    "after": "above" if now_above else "below",
                }
            )
    return found
