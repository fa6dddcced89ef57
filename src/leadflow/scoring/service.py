"""Scores in storage: the active model, scoring new events, rescoring, reading, explaining.

- The active model is the scoring file last activated (``leadflow score --all``, or
  ``leadflow init``); its text is stored with its version, so every process scores with the
  same rules whatever the file on disk says now. Editing the file changes nothing until it
  is activated; a file that does not parse is refused and the previous model stays active.
- Recording events updates their contacts' scores in the same transaction
  (:func:`score_new_events`): one read and one write of a narrow row per contact, whatever
  its history (the engagement sums decay lazily, see :mod:`leadflow.scoring.decay`).
- :func:`rescore` computes every contact's state set-based (:mod:`leadflow.scoring.bulk`)
  and replaces all scores in one transaction: readers see the old scores until it commits.
- Every grade change and threshold crossing goes to ``score_history``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from leadflow.activity.models import activities
from leadflow.activity.store import wire_for
from leadflow.clock import Clock
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.contacts.queries import resolve_contact_id
from leadflow.errors import NotFound
from leadflow.lifecycle.models import qualifications
from leadflow.memory import paused_gc
from leadflow.rules import EventCondition, Scope, Snapshot, scopes_read
from leadflow.rules.ast import AllOf, AnyOf, Condition, Not
from leadflow.scoring.bulk import bulk_states
from leadflow.scoring.decay import from_micros, to_micros
from leadflow.scoring.engine import (
    ContactState,
    Score,
    Totals,
    fit_contributions,
    read_score,
    record_event,
    score_contact,
    totals,
)
from leadflow.scoring.model import ScoringModel
from leadflow.scoring.models import contact_scores, score_history, scoring_models
from leadflow.scoring.parse import parse_model
from leadflow.scoring.rewrite import (
    Now,
    Replaced,
    bulk_rows,
    changes,
    replace_scores,
    rows_of_states,
    stored_scores,
    write_scores,
)
from leadflow.scoring.state import (
    StoredState,
    dump_state,
    fit_from_names,
    fold_events,
    load_state,
    raw_sums,
)
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked, driver_rows
from leadflow.webhooks.engine import score_changed
from leadflow.webhooks.service import publish_each

# Up to this many contacts are rescored by replaying their logs in Python, more by SQL.
PYTHON_RESCORE_MAX = 200

# Parsed models by version: a version is a hash of the text, so it never changes meaning.
_PARSED: dict[str, ScoringModel] = {}


# -- models --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    version: str
    loaded_at: datetime
    activated_at: datetime | None


def register_model(conn: Connection, text: str, *, filename: str, now: datetime) -> ScoringModel:
    """Parse ``text`` (raising every problem, naming ``filename``:line) and store it as a
    version if it is new. Storing does not activate it."""
    model = parse_model(text, filename=filename)
    known = conn.execute(
        select(scoring_models.c.id).where(scoring_models.c.version == model.version)
    ).scalar()
    if known is None:
        conn.execute(
            insert(scoring_models).values(
                version=model.version, source=text, loaded_at=now, active=False
            )
        )
    _PARSED[model.version] = model
    return model


# Read on every event batch: built once, and the model's text read only when this process
# has not parsed that version yet.
_ACTIVE = select(scoring_models.c.version).where(scoring_models.c.active)
_SOURCE = select(scoring_models.c.source).where(scoring_models.c.version == bindparam("version"))


def active_model(conn: Connection) -> ScoringModel | None:
    """The model new events are scored with; None before any was activated."""
    version = conn.execute(_ACTIVE).scalar()
    if version is None:
        return None
    if version not in _PARSED:
        source = conn.execute(_SOURCE, {"version": version}).scalar_one()
        return _parsed(version, source)
    return _PARSED[version]


def model_versions(db: Database) -> list[ModelInfo]:
    with db.read() as conn:
        rows = conn.execute(
            select(
                scoring_models.c.version,
                scoring_models.c.loaded_at,
                scoring_models.c.activated_at,
            ).order_by(scoring_models.c.id)
        )
        return [ModelInfo(r.version, r.loaded_at, r.activated_at) for r in rows]


# -- rescoring -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RescoreResult:
    version: str
    contacts: int
    grade_changes: int
    as_of: datetime


def rescore(db: Database, clock: Clock, text: str, *, filename: str) -> RescoreResult:
    """Activate the model in ``text`` and score every contact with it, all or nothing."""
    now = clock.now()
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            # Events recorded meanwhile would update rows this replaces: they wait instead.
            conn.exec_driver_sql("LOCK TABLE contact_scores IN EXCLUSIVE MODE")
        model = register_model(conn, text, filename=filename, now=now)
        conn.execute(update(scoring_models).values(active=False))
        conn.execute(
            update(scoring_models)
            .where(scoring_models.c.version == model.version)
            .values(activated_at=now, active=True)
        )
        done = rescore_contacts(conn, model, now, None, cause="rescore")
        # New scores may meet (or miss) the lifecycle's rules: they run in the same
        # transaction. (Imported here: lifecycle builds on scoring.)
        from leadflow.lifecycle.service import apply_rules

        apply_rules(conn, None, now=now)
    return RescoreResult(model.version, done.scored, done.grade_changes, now)


def rescore_contacts(
    conn: Connection,
    model: ScoringModel,
    now: datetime,
    contact_ids: Sequence[int] | None,
    *,
    cause: str,
) -> Replaced:
    """Recompute the scores of ``contact_ids`` (None: every contact) from the log, in the
    caller's transaction: a few by replaying their logs, more set-based."""
    if contact_ids is not None and len(contact_ids) <= PYTHON_RESCORE_MAX:
        rows = rows_of_states(model, _states_in_python(conn, model, now, contact_ids), now)
        return replace_scores(conn, model, rows, contact_ids, now=now, cause=cause)
    with paused_gc():  # millions of short-lived tuples, no cycles (leadflow.memory)
        states = bulk_states(conn, model, now, contact_ids)
        # The new rows are built (NumPy, Arrow: mostly without the GIL) while this thread
        # reads the old grades.
        with ThreadPoolExecutor(1, thread_name_prefix="leadflow-rescore") as pool:
            building = pool.submit(bulk_rows, model, states, now)
            old = stored_scores(conn, contact_ids)
            rows = building.result()
        return write_scores(conn, model, rows, old, now=now, cause=cause)


def _as_of(engagement: ContactState, now: datetime) -> datetime:
    """When a state is read: now, or its latest scored occurrence if that is later (the
    decayed sums cannot be read before their reference)."""
    return max([now, *(s.ref for s in engagement.rules.values() if s.ref is not None)])


def _states_in_python(
    conn: Connection, model: ScoringModel, now: datetime, contact_ids: Sequence[int]
) -> dict[int, StoredState]:
    """The set-based states for a few contacts, by replaying their logs through the
    incremental path: for a handful, building and running the SQL costs more (milliseconds
    per rule) than reading their history. Same definition: activities up to ``now``, in
    recorded order."""
    found: dict[int, StoredState] = {}
    for contact_id, snapshot in load_snapshots(conn, contact_ids, now, activity=True).items():
        if snapshot.contact["status"] != "active":
            continue
        engagement = ContactState()
        for event in snapshot.activities:
            if event["occurred_at"] <= now:
                engagement = record_event(model, engagement, event)
        fit = tuple(c.rule for c in fit_contributions(model, snapshot))
        found[contact_id] = StoredState(fit, engagement)
    return found


def score_contacts(conn: Connection, contact_ids: Sequence[int], *, now: datetime) -> None:
    """Score these contacts again from storage (their fields, account and log), in the
    caller's transaction: after a capture changed who they are."""
    model = active_model(conn)
    if model is not None and contact_ids:
        rescore_contacts(conn, model, now, contact_ids, cause="contact")


def rescore_after_merge(
    conn: Connection, survivor_id: int, merged_id: int, *, now: datetime
) -> None:
    """A merge moved the merged contact's activities to the survivor: the survivor is scored
    again from its log, and the merged contact's score goes (its history stays)."""
    conn.execute(delete(contact_scores).where(contact_scores.c.contact_id == merged_id))
    model = active_model(conn)
    if model is not None:
        rescore_contacts(conn, model, now, [survivor_id], cause="merge")


# -- the hot path --------------------------------------------------------------------------


class NewEvent(NamedTuple):
    """A newly stored activity, as the scoring of its contact needs it (a named tuple: one is
    made per event on the ingest path)."""

    contact_id: int
    activity_id: int
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any]


def score_new_events(
    conn: Connection,
    events: Sequence[NewEvent],
    *,
    now: datetime,
    created: Collection[int] = (),
) -> set[int]:
    """Fold newly recorded events into their contacts' scores, in the caller's transaction;
    the contacts whose score changed. ``created``: contacts these events made, scored here
    for the first time even when no rule reads their events.

    The caller must have taken :func:`lock_for_scoring` on the contacts before inserting
    the events. Per contact whose events some rule may score: one stored row read, the new
    events folded in (O(1) each), and one row written if the state changed. A grade that
    changes by decay alone is therefore recorded at the contact's next scoring write (and
    is read right at any time). A contact without a row gets its fit computed first; one
    scored under another model, or any contact when a fit rule looks at activity, is
    recomputed from the log.
    """
    model = active_model(conn)
    if model is None or not (events or created):
        return set()
    history_fit = _fit_reads_activity(model)
    feeds = model.rules_by_type
    by_contact: dict[int, list[NewEvent]] = {}
    for event in sorted(events, key=lambda e: e.activity_id):
        # An activity no engagement rule names leaves the score as it was: its contact's
        # row is neither read nor written (most of a batch: page views, opens, deliveries).
        if history_fit or event.type in feeds:
            by_contact.setdefault(event.contact_id, []).append(event)
    for contact_id in sorted(created):
        by_contact.setdefault(contact_id, [])
    if not by_contact:
        return set()
    stored = _load(conn, by_contact)
    full = [
        cid
        for cid in by_contact
        if history_fit or (cid in stored and stored[cid][0] != model.version)
    ]
    if full:
        rescore_contacts(conn, model, now, full, cause="event")
    skip = set(full)
    fresh = [cid for cid in by_contact if cid not in stored and cid not in skip]
    fits = _fit_in_python(conn, model, fresh, now)
    rows: list[dict[str, Any]] = []
    updates: list[tuple[Any, ...]] = []
    history: list[dict[str, Any]] = []
    to_time = wire_for(conn.dialect).to_time
    now_micros = to_micros(now)
    as_of: dict[int, tuple[datetime, Any]] = {}  # epoch micros -> the time, and as bound
    for contact_id, evs in by_contact.items():
        if contact_id in skip:
            continue
        if contact_id in stored:
            _, grade, total, data = stored[contact_id]
            before: tuple[str, float] | None = (grade, total)
        else:
            data = dump_state(StoredState(fits.get(contact_id, ()), ContactState()))
            before = None
        rules = data["rules"]
        if not fold_events(model, rules, [_event_row(e) for e in evs]) and before is not None:
            continue  # filtered out by a rule's where:, or beyond its caps: nothing changed
        sums = raw_sums(rules)
        at = max(
            [now_micros, *(ref for _, _, ref in sums), *(to_micros(e.occurred_at) for e in evs)]
        )
        found = totals(model, data["fit"], sums, at)
        # Most contacts of a batch are read as of the batch's now: convert each time once.
        if (times := as_of.get(at)) is None:
            moment = from_micros(at)
            times = as_of[at] = (moment, to_time(moment))
        at_time = times[0]
        if before is None:
            rows.append(_row_of(contact_id, model, data, found, at_time))
        else:
            updates.append(_update_params(contact_id, model, data, found, times[1]))
        history += changes(
            model.thresholds,
            contact_id,
            before,
            Now(found.grade, found.total, at_time, model.version),
            cause="event",
            activity_id=evs[-1].activity_id if evs else None,
        )
    if rows:
        conn.execute(insert(contact_scores), rows)
    if updates:
        conn.exec_driver_sql(_update_sql(conn.dialect.name), sorted(updates, key=lambda u: u[-1]))
    if history:
        conn.execute(insert(score_history), history)
        publish_each(conn, map(score_changed, history), now=now)
    return {*full, *(r["contact_id"] for r in rows), *(u[-1] for u in updates)}


def _update_sql(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    columns = ("model_version", "fit", "engagement", "total", "grade", "as_of", "state")
    sets = ", ".join(f"{c} = {mark}" for c in columns)
    return f"UPDATE contact_scores SET {sets} WHERE contact_id = {mark}"


def _update_params(
    contact_id: int, model: ScoringModel, state: Mapping[str, Any], found: Totals, as_of: Any
) -> tuple[Any, ...]:
    """One row's UPDATE parameters as the driver takes them (in contact id order, last, so
    that concurrent batches on PostgreSQL lock rows in one order)."""
    return (
        model.version,
        found.fit,
        found.engagement,
        found.total,
        found.grade,
        as_of,
        orjson.dumps(state).decode(),
        contact_id,
    )


def _row_of(
    contact_id: int, model: ScoringModel, state: Mapping[str, Any], found: Totals, at: datetime
) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "model_version": model.version,
        "fit": found.fit,
        "engagement": found.engagement,
        "total": found.total,
        "grade": found.grade,
        "as_of": at,
        "state": state,
    }


def lock_for_scoring(conn: Connection, contact_ids: Iterable[int]) -> None:
    """PostgreSQL: hold the contacts' rows until commit, so that two processes scoring the
    same contact take turns (each reads the state the other wrote) instead of one
    overwriting the other's events.

    Taken before the events are inserted: caps count a contact's events in activity id
    order, so the ids must be drawn in the order the batches are scored. (Locked after the
    insert, a batch holding later ids could be scored first: a CI run caught that.)
    In id order, so batches never deadlock among themselves; FOR NO KEY UPDATE, so it waits
    for no insert that merely references the contact (the activities' foreign key takes
    KEY SHARE). SQLite's one writer already serialises them.
    """
    if conn.dialect.name != "postgresql":
        return
    for chunk in chunked(sorted(contact_ids)):
        conn.execute(
            select(contacts.c.id)
            .where(contacts.c.id.in_(chunk))
            .order_by(contacts.c.id)
            .with_for_update(key_share=True)
        ).all()


def _event_row(event: NewEvent) -> dict[str, Any]:
    return {
        "id": event.activity_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "properties": event.properties,
    }


def _load(
    conn: Connection, by_contact: Mapping[int, Any]
) -> dict[int, tuple[str, str, float, dict[str, Any]]]:
    """The stored rows of these contacts: version, grade, total and the state as parsed
    JSON (through the driver and orjson: the hot path reads a row per contact per batch)."""
    found: dict[int, tuple[str, str, float, dict[str, Any]]] = {}
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    for chunk in chunked(sorted(by_contact)):
        sql = (
            "SELECT contact_id, model_version, grade, total, state FROM contact_scores "
            f"WHERE contact_id IN ({', '.join([mark] * len(chunk))})"
        )
        for contact_id, version, grade, total, state in driver_rows(conn, sql, chunk):
            # psycopg hands JSON over parsed; sqlite3 as text.
            data = state if isinstance(state, dict) else orjson.loads(state)
            found[contact_id] = (version, grade, total, data)
    return found


def _fit_reads_activity(model: ScoringModel) -> bool:
    return any(_reads_activity(rule.condition) for rule in model.fit_rules)


def _reads_activity(condition: Condition) -> bool:
    if isinstance(condition, EventCondition):
        return True
    if isinstance(condition, AllOf | AnyOf):
        return any(_reads_activity(c) for c in condition.items)
    if isinstance(condition, Not):
        return _reads_activity(condition.item)
    return False


def _fit_in_python(
    conn: Connection, model: ScoringModel, contact_ids: Sequence[int], now: datetime
) -> dict[int, tuple[str, ...]]:
    """The fit rules that hold for contacts first scored now (their contact, account and
    touches only: models whose fit reads activity take the set-based path instead)."""
    found: dict[int, tuple[str, ...]] = {}
    reads = _fit_scopes(model)
    snapshots = load_snapshots(conn, contact_ids, now, activity=False, reads=reads)
    for contact_id, snapshot in snapshots.items():
        found[contact_id] = tuple(c.rule for c in fit_contributions(model, snapshot))
    return found


_FIT_SCOPES: dict[str, frozenset[Scope]] = {}


def _fit_scopes(model: ScoringModel) -> frozenset[Scope]:
    """What the fit rules read, so that a snapshot loads no touches, score or criteria that
    none of them looks at (an event batch scores its new contacts with three queries fewer:
    ~0.25 ms of a batch)."""
    if model.version not in _FIT_SCOPES:
        _FIT_SCOPES[model.version] = scopes_read(r.condition for r in model.fit_rules)
    return _FIT_SCOPES[model.version]


# -- reading -------------------------------------------------------------------------------


def _score(model: ScoringModel, state: StoredState, at: datetime) -> Score:
    return read_score(model, state.engagement, fit_from_names(model, state.fit), at)


@dataclass(frozen=True)
class StoredScore:
    contact_id: int
    score: Score  # as of the moment asked for, decay applied
    stored_as_of: datetime


def current_score(db: Database, ref: str | int, *, now: datetime) -> StoredScore:
    """A contact's score as of ``now``, from its stored state (no history read)."""
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        model = active_model(conn)
        if model is None:
            raise NotFound("no scoring model is active yet (run `leadflow score --all`)")
        row = conn.execute(
            select(contact_scores).where(contact_scores.c.contact_id == contact_id)
        ).first()
        if row is None:
            # Not scored yet (imported, say, and no event since): computed now, from storage.
            state = _states_in_python(conn, model, now, [contact_id])[contact_id]
            return StoredScore(contact_id, _score(model, state, _as_of(state.engagement, now)), now)
        if row.model_version != model.version:
            model = _model_of(conn, row.model_version)
    state = load_state(row.state)
    return StoredScore(contact_id, _score(model, state, max(now, row.as_of)), row.as_of)


def _model_of(conn: Connection, version: str) -> ScoringModel:
    if version in _PARSED:
        return _PARSED[version]
    source = conn.execute(
        select(scoring_models.c.source).where(scoring_models.c.version == version)
    ).scalar_one()
    return _parsed(version, source)


def _parsed(version: str, source: str) -> ScoringModel:
    """The stored model of ``version``, parsed once per process."""
    if version not in _PARSED:
        _PARSED[version] = parse_model(source, filename=f"scoring model {version}")
    return _PARSED[version]


def explain(db: Database, ref: str | int, *, now: datetime) -> tuple[int, Score]:
    """Every contribution to a contact's score, with its evidence events, as of ``now``:
    the reference computation over the contact's whole history under the active model."""
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        model = active_model(conn)
        if model is None:
            raise NotFound("no scoring model is active yet (run `leadflow score --all`)")
        snapshot = load_snapshots(conn, [contact_id], now, activity=True)[contact_id]
    return contact_id, score_contact(model, snapshot, now)


def history(db: Database, ref: str | int) -> list[dict[str, Any]]:
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        rows = conn.execute(
            select(score_history)
            .where(score_history.c.contact_id == contact_id)
            .order_by(score_history.c.at, score_history.c.id)
        ).mappings()
        return [dict(r) for r in rows]


# -- snapshots -----------------------------------------------------------------------------


def load_snapshots(
    conn: Connection,
    contact_ids: Sequence[int],
    now: datetime,
    *,
    activity: bool,
    reads: Collection[Scope] | None = None,
) -> dict[int, Snapshot]:
    """Contacts as the condition evaluator sees them: row, account, touches and, when asked
    for, activities (oldest first). ``reads`` (the scopes some conditions read, when the
    caller knows them) leaves out touches, score and criteria nobody looks at."""
    if not contact_ids:
        return {}
    people: dict[int, dict[str, Any]] = {}
    for chunk in chunked(sorted(set(contact_ids))):
        for row in conn.execute(select(contacts).where(contacts.c.id.in_(chunk))).mappings():
            people[row["id"]] = dict(row)
    account_ids = sorted({p["account_id"] for p in people.values() if p["account_id"]})
    by_account: dict[int, dict[str, Any]] = {}
    for chunk in chunked(account_ids):
        for row in conn.execute(select(accounts).where(accounts.c.id.in_(chunk))).mappings():
            by_account[row["id"]] = dict(row)

    def wanted(*scopes: Scope) -> bool:
        return reads is None or any(scope in reads for scope in scopes)

    ids = list(people)
    by_touch = (
        _grouped(conn, touches, ids, order=touches.c.id)
        if wanted(Scope.FIRST_TOUCH, Scope.LAST_TOUCH, Scope.TOUCH)
        else {}
    )
    by_event = _grouped(conn, activities, ids, order=activities.c.id) if activity else {}
    scored = _grouped_rows(conn, contact_scores, ids) if wanted(Scope.SCORE) else []
    scores = {r["contact_id"]: r for r in scored}
    criteria: dict[int, dict[str, Any]] = {}
    held = _grouped_rows(conn, qualifications, ids) if wanted(Scope.QUALIFICATION) else []
    for criterion in held:
        criteria.setdefault(criterion["contact_id"], {})[criterion["criterion"]] = criterion[
            "value"
        ]
    return {
        cid: Snapshot(
            contact=p,
            now=now,
            account=by_account.get(p["account_id"]) if p["account_id"] else None,
            touches=by_touch.get(cid, []),
            activities=by_event.get(cid, []),
            score=scores.get(cid),
            qualification=criteria.get(cid, {}),
        )
        for cid, p in people.items()
    }


def _grouped_rows(conn: Connection, table: Any, ids: list[int]) -> list[dict[str, Any]]:
    """The rows of ``table`` that belong to these contacts (score rows, criteria)."""
    found: list[dict[str, Any]] = []
    for chunk in chunked(sorted(ids)):
        query = select(table).where(table.c.contact_id.in_(chunk))
        found += [dict(r) for r in conn.execute(query).mappings()]
    return found


def _grouped(conn: Connection, table: Any, ids: list[int], *, order: Any) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = {}
    for chunk in chunked(sorted(ids)):
        query = select(table).where(table.c.contact_id.in_(chunk)).order_by(order)
        for row in conn.execute(query).mappings():
            found.setdefault(row["contact_id"], []).append(dict(row))
    return found
