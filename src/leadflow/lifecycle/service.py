"""Lifecycle in storage: the active lifecycle file, stage moves by hand and by rule, and the
qualification record.

- The active lifecycle is the ``lifecycle.yaml`` last loaded (``leadflow lifecycle load``,
  or ``leadflow init``); its text is kept by version in ``config_versions`` so every process
  moves contacts by the same rules.
- New contacts start in the initial stage (:func:`initial_stage`, read by the capture and
  import writers). A move by hand needs a reason and must be allowed by ``moves:``.
- Automatic rules run set-based (:func:`apply_rules`): each rule's condition compiled to SQL
  over the contacts asked for, the first rule in file order that holds for a contact's stage
  moves it, and the new stage's rules are tried next. They run on every event batch, after
  captures and qualification changes, and after a rescore.
- Every move is a row of ``stage_transitions``: from, to, when, by whom or which rule, why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from leadflow.clock import Clock
from leadflow.contacts.models import contacts
from leadflow.contacts.queries import resolve_contact_id
from leadflow.errors import ConfigError, ValidationError
from leadflow.lifecycle import deals, versions
from leadflow.lifecycle.config import LIFECYCLE_FILE, LifecycleConfig, StageRule, parse_lifecycle
from leadflow.lifecycle.engine import Move, captured_criteria, check_criterion, check_move
from leadflow.lifecycle.models import qualifications, stage_transitions
from leadflow.privacy.tombstones import is_erased, refuse_erased
from leadflow.rules.compile import TimeBinds, compile_condition_for_any_time
from leadflow.storage.database import Database
from leadflow.storage.metadata import UtcDateTime
from leadflow.storage.prepared import Prepared, ids_in
from leadflow.storage.sql import chunked
from leadflow.webhooks.engine import STAGE_CHANGED, stage_changed
from leadflow.webhooks.service import publish

KIND = "lifecycle"
# The rules' statement by (lifecycle version, rules asked, for everyone), with its time
# parameters.
_QUERIES: dict[tuple[str, str, tuple[str, ...], bool], tuple[Prepared, TimeBinds]] = {}
RECYCLED = "recycled"
SOURCES = ("form", "import", "sales", "rule")


# -- the active file -----------------------------------------------------------------------


def load_lifecycle(
    db: Database, clock: Clock, text: str, *, filename: str = LIFECYCLE_FILE
) -> tuple[LifecycleConfig, int]:
    """Activate the lifecycle in ``text`` (refused whole if any problem), then run its rules
    over every contact; the config and how many contacts moved."""
    config = parse_lifecycle(text, filename=filename)
    now = clock.now()
    with db.write() as conn:
        _store(conn, config, text, now=now)
        moved = apply_rules(conn, None, now=now)
    return config, len({cid for cid, _ in moved})


def load_lifecycle_if_none(db: Database, clock: Clock, path: Path) -> LifecycleConfig | None:
    """At ``leadflow init``: activate the workspace's file unless one is active already."""
    with db.read() as conn:
        if active_lifecycle(conn) is not None:
            return None
    try:
        config = parse_lifecycle(path.read_text(encoding="utf-8"), filename=path.name)
    except (OSError, ConfigError):
        return None  # `leadflow config check` says what is wrong
    with db.write() as conn:
        _store(conn, config, path.read_text(encoding="utf-8"), now=clock.now())
    return config


def _store(conn: Connection, config: LifecycleConfig, text: str, *, now: datetime) -> None:
    versions.activate(conn, KIND, config.version, text, config, now=now)
    # Contacts from before any lifecycle (or whose stage this file no longer has) start in
    # its initial stage, entered when they were created.
    conn.execute(
        update(contacts)
        .where(or_(contacts.c.stage.is_(None), contacts.c.stage.not_in(config.all_stages)))
        .values(stage=config.initial, stage_entered_at=contacts.c.created_at)
    )


def active_lifecycle(conn: Connection) -> LifecycleConfig | None:
    return versions.active(conn, KIND, lambda text, name: parse_lifecycle(text, filename=name))


def initial_stage(conn: Connection) -> str | None:
    """The stage new contacts start in; None before any lifecycle was loaded."""
    config = active_lifecycle(conn)
    return config.initial if config is not None else None


# -- moves by hand ------------------------------------------------------------------------


def move_contact(
    db: Database, clock: Clock, ref: str | int, target: str, *, by: str, reason: str
) -> Move:
    """Move a contact by hand; refused (nothing written) when the lifecycle does not allow
    the move, or when who or why is missing."""
    if not by.strip():
        raise ValidationError("say who moves the contact", field="by")
    if not reason.strip():
        raise ValidationError("say why the contact moves", field="reason")
    now = clock.now()
    with db.write() as conn:
        config = _required(conn)
        contact_id = resolve_contact_id(conn, ref)
        refuse_erased(conn, contact_id)
        stage = conn.execute(select(contacts.c.stage).where(contacts.c.id == contact_id)).scalar()
        move = check_move(config, stage, target)
        _record(conn, contact_id, move, now=now, cause="manual", by=by.strip(), reason=reason)
        moved = apply_rules(conn, [contact_id], now=now)  # the new stage's rules may hold
        if not moved:  # (apply_rules hands off the contacts it moves itself)
            _hand_off(conn, config, [(contact_id, move)], now=now)
    return move


def _required(conn: Connection) -> LifecycleConfig:
    config = active_lifecycle(conn)
    if config is None:
        raise ConfigError("no lifecycle is active yet (run `leadflow lifecycle load`)")
    return config


def recycle(conn: Connection, contact_id: int, *, reason: str, now: datetime) -> bool:
    """Send a contact back to nurture as ``recycled`` (the SLA job: a prospect untouched too
    long), when the lifecycle has that stage and allows the move; whether it moved."""
    config = active_lifecycle(conn)
    stage = conn.execute(select(contacts.c.stage).where(contacts.c.id == contact_id)).scalar()
    if config is None or stage is None or not config.allows(stage, RECYCLED):
        return False
    move = Move(stage, RECYCLED, None, config.is_backward(stage, RECYCLED))
    _record(conn, contact_id, move, now=now, cause="sla", reason=reason, version=config.version)
    return True


def _record(
    conn: Connection, contact_id: int, move: Move, *, now: datetime, cause: str, **meta: Any
) -> None:
    """One move: ``meta`` as :func:`_transition` takes it (by, rule, reason...)."""
    _record_many(conn, [_transition(contact_id, move, now, cause, **meta)], now=now)


def _transition(
    contact_id: int,
    move: Move,
    now: datetime,
    cause: str,
    *,
    by: str | None = None,
    rule: str | None = None,
    reason: str | None = None,
    activity_id: int | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "from_stage": move.source,
        "to_stage": move.target,
        "at": now,
        "cause": cause,
        "rule": rule,
        "by_user": by,
        "reason": reason,
        "activity_id": activity_id,
        "config_version": version,
    }


def _record_many(conn: Connection, rows: Sequence[dict[str, Any]], *, now: datetime) -> None:
    """Moves as transition rows: the contacts' stages and the log, in two statements."""
    if not rows:
        return
    conn.execute(
        update(contacts)
        .where(contacts.c.id == bindparam("cid"))
        .values(stage=bindparam("stage"), stage_entered_at=now),
        [{"cid": r["contact_id"], "stage": r["to_stage"]} for r in rows],
    )
    conn.execute(insert(stage_transitions), list(rows))
    publish(conn, STAGE_CHANGED, map(stage_changed, rows), now=now)
    for row in rows:
        if row["to_stage"] == deals.OPPORTUNITY:
            # Every opportunity has an open deal; open_deal writes its own before the move.
            deals.ensure_deal(conn, row["contact_id"], now=now, by=row["by_user"])


# -- moves by rule -------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What an event batch changed, per contact: the types of its new events, and whether
    its score changed. A rule runs only for the contacts whose data it reads changed."""

    event_types: Mapping[int, frozenset[str]]
    rescored: frozenset[int]

    def candidates(self, rules: Iterable[StageRule]) -> set[int]:
        """Contacts some rule may now judge differently. Each of them is then tried against
        every rule, in order, so that the first rule that holds still wins."""
        found: set[int] = set()
        for rule in rules:
            reads = rule.reads
            found |= self.rescored if reads.other else set()
            wanted = reads.activity_types
            if wanted is not None:
                found |= {c for c, ts in self.event_types.items() if not wanted or ts & wanted}
        return found


def apply_rules(
    conn: Connection,
    contact_ids: Sequence[int] | None,
    *,
    now: datetime,
    activity_ids: Mapping[int, int] | None = None,
    changes: Changes | None = None,
    waiting_only: bool = False,
) -> list[tuple[int, Move]]:
    """Run the active lifecycle's rules over these contacts (None: all), in the caller's
    transaction; the moves made. ``activity_ids`` names the event behind each contact's
    evaluation, for the transition rows; ``changes`` (the events path) narrows each rule to
    the contacts whose data it reads changed in the batch; ``waiting_only`` (the periodic
    job) runs only the rules with ``min_stay``, which can come to hold with no new data."""
    config = active_lifecycle(conn)
    if config is None or not config.rules or contact_ids == []:
        return []
    rules = tuple(r for r in config.rules if r.min_stay is not None or not waiting_only)
    made: list[tuple[int, Move]] = []
    visited: dict[int, set[str]] = {}
    pending = None if contact_ids is None else sorted(set(contact_ids))
    if changes is not None and pending is not None:
        pending = sorted(set(pending) & changes.candidates(rules))
    for _ in range(len(config.all_stages)):
        if pending == []:
            break
        moves = _first_moves(conn, config, rules, pending, now=now)
        rules = config.rules  # a contact that moved is tried against all its new stage's rules
        moves = {cid: m for cid, m in moves.items() if m.target not in visited.get(cid, set())}
        rows = []
        for contact_id, move in sorted(moves.items()):
            visited.setdefault(contact_id, {move.source}).add(move.target)
            rows.append(_rule_transition(config, contact_id, move, now, activity_ids))
            made.append((contact_id, move))
        _record_many(conn, rows, now=now)
        if not moves:
            break
        pending = sorted(moves)  # a contact that moved may move on under its new stage's rules
    _hand_off(conn, config, made, now=now)
    return made


def _hand_off(
    conn: Connection, config: LifecycleConfig, moves: Sequence[tuple[int, Move]], *, now: datetime
) -> None:
    """Contacts whose last move of this pass entered the hand-off stage go to sales.
    (Imported here: routing builds on lifecycle.)"""
    last = dict(moves)
    arrived = [cid for cid, move in last.items() if move.target == config.handoff]
    if arrived:
        from leadflow.routing.service import hand_off

        hand_off(conn, arrived, now=now)


def _rule_transition(
    config: LifecycleConfig,
    contact_id: int,
    move: Move,
    now: datetime,
    activity_ids: Mapping[int, int] | None,
) -> dict[str, Any]:
    rule = next(r for r in config.rules if r.name == move.rule)
    return _transition(
        contact_id,
        move,
        now,
        "rule",
        rule=rule.name,
        reason=f"{rule.name}: {rule.condition}" if rule.condition else rule.name,
        activity_id=(activity_ids or {}).get(contact_id),
        version=config.version,
    )


def _first_moves(
    conn: Connection,
    config: LifecycleConfig,
    rules: Sequence[StageRule],
    contact_ids: Sequence[int] | None,
    *,
    now: datetime,
) -> dict[int, Move]:
    """For each contact, the move of the first rule (in file order) that holds for it."""
    if not rules:
        return {}
    query, binds = _rules_query(conn, config, rules, everyone=contact_ids is None)
    params: dict[str, Any] = {"hold_since": now - config.manual_hold, **binds.values(now)}
    for index, rule in enumerate(rules):
        params[f"stay_{index}"] = now - (rule.min_stay or timedelta(0))
    found: dict[int, Move] = {}
    for chunk in _id_chunks(contact_ids):
        asked = {} if chunk is None else {"ids": chunk}
        for contact_id, source, index in query.execute(conn, {**params, **asked}):
            rule = rules[index]
            backward = config.is_backward(source, rule.target)
            found[contact_id] = Move(source, rule.target, rule.name, backward)
    return found


def _rules_query(
    conn: Connection, config: LifecycleConfig, rules: Sequence[StageRule], *, everyone: bool
) -> tuple[Prepared, TimeBinds]:
    """One statement for all the rules: per contact, the index of the first rule (a CASE in
    file order) whose stages, holds and condition it meets. Built once per lifecycle
    version and set of rules, with the times and the contact ids as parameters: building
    and running a statement per rule and event batch was most of the rules' cost on the
    ingest path."""
    dialect = conn.dialect
    key = (dialect.name, config.version, tuple(r.name for r in rules), everyone)
    if key in _QUERIES:
        return _QUERIES[key]
    binds = TimeBinds()
    stage = func.coalesce(contacts.c.stage, config.initial)
    first = case(
        *((and_(stage.in_(r.sources), _when(r, i, binds)), i) for i, r in enumerate(rules)),
        else_=None,
    )
    inner = select(contacts.c.id, stage.label("stage"), first.label("rule")).where(
        contacts.c.status == "active"
    )
    if everyone:
        # An erased person's tombstone keeps its stage for the reports, but no rule moves
        # it again (the periodic min_stay pass, a rescore, a new lifecycle file). A run for
        # given contacts follows a write about them, and writes refuse tombstones first.
        inner = inner.where(~is_erased(contacts.c.id))
    else:
        inner = inner.where(ids_in(contacts.c.id, "ids", dialect))
    found = inner.subquery()
    query = select(found.c.id, found.c.stage, found.c.rule).where(found.c.rule.is_not(None))
    given = {
        "hold_since",
        *binds.names(),
        *(f"stay_{i}" for i in range(len(rules))),
    }
    _QUERIES[key] = (Prepared(query, dialect, given=given, ids=() if everyone else ("ids",)), binds)
    return _QUERIES[key]


def _id_chunks(contact_ids: Sequence[int] | None) -> Iterable[list[int] | None]:
    if contact_ids is None:
        yield None
        return
    yield from chunked(list(contact_ids))


def _when(rule: StageRule, index: int, binds: TimeBinds) -> Any:
    """The rule's tests beyond its stages: not moved out of the target by hand since
    ``hold_since`` (manual_hold), in the stage since ``stay_<index>`` at the latest
    (min_stay), and the condition."""
    overruled = (
        select(stage_transitions.c.id)
        .where(
            stage_transitions.c.contact_id == contacts.c.id,
            stage_transitions.c.cause == "manual",
            stage_transitions.c.from_stage == rule.target,
            stage_transitions.c.at > bindparam("hold_since", type_=UtcDateTime),
        )
        .exists()
    )
    # Cheapest first: SQLite stops at the first false term, and for most contacts the
    # condition is false, so the lookup of manual moves comes last (a million contacts
    # after a rescore: ~1 s of index searches saved).
    clauses = []
    if rule.min_stay is not None:
        entered = func.coalesce(contacts.c.stage_entered_at, contacts.c.created_at)
        clauses.append(entered <= bindparam(f"stay_{index}", type_=UtcDateTime))
    if rule.condition is not None:
        clauses.append(compile_condition_for_any_time(rule.condition, binds))
    clauses.append(~overruled)
    return and_(true(), *clauses)


# -- qualification -------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionValue:
    criterion: str
    value: str
    source: str
    set_by: str | None
    set_at: datetime
    confidence: float


def qualify(
    db: Database,
    clock: Clock,
    ref: str | int,
    values: Mapping[str, str],
    *,
    by: str,
    source: str = "sales",
    confidence: float = 1.0,
) -> list[CriterionValue]:
    """Set criteria of a contact's qualification record (all or nothing), then run the
    lifecycle rules for it: a qualified contact may become a prospect at once."""
    if not values:
        raise ValidationError("give at least one criterion", field="criteria")
    if source not in SOURCES:
        raise ValidationError(f"{source!r}: use one of {', '.join(SOURCES)}", field="source")
    if not 0 < confidence <= 1:
        raise ValidationError(f"{confidence}: use a number in (0, 1]", field="confidence")
    now = clock.now()
    with db.write() as conn:
        config = _required(conn)
        checked = {name: check_criterion(config, name, value) for name, value in values.items()}
        contact_id = resolve_contact_id(conn, ref)
        refuse_erased(conn, contact_id)
        _set_criteria(conn, contact_id, checked, source, by, confidence, now=now)
        apply_rules(conn, [contact_id], now=now)
        return _criteria_of(conn, contact_id)


def _set_criteria(
    conn: Connection,
    contact_id: int,
    values: Mapping[str, str],
    source: str,
    by: str | None,
    confidence: float,
    *,
    now: datetime,
) -> None:
    for name, value in values.items():
        key = and_(qualifications.c.contact_id == contact_id, qualifications.c.criterion == name)
        row = {"value": value, "source": source, "set_by": by, "set_at": now}
        if conn.execute(
            update(qualifications).where(key).values(confidence=confidence, **row)
        ).rowcount:
            continue
        conn.execute(
            insert(qualifications).values(
                contact_id=contact_id, criterion=name, confidence=confidence, **row
            )
        )


def capture_criteria(
    conn: Connection, properties: Mapping[int, Mapping[str, Any]], *, now: datetime, by: str
) -> None:
    """Fill criteria from captured form answers (``capture:`` in the lifecycle file). A form
    answer never overwrites what sales entered."""
    if not properties:
        return  # most event batches hold no form
    config = active_lifecycle(conn)
    if config is None or not config.captures:
        return
    answered = {
        cid: found
        for cid, p in properties.items()
        if (found := captured_criteria(config.captures, p))
    }
    by_sales: set[tuple[int, str]] = set()
    for chunk in chunked(sorted(answered)):
        rows = conn.execute(
            select(qualifications.c.contact_id, qualifications.c.criterion).where(
                qualifications.c.contact_id.in_(chunk), qualifications.c.source == "sales"
            )
        )
        by_sales.update((contact_id, name) for contact_id, name in rows)
    for contact_id, found in answered.items():
        for name, (value, confidence) in found.items():
            criterion = config.criterion(name)
            allowed = criterion is not None and (not criterion.values or value in criterion.values)
            if allowed and (contact_id, name) not in by_sales:
                _set_criteria(conn, contact_id, {name: value}, "form", by, confidence, now=now)


def qualification_of(db: Database, ref: str | int) -> list[CriterionValue]:
    with db.read() as conn:
        return _criteria_of(conn, resolve_contact_id(conn, ref))


def _criteria_of(conn: Connection, contact_id: int) -> list[CriterionValue]:
    rows = conn.execute(
        select(qualifications)
        .where(qualifications.c.contact_id == contact_id)
        .order_by(qualifications.c.criterion)
    ).mappings()
    return [
        CriterionValue(
            r["criterion"], r["value"], r["source"], r["set_by"], r["set_at"], r["confidence"]
        )
        for r in rows
    ]


# -- reading -------------------------------------------------------------------------------


def stage_of(db: Database, ref: str | int) -> tuple[int, str | None, datetime | None]:
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        row = conn.execute(
            select(contacts.c.stage, contacts.c.stage_entered_at).where(contacts.c.id == contact_id)
        ).one()
        return contact_id, row.stage, row.stage_entered_at


def stage_history(db: Database, ref: str | int) -> list[dict[str, Any]]:
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, ref)
        rows = conn.execute(
            select(stage_transitions)
            .where(stage_transitions.c.contact_id == contact_id)
            .order_by(stage_transitions.c.at, stage_transitions.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def stage_counts(db: Database) -> dict[str, int]:
    """Active contacts per stage, in the lifecycle's order (unstaged ones under '')."""
    with db.read() as conn:
        config = active_lifecycle(conn)
        rows = conn.execute(
            select(contacts.c.stage, func.count())
            .where(contacts.c.status == "active")
            .group_by(contacts.c.stage)
        ).all()
    counts = {stage or "": n for stage, n in rows}
    order = config.all_stages if config is not None else ()
    return {s: counts.get(s, 0) for s in order} | {
        s: n for s, n in counts.items() if s not in order
    }
