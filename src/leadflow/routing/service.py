"""Routing in storage: the active routing file, hand-offs, tasks with business-hours SLAs,
escalations, recycling, and notices.

- ``leadflow routing load`` activates ``routing.yaml`` (kept by version in
  ``config_versions``) and writes its users to ``users``. Every user's working hours and
  holidays are read then, so a bad one is refused with the file's line.
- A contact that enters the lifecycle's hand-off stage (``prospect``) is routed in the same
  transaction (:func:`hand_off`): the assignment engine picks the owner from the persisted
  round-robin and quota state, the owner gets a *first touch* task due in their business
  hours, and a hand-off notice is queued.
- Notices are an outbox: written as ``pending`` in the transaction that caused them, and
  delivered after it by :func:`deliver_notices` (a crash between the two sends nothing twice:
  each notice has its idempotency key, and a delivered one is marked ``sent``).
- :func:`check_sla` is the periodic job (``leadflow tasks check``): overdue first touches
  escalate (notify the team lead, or reassign, as the team says), prospects untouched past
  ``recycle_after`` go back to nurture as ``recycled`` with the reason, prospects nobody
  could take are routed again, and pending notices are delivered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from leadflow.activity.models import activities
from leadflow.activity.store import wire_for
from leadflow.channels import Channel, Notice
from leadflow.clock import Clock
from leadflow.contacts.models import accounts, contacts
from leadflow.errors import ConfigError, Conflict, NotFound
from leadflow.lifecycle import versions
from leadflow.routing.assign import Assignment, Router, RoutingState, new_state
from leadflow.routing.calendar import (
    HoursError,
    WorkingHours,
    add_business_days,
    add_business_time,
    national_holidays,
    parse_hours,
)
from leadflow.routing.config import ROUTING_FILE, RoutingConfig, User, parse_config
from leadflow.routing.models import notices, routing_state, tasks, users
from leadflow.rules import (
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    Node,
    Not,
    Scope,
    Snapshot,
    predicates,
)
from leadflow.scoring.service import load_snapshots
from leadflow.storage.database import Database
from leadflow.storage.sql import chunked
from leadflow.webhooks.engine import PROSPECT_ASSIGNED, prospect_assigned
from leadflow.webhooks.service import publish

KIND = "routing"
STATE_KEY = "assign"
DEFAULT_HOURS: Mapping[str, object] = {"mon-fri": "09:00-17:00"}
DEFAULT_FIRST_TOUCH = timedelta(hours=4)
# Activity types that count as sales touching a prospect: they complete an open first-touch
# task and keep a prospect from being recycled.
TOUCH_TYPES = ("call", "meeting", "email_sent", "email_replied")
_ROUTERS: dict[str, Router] = {}
# Working hours by what the file says (zone, hours, holidays) and year.
_HOURS: dict[tuple[str, str, int], WorkingHours] = {}
# The same, by the user object of a parsed (cached, immutable) config: no key to build.
_HOURS_OF: dict[int, tuple[User, int, WorkingHours]] = {}
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


def _router(config: RoutingConfig) -> Router:
    if config.version not in _ROUTERS:
        _ROUTERS[config.version] = Router(config)
    return _ROUTERS[config.version]


# -- working hours -------------------------------------------------------------------------


def hours_of(user: User, now: datetime) -> WorkingHours:
    """A user's working hours with their holidays for this year and the next two."""
    known = _HOURS_OF.get(id(user))
    if known is not None and known[0] is user and known[1] == now.year:
        return known[2]
    hours = _hours_of(user, now)
    _HOURS_OF[id(user)] = (user, now.year, hours)
    return hours


def _hours_of(user: User, now: datetime) -> WorkingHours:
    written = (user.hours, user.holidays)
    key = (user.timezone, repr([_plain(n) if n is not None else None for n in written]), now.year)
    if key not in _HOURS:
        try:
            holidays = _holidays(user, now.year)
        except HoursError as exc:
            where = user.holidays.at if user.holidays is not None else user.at
            raise ConfigError(f"{where}: user {user.id!r}: holidays: {exc}") from None
        try:
            week = _plain(user.hours) if user.hours is not None else DEFAULT_HOURS
            if not isinstance(week, Mapping):
                raise HoursError(f"expected a mapping of days to hours, got {week!r}")
            _HOURS[key] = parse_hours(week, user.timezone, holidays)
        except HoursError as exc:
            where = user.hours.at if user.hours is not None else user.at
            raise ConfigError(f"{where}: user {user.id!r}: {exc}") from None
    return _HOURS[key]


def _holidays(user: User, year: int) -> list[date | str]:
    if user.holidays is None:
        return []
    data = _plain(user.holidays)
    if isinstance(data, list):
        return [str(d) for d in data]
    if not isinstance(data, Mapping):
        raise HoursError("expected {country: XX, subdivision: YY, dates: [...]} or a list of dates")
    unknown = sorted(set(data) - {"country", "subdivision", "dates"})
    if unknown:
        raise HoursError(f"unknown key {unknown[0]!r}; use country, subdivision, dates")
    dates = data.get("dates", [])
    if not isinstance(dates, list):
        raise HoursError(f"dates: expected a list of dates, got {dates!r}")
    found: list[date | str] = [str(d) for d in dates]
    if data.get("country"):
        years = range(year, year + 3)
        subdivision = data.get("subdivision")
        found += national_holidays(
            str(data["country"]), years, str(subdivision) if subdivision else None
        )
    return found


def business_deadline(start: datetime, sla: timedelta, hours: WorkingHours) -> datetime:
    """When an SLA ends in the owner's business time: whole days count working days (to
    the close of the last one), hours and minutes count working time."""
    if sla.days and not sla.seconds and not sla.microseconds:
        return add_business_days(start, sla.days, hours)
    return add_business_time(start, sla, hours)


def _plain(node: Node) -> Any:
    """A located node as plain data (calendar reads plain mappings, lists and strings)."""
    if node.kind == "mapping":
        return {entry.key: _plain(entry.value) for entry in node.entries}
    if node.kind == "list":
        return [_plain(item) for item in node.items]
    return node.value


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
    state = _load_state(conn)
    snapshots = _snapshots(conn, config, contact_ids, now)
    owners = _AccountOwners(conn, [s.contact.get("account_id") for s in snapshots.values()])
    decided: list[tuple[int, Assignment]] = []
    for contact_id in sorted(snapshots):
        snapshot = snapshots[contact_id]
        account = snapshot.account or {}
        account_id = snapshot.contact.get("account_id")
        assignment, state = _router(config).assign(
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
    done = _give(conn, config, decided, now=now)
    owners.write(conn)
    _save_state(conn, state)
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
        scopes = {p.field.scope for r in config.rules for p in predicates(r.condition)}
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


def _give(
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
            _notice_row(
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
    return _notice_row(
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


def _load_state(conn: Connection) -> RoutingState:
    query = select(routing_state.c.data).where(routing_state.c.key == STATE_KEY)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two processes handing off take turns
    data = conn.execute(query).scalar()
    if data is None:
        return new_state()
    return {"weights": dict(data.get("weights", {})), "today": dict(data.get("today", {}))}


def _save_state(conn: Connection, state: RoutingState) -> None:
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


# -- the SLA job ---------------------------------------------------------------------------


@dataclass
class SlaReport:
    escalated: list[int] = field(default_factory=list)  # task ids
    reassigned: list[int] = field(default_factory=list)  # contact ids
    recycled: list[int] = field(default_factory=list)  # contact ids
    routed: list[int] = field(default_factory=list)  # contacts nobody had, now owned
    sent: int = 0
    failed: int = 0


def check_sla(db: Database, clock: Clock, channel: Channel) -> SlaReport:
    """The periodic job: run the lifecycle rules (some wait on time), escalate overdue first
    touches, recycle untouched prospects, route the unowned, then deliver the notices."""
    now = clock.now()
    report = SlaReport()
    with db.write() as conn:
        # Rules that wait on time (min_stay) hold without any event: they run here too.
        from leadflow.lifecycle.service import apply_rules

        apply_rules(conn, None, now=now, waiting_only=True)
        config = active_routing(conn)
        if config is not None:
            _escalate(conn, config, now, report)
            _recycle(conn, config, now, report)
            _route_unowned(conn, now, report)
    report.sent, report.failed = deliver_notices(db, channel, now=now)
    return report


def _escalate(conn: Connection, config: RoutingConfig, now: datetime, report: SlaReport) -> None:
    overdue = (
        conn.execute(
            select(tasks).where(
                tasks.c.kind == "first_touch",
                tasks.c.status == "open",
                tasks.c.due_at < now,
                tasks.c.escalated_at.is_(None),
            )
        )
        .mappings()
        .all()
    )
    for row in overdue:
        task = dict(row)
        owner = config.user(task["owner_id"])
        team = config.team(owner.team) if owner is not None and owner.team else None
        report.escalated.append(task["id"])
        if team is not None and team.escalation.value == "reassign":
            _reassign(conn, config, task, now, report)
        else:
            _notify_lead(conn, config, task, team.lead if team else None, now)


def _notify_lead(
    conn: Connection,
    config: RoutingConfig,
    task: Mapping[str, Any],
    lead_id: str | None,
    now: datetime,
) -> None:
    conn.execute(update(tasks).where(tasks.c.id == task["id"]).values(escalated_at=now))
    lead = config.user(lead_id) if lead_id else None
    if lead is None:
        return
    _queue(
        conn,
        kind="escalation",
        recipient=lead,
        subject=f"Overdue first touch: contact {task['contact_id']} ({task['owner_id']})",
        body=f"The first touch was due {task['due_at'].isoformat()} and is not done.",
        data={"contact_id": task["contact_id"], "task_id": task["id"], "owner": task["owner_id"]},
        key=f"escalation:{task['id']}",
        now=now,
    )


def _reassign(
    conn: Connection,
    config: RoutingConfig,
    task: Mapping[str, Any],
    now: datetime,
    report: SlaReport,
) -> None:
    """Give the prospect to another rep of the same pool; when nobody else can take it,
    the late owner keeps it and the team lead is told instead."""
    state = _load_state(conn)
    snapshot = load_snapshots(conn, [task["contact_id"]], now, activity=False)[task["contact_id"]]
    account = snapshot.account or {}
    # Same territory and industry as the hand-off; anyone but the late owner.
    assignment, state = _router(config).assign(
        snapshot,
        state,
        now=now,
        country=snapshot.contact.get("country") or account.get("country"),
        industry=account.get("industry"),
        exclude=frozenset({task["owner_id"]}),
    )
    if assignment.user_id is None:
        owner = config.user(task["owner_id"])
        team = config.team(owner.team) if owner is not None and owner.team else None
        _notify_lead(conn, config, task, team.lead if team else None, now)
        return
    _save_state(conn, state)
    conn.execute(
        update(tasks)
        .where(tasks.c.id == task["id"])
        .values(status="escalated", escalated_at=now, note="reassigned: first touch overdue")
    )
    _give(conn, config, [(task["contact_id"], assignment)], now=now)
    report.reassigned.append(task["contact_id"])


def _recycle(conn: Connection, config: RoutingConfig, now: datetime, report: SlaReport) -> None:
    """Prospects in the hand-off stage longer than ``recycle_after`` with no touch since they
    entered it go back to nurture as recycled (when the lifecycle allows the move)."""
    from leadflow.lifecycle.service import active_lifecycle, recycle

    lifecycle = active_lifecycle(conn)
    after = config.sla.recycle_after
    if lifecycle is None or lifecycle.handoff is None or after is None:
        return
    touched_since = (
        select(activities.c.id)
        .where(
            activities.c.contact_id == contacts.c.id,
            activities.c.type.in_(TOUCH_TYPES),
            activities.c.occurred_at >= contacts.c.stage_entered_at,
        )
        .exists()
    )
    done_since = (
        select(tasks.c.id)
        .where(
            tasks.c.contact_id == contacts.c.id,
            tasks.c.status == "done",
            tasks.c.done_at >= contacts.c.stage_entered_at,
        )
        .exists()
    )
    stale = conn.scalars(
        select(contacts.c.id).where(
            contacts.c.status == "active",
            contacts.c.stage == lifecycle.handoff,
            contacts.c.stage_entered_at <= now - after,
            ~touched_since,
            ~done_since,
        )
    ).all()
    for contact_id in stale:
        reason = f"untouched for {_spoken(after)} after hand-off"
        if recycle(conn, contact_id, reason=reason, now=now):
            _close_open_tasks(conn, contact_id, now=now, note=f"recycled: {reason}")
            report.recycled.append(contact_id)


def _spoken(span: timedelta) -> str:
    """14 days, 36 hours, 90 minutes: a duration as the reason for a move says it."""
    if not span.seconds and not span.microseconds:
        return f"{span.days} day{'s' if span.days != 1 else ''}"
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes % 60 == 0 else f"{minutes} minutes"


def _close_open_tasks(conn: Connection, contact_id: int, *, now: datetime, note: str) -> None:
    conn.execute(
        update(tasks)
        .where(tasks.c.contact_id == contact_id, tasks.c.status == "open")
        .values(status="cancelled", done_at=now, note=note)
    )


def _route_unowned(conn: Connection, now: datetime, report: SlaReport) -> None:
    from leadflow.lifecycle.service import active_lifecycle

    lifecycle = active_lifecycle(conn)
    if lifecycle is None or lifecycle.handoff is None:
        return
    waiting = conn.scalars(
        select(contacts.c.id).where(
            contacts.c.status == "active",
            contacts.c.stage == lifecycle.handoff,
            contacts.c.owner_id.is_(None),
        )
    ).all()
    for done in hand_off(conn, waiting, now=now):
        if done.assignment.user_id is not None:
            report.routed.append(done.contact_id)


# -- notices ---------------------------------------------------------------------------------


def _notice_row(
    *,
    kind: str,
    recipient: User,
    subject: str,
    body: str,
    data: Mapping[str, Any],
    key: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "recipient": recipient.id,
        "channel": "",
        "subject": subject,
        "data": {**data, "body": body, "email": recipient.email},
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "idempotency_key": key,
    }


def _queue(conn: Connection, **notice: Any) -> None:
    conn.execute(insert(notices).values(**_notice_row(**notice)))


# A notice that still fails this long after it was made is given up (status "dead"), as
# webhook deliveries are: a channel that is down for days is not retried for ever.
NOTICE_GIVE_UP = timedelta(hours=72)


def deliver_notices(db: Database, channel: Channel, *, now: datetime) -> tuple[int, int]:
    """Send every pending or failed notice through ``channel``; (sent, failed). Each
    outcome is written as soon as it is known; a failure past :data:`NOTICE_GIVE_UP`
    marks the notice dead (counted as failed, and not tried again)."""
    with db.read() as conn:
        waiting = (
            conn.execute(
                select(notices)
                .where(or_(notices.c.status == "pending", notices.c.status == "failed"))
                .order_by(notices.c.id)
            )
            .mappings()
            .all()
        )
    sent = failed = 0
    for row in waiting:
        delivery = channel.send(_notice(row))
        status = "sent" if delivery.ok else "failed"
        if not delivery.ok and row["created_at"] + NOTICE_GIVE_UP <= now:
            status = "dead"
        with db.write() as conn:
            conn.execute(
                update(notices)
                .where(notices.c.id == row["id"])
                .values(
                    status=status,
                    channel=delivery.channel,
                    detail=delivery.detail,
                    attempts=row["attempts"] + delivery.attempts,
                )
            )
        sent, failed = (sent + 1, failed) if delivery.ok else (sent, failed + 1)
    return sent, failed


def _notice(row: RowMapping) -> Notice:
    data = dict(row["data"])
    body, email = data.pop("body", ""), data.pop("email", "")
    return Notice(
        kind=row["kind"],
        recipient_user_id=row["recipient"],
        recipient_email=email,
        subject=row["subject"],
        body=body,
        idempotency_key=row["idempotency_key"],
        data=data,
    )


def list_notices(db: Database, *, status: str | None = None) -> list[dict[str, Any]]:
    query = select(notices).order_by(notices.c.id)
    if status is not None:
        query = query.where(notices.c.status == status)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def sla_compliance(db: Database, *, now: datetime) -> tuple[int, int, int]:
    """First touches (done in time, done late or overdue, still open and not yet due)."""
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.status, tasks.c.due_at, tasks.c.done_at).where(
                tasks.c.kind == "first_touch"
            )
        ).all()
    met = sum(1 for s, due, done in rows if done is not None and s == "done" and done <= due)
    open_in_time = sum(1 for s, due, _ in rows if s == "open" and due >= now)
    return met, len(rows) - met - open_in_time, open_in_time


__all__ = [
    "HandOff",
    "SlaReport",
    "Task",
    "active_routing",
    "check_sla",
    "complete_task",
    "deliver_notices",
    "hand_off",
    "list_notices",
    "list_tasks",
    "load_routing",
    "sla_compliance",
    "touched",
]
