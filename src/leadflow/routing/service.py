"""Routing in storage: the active routing file, hand-offs, and tasks with business-hours
SLAs (the SLA job is :mod:`leadflow.routing.sla`, the notice outbox
:mod:`leadflow.routing.notices`, working hours :mod:`leadflow.routing.hours`).

- ``leadflow routing load`` activates ``routing.yaml`` (kept by version in
  ``config_versions``) and writes its users to ``users``. Every user's working hours and
  holidays are read then, so a bad one is refused with the file's line.
- A contact that enters the lifecycle's hand-off stage (``prospect``) is routed in the same
  transaction (:func:`hand_off`): the assignment engine picks the owner from the persisted
  round-robin and quota state, the owner gets a *first touch* task due in their business
  hours, and a hand-off notice is queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, select, update

from leadflow.activity.store import wire_for
from leadflow.clock import Clock
from leadflow.contacts.models import accounts, contacts
from leadflow.errors import ConfigError, Conflict, NotFound
from leadflow.lifecycle import versions
from leadflow.routing.assign import Assignment, Router, RoutingState, new_state
from leadflow.routing.config import ROUTING_FILE, RoutingConfig, User, parse_config
from leadflow.routing.hours import business_deadline, hours_of
from leadflow.routing.models import routing_state, tasks, users
from leadflow.routing.notices import notice_row
from leadflow.rules import (
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    Not,
    Scope,
    Snapshot,
    predicates,
    scopes_read,
)
from leadflow.scoring.service import load_snapshots
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked
from leadflow.webhooks.engine import PROSPECT_ASSIGNED, prospect_assigned
from leadflow.webhooks.service import publish

KIND = "routing"
STATE_KEY = "assign"
DEFAULT_FIRST_TOUCH = timedelta(hours=4)
# Activity types that count as sales touching a prospect: they complete an open first-touch
# task and keep a prospect from being recycled.
TOUCH_TYPES = ("call", "meeting", "email_sent", "email_replied")
_ROUTERS: dict[str, Router] = {}
_READS: dict[str, frozenset[Scope]] = {}
_COLUMNS: dict[str, dict[Scope, frozenset[str]]] = {}


# -- the active file -----------------------------------------------------------------------


def load_routing(
    db: Database, clock: Clock, text: str, *, filename: str = ROUTING_FILE
) -> RoutingConfig:
    """Activate ``text`` (refused whole on any problem) and write its users."""
    config = parse_config(text, filename=filename)
    now = clock.now()
    for user in config.users:
        hours_of(user, now)  # refuse bad working hours now, not at the first hand-off
    with db.write() as conn:
        _store(conn, config, text, now=now)
        _write_users(conn, config)
    return config


def load_routing_if_present(db: Database, clock: Clock, path: Path) -> RoutingConfig | None:
    """At start-up of a workspace with a routing file and none active."""
    with db.read() as conn:
        if active_routing(conn) is not None or not path.exists():
            return None
    try:
        return load_routing(db, clock, path.read_text(encoding="utf-8"), filename=path.name)
    except ConfigError:
        return None  # `leadflow config check` says what is wrong


def _store(conn: Connection, config: RoutingConfig, text: str, *, now: datetime) -> None:
    versions.activate(conn, KIND, config.version, text, config, now=now)


def _write_users(conn: Connection, config: RoutingConfig) -> None:
    """The file's users replace the table's; users dropped from the file stay, inactive
    (tasks and contacts still name them)."""
    conn.execute(update(users).values(active=False))
    for user in config.users:
        row = {
            "name": user.name,
            "email": user.email,
            "role": user.role.value,
            "team": user.team,
            "capacity": user.capacity,
            "daily_quota": user.daily_quota,
            "timezone": user.timezone,
            "active": user.active,
        }
        if not conn.execute(update(users).where(users.c.id == user.id).values(**row)).rowcount:
            conn.execute(insert(users).values(id=user.id, **row))


def active_routing(conn: Connection) -> RoutingConfig | None:
    return versions.active(conn, KIND, lambda text, name: parse_config(text, filename=name))


def router_for(config: RoutingConfig) -> Router:
    if config.version not in _ROUTERS:
        _ROUTERS[config.version] = Router(config)
    return _ROUTERS[config.version]


# -- hand-off ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandOff:
    contact_id: int
    assignment: Assignment
    task_id: int | None = None
    due_at: datetime | None = None


def hand_off(conn: Connection, contact_ids: Sequence[int], *, now: datetime) -> list[HandOff]:
    """Route contacts that just entered the hand-off stage, in the caller's transaction.

    Every assignment of the batch is decided first (the engine is pure), then written in a
    few statements: the owners, the first-touch tasks, the notices, the engine's state.
    """
    config = active_routing(conn)
    if config is None or not contact_ids:
        return []
    state = load_state(conn)
    snapshots = _snapshots(conn, config, contact_ids, now)
    owners = _AccountOwners(conn, [s.contact.get("account_id") for s in snapshots.values()])
    decided: list[tuple[int, Assignment]] = []
    for contact_id in sorted(snapshots):
        snapshot = snapshots[contact_id]
        account = snapshot.account or {}
        account_id = snapshot.contact.get("account_id")
        assignment, state = router_for(config).assign(
            snapshot,
            state,
            now=now,
            account_owner=owners.of(account_id),
            country=snapshot.contact.get("country") or account.get("country"),
            industry=account.get("industry"),
        )
        if assignment.user_id is not None:
            owners.took(account_id, assignment.user_id)
        decided.append((contact_id, assignment))
    done = give(conn, config, decided, now=now)
    owners.write(conn)
    save_state(conn, state)
    return done


def _snapshots(
    conn: Connection, config: RoutingConfig, contact_ids: Sequence[int], now: datetime
) -> dict[int, Snapshot]:
    """What the routing rules look at. When they read only contact and account columns
    (the usual case), only those columns are read: a hand-off batch reads a thousand
    contacts, and full rows cost more than the routing itself."""
    reads = _scopes_read(config)
    columns = _columns_read(config)
    if not reads <= {Scope.CONTACT, Scope.ACCOUNT} or "last_activity_at" in columns[Scope.CONTACT]:
        return load_snapshots(conn, contact_ids, now, activity=False, reads=reads)
    people = _rows(
        conn, contacts, {"id", "account_id", "country", *columns[Scope.CONTACT]}, contact_ids
    )
    account_ids = sorted({p["account_id"] for p in people.values() if p["account_id"]})
    firms = _rows(
        conn, accounts, {"id", "country", "industry", *columns[Scope.ACCOUNT]}, account_ids
    )
    return {
        cid: Snapshot(contact=p, now=now, account=firms.get(p["account_id"]))
        for cid, p in people.items()
    }


def _rows(
    conn: Connection, table: Any, names: Iterable[str], ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    cols = [table.c[name] for name in sorted(names)]
    keys = [c.name for c in cols]
    found: dict[int, dict[str, Any]] = {}
    for chunk in chunked(sorted(set(ids))):
        for row in conn.execute(select(*cols).where(table.c.id.in_(chunk))):
            record = dict(zip(keys, row, strict=True))
            found[record["id"]] = record
    return found


def _columns_read(config: RoutingConfig) -> dict[Scope, frozenset[str]]:
    """The columns of contacts and accounts the rules' conditions name."""
    if config.version not in _COLUMNS:
        named: dict[Scope, set[str]] = {Scope.CONTACT: set(), Scope.ACCOUNT: set()}
        for rule in config.rules:
            for predicate in predicates(rule.condition):
                if predicate.field.scope in named:
                    named[predicate.field.scope].add(predicate.field.column)
        _COLUMNS[config.version] = {k: frozenset(v) for k, v in named.items()}
    return _COLUMNS[config.version]


def _scopes_read(config: RoutingConfig) -> frozenset[Scope]:
    """The scopes the routing rules' conditions read (snapshots load only those)."""
    if config.version not in _READS:
        scopes = scopes_read(r.condition for r in config.rules)
        events = any(_has_event(r.condition) for r in config.rules)
        _READS[config.version] = frozenset(scopes | ({Scope.TOUCH} if events else set()))
    return _READS[config.version]


def _has_event(condition: Condition | None) -> bool:
    if isinstance(condition, AllOf | AnyOf):
        return any(_has_event(item) for item in condition.items)
    if isinstance(condition, Not):
        return _has_event(condition.item)
    return isinstance(condition, EventCondition)


class _AccountOwners:
    """Who owns each account of a batch (``accounts.owner_id``), read in one query and kept
    current as the batch assigns; accounts first owned in the batch are written back."""

    def __init__(self, conn: Connection, account_ids: Iterable[int | None]) -> None:
        self._owner: dict[int, str | None] = {}
        self._new: dict[int, str] = {}
        for chunk in chunked(sorted({a for a in account_ids if a is not None})):
            query = select(accounts.c.id, accounts.c.owner_id).where(accounts.c.id.in_(chunk))
            self._owner.update((a, o) for a, o in conn.execute(query))

    def of(self, account_id: int | None) -> str | None:
        return self._owner.get(account_id) if account_id is not None else None

    def took(self, account_id: int | None, owner: str) -> None:
        """A contact of the account was given to ``owner``: an unowned account is theirs."""
        if account_id is not None and self._owner.get(account_id) is None:
            self._owner[account_id] = self._new[account_id] = owner

    def write(self, conn: Connection) -> None:
        if self._new:
            conn.execute(
                update(accounts)
                .where(accounts.c.id == bindparam("aid"))
                .values(owner_id=bindparam("owner")),
                [{"aid": a, "owner": o} for a, o in self._new.items()],
            )


def give(
    conn: Connection,
    config: RoutingConfig,
    decided: Sequence[tuple[int, Assignment]],
    *,
    now: datetime,
) -> list[HandOff]:
    """Write the assignments made: owners, first-touch tasks due in each owner's business
    hours (worked out once per owner), hand-off notices."""
    _queued(conn, config, [(cid, a) for cid, a in decided if a.user_id is None], now=now)
    given = [(cid, a, config.user(a.user_id)) for cid, a in decided if a.user_id is not None]
    if not given:
        return [HandOff(cid, a) for cid, a in decided]
    conn.execute(
        update(contacts)
        .where(contacts.c.id == bindparam("cid"))
        .values(owner_id=bindparam("owner")),
        [{"cid": cid, "owner": a.user_id} for cid, a, _ in given],
    )
    first_touch = config.sla.first_touch or DEFAULT_FIRST_TOUCH
    due: dict[str, datetime] = {}
    for _, _, owner in given:
        assert owner is not None, "the router only picks users of the config"
        if owner.id not in due:
            due[owner.id] = business_deadline(now, first_touch, hours_of(owner, now))
    rows = [_task_row(cid, a.user_id or "", due[a.user_id or ""], now) for cid, a, _ in given]
    task_ids = _insert_tasks(conn, rows)
    notices_rows = [
        _handoff_notice(cid, a, owner, task_id, due[owner.id], now)
        for (cid, a, owner), task_id in zip(given, task_ids, strict=True)
        if owner is not None
    ]
    _insert_rows(conn, "notices", _NOTICE_COLUMNS, notices_rows)
    publish(conn, PROSPECT_ASSIGNED, _assigned(given, task_ids, due, now), now=now)
    handed = {
        cid: (task_id, due[a.user_id or ""])
        for (cid, a, _), task_id in zip(given, task_ids, strict=True)
    }
    return [HandOff(cid, a, *handed.get(cid, (None, None))) for cid, a in decided]


def _assigned(
    given: Sequence[tuple[int, Assignment, User | None]],
    task_ids: Sequence[int],
    due: Mapping[str, datetime],
    now: datetime,
) -> Iterator[dict[str, Any]]:
    """prospect.assigned payloads, built only when someone subscribes (a generator)."""
    for (contact_id, assignment, _), task_id in zip(given, task_ids, strict=True):
        owner = assignment.user_id or ""
        yield prospect_assigned(
            contact_id,
            owner,
            team=assignment.team,
            rule=assignment.rule,
            task_id=task_id,
            due_at=due[owner],
            at=now,
        )


def _queued(
    conn: Connection,
    config: RoutingConfig,
    waiting: Sequence[tuple[int, Assignment]],
    *,
    now: datetime,
) -> None:
    """Prospects nobody could take stay unowned (the SLA job tries again); the reason goes
    to the team's lead (or, when no rule matched, the first admin), once a day a contact."""
    rows = []
    for contact_id, assignment in waiting:
        team = config.team(assignment.team) if assignment.team else None
        lead = config.user(team.lead) if team is not None else _first_admin(config)
        if lead is None:
            continue
        rows.append(
            notice_row(
                kind="unrouted",
                recipient=lead,
                subject=f"Prospect waiting for an owner: contact {contact_id}",
                body=assignment.reason,
                data={
                    "contact_id": contact_id,
                    "rule": assignment.rule,
                    "reason": assignment.reason,
                },
                key=f"unrouted:{contact_id}:{now.date().isoformat()}",
                now=now,
            )
        )
    _insert_rows(conn, "notices", _NOTICE_COLUMNS, rows, skip_known=True)


def _first_admin(config: RoutingConfig) -> User | None:
    return next((u for u in config.users if u.role.value == "admin" and u.active), None)


def _task_row(contact_id: int, owner: str, due: datetime, now: datetime) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "owner_id": owner,
        "kind": "first_touch",
        "title": "First touch",
        "status": "open",
        "created_at": now,
        "due_at": due,
    }


_TASK_COLUMNS = ("contact_id", "owner_id", "kind", "title", "status", "created_at", "due_at")
_NOTICE_COLUMNS = (
    *("kind", "recipient", "channel", "subject", "data", "status", "attempts", "created_at"),
    "idempotency_key",
)


def _insert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    *,
    skip_known: bool = False,
) -> None:
    """A driver-level executemany: a hand-off batch writes a task and a notice per contact,
    and binding them through SQLAlchemy's type processors cost more than the insert. Times
    and JSON are converted here as the column types would. ``skip_known``: rows whose
    unique key is stored already are left out."""
    if not rows:
        return
    to_time = wire_for(conn.dialect).to_time
    convert: dict[str, Any] = {"created_at": to_time, "due_at": to_time}
    convert["data"] = lambda value: orjson.dumps(value).decode()
    values = [tuple(convert.get(c, _same)(row[c]) for c in columns) for row in rows]
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = ", ".join([mark] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    conn.exec_driver_sql(sql + (" ON CONFLICT DO NOTHING" if skip_known else ""), values)


def _same(value: Any) -> Any:
    return value


def _insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert first-touch task rows (one per contact, all created now); their ids, in the
    rows' order. One executemany, then one read of the ids by contact: RETURNING with the
    rows' order costs SQLAlchemy a statement per few hundred rows and sorting."""
    _insert_rows(conn, "tasks", _TASK_COLUMNS, rows)
    created: dict[int, int] = {}
    for chunk in chunked([r["contact_id"] for r in rows]):
        found = conn.execute(
            select(tasks.c.contact_id, tasks.c.id).where(
                tasks.c.contact_id.in_(chunk),
                tasks.c.created_at == rows[0]["created_at"],
                tasks.c.kind == "first_touch",
            )
        )
        created.update((contact_id, task_id) for contact_id, task_id in found)
    return [int(created[r["contact_id"]]) for r in rows]


def _handoff_notice(
    contact_id: int, assignment: Assignment, owner: User, task_id: int, due: datetime, now: datetime
) -> dict[str, Any]:
    return notice_row(
        kind="handoff",
        recipient=owner,
        subject=f"New prospect for you: contact {contact_id}",
        body=f"{assignment.reason}. First touch due {due.isoformat()}.",
        data={
            "contact_id": contact_id,
            "task_id": task_id,
            "due_at": due.isoformat(),
            "rule": assignment.rule,
        },
        key=f"handoff:{task_id}",
        now=now,
    )


def load_state(conn: Connection) -> RoutingState:
    query = select(routing_state.c.data).where(routing_state.c.key == STATE_KEY)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two processes handing off take turns
    data = conn.execute(query).scalar()
    if data is None:
        return new_state()
    return {"weights": dict(data.get("weights", {})), "today": dict(data.get("today", {}))}


def save_state(conn: Connection, state: RoutingState) -> None:
    data = {"weights": state["weights"], "today": state["today"]}
    if not conn.execute(
        update(routing_state).where(routing_state.c.key == STATE_KEY).values(data=data)
    ).rowcount:
        conn.execute(insert(routing_state).values(key=STATE_KEY, data=data))


# -- tasks -----------------------------------------------------------------------------------


def _new_task(
    conn: Connection,
    contact_id: int,
    owner: str,
    kind: str,
    title: str,
    *,
    now: datetime,
    due: datetime,
) -> int:
    return int(
        conn.execute(
            insert(tasks)
            .values(
                contact_id=contact_id,
                owner_id=owner,
                kind=kind,
                title=title,
                status="open",
                created_at=now,
                due_at=due,
            )
            .returning(tasks.c.id)
        ).scalar_one()
    )


@dataclass(frozen=True)
class Task:
    id: int
    contact_id: int
    owner_id: str
    kind: str
    title: str
    status: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None
    escalated_at: datetime | None
    note: str | None

    def overdue(self, now: datetime) -> bool:
        return self.status == "open" and self.due_at < now

    @property
    def met(self) -> bool | None:
        """Whether it was done in time; None while open."""
        return None if self.done_at is None else self.done_at <= self.due_at


def list_tasks(
    db: Database,
    *,
    now: datetime,
    owner: str | None = None,
    overdue: bool = False,
    status: str | None = "open",
) -> list[Task]:
    query = select(tasks).order_by(tasks.c.due_at, tasks.c.id)
    if owner is not None:
        query = query.where(tasks.c.owner_id == owner)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if overdue:
        query = query.where(tasks.c.status == "open", tasks.c.due_at < now)
    with db.read() as conn:
        return [Task(**row) for row in conn.execute(query).mappings()]


def complete_task(db: Database, clock: Clock, task_id: int, *, note: str | None = None) -> Task:
    """Mark a task done; a first touch done opens the follow-up task (``sla.follow_up``)."""
    now = clock.now()
    with db.write() as conn:
        row = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().first()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        if row["status"] != "open":
            raise Conflict(f"task {task_id} is {row['status']}, not open")
        _finish(conn, [task_id], now=now, note=note)
        if row["kind"] == "first_touch":
            _follow_up(conn, row["contact_id"], row["owner_id"], now=now)
        found = conn.execute(select(tasks).where(tasks.c.id == task_id)).mappings().one()
    return Task(**found)


def _finish(
    conn: Connection, ids: Iterable[int], *, now: datetime, note: str | None = None
) -> None:
    for chunk in chunked(sorted(ids)):
        conn.execute(
            update(tasks).where(tasks.c.id.in_(chunk)).values(status="done", done_at=now, note=note)
        )


def _follow_up(conn: Connection, contact_id: int, owner_id: str, *, now: datetime) -> None:
    config = active_routing(conn)
    owner = config.user(owner_id) if config is not None else None
    if config is None or owner is None or config.sla.follow_up is None:
        return
    due = business_deadline(now, config.sla.follow_up, hours_of(owner, now))
    _new_task(conn, contact_id, owner_id, "follow_up", "Follow up", now=now, due=due)


def touched(conn: Connection, touches: Mapping[int, datetime], *, now: datetime) -> None:
    """Sales touched these contacts (a call, a meeting, an email sent...): their open first
    touch is done, in the caller's transaction (the events path calls this)."""
    if not touches:
        return
    open_tasks = conn.execute(
        select(tasks.c.id, tasks.c.contact_id, tasks.c.owner_id, tasks.c.created_at).where(
            tasks.c.contact_id.in_(sorted(touches)),
            tasks.c.kind == "first_touch",
            tasks.c.status == "open",
        )
    ).all()
    for task_id, contact_id, owner_id, created_at in open_tasks:
        # A touch dated before the task (a backdated import) is counted when the task began.
        done_at = max(touches[contact_id], created_at)
        _finish(conn, [task_id], now=done_at, note="touched")
        _follow_up(conn, contact_id, owner_id, now=now)


__all__ = [
    "TOUCH_TYPES",
    "HandOff",
    "Task",
    "active_routing",
    "complete_task",
    "give",
    "hand_off",
    "list_tasks",
    "load_routing",
    "load_state",
    "router_for",
    "save_state",
    "touched",
]
