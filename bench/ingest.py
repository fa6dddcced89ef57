"""``ingest``: record activity events through the library, against a bare INSERT floor.

Full scale: 1,000,000 events for 100,000 contacts, in batches of 1,000, through
``record_events`` (validation, identity lookups, idempotency, the contacts' last activity,
one transaction per batch). Small scale: a tenth of both.

The floor inserts the rows the library stored (read back already serialised) with a bare
driver ``executemany`` into a table with the same columns and indexes, in the same
durability mode, 1,000 rows per transaction. On SQLite the table is created from the
library's own DDL in a fresh file beside it; on PostgreSQL (``LEADFLOW_BENCH_DATABASE_URL``)
it is ``LIKE activities INCLUDING ALL``.

Since issue 3, recording includes incremental scoring with the workspace's default model.
Goal (issue 3): at least 0.45 of the floor's rate and at least 25,000 events/s. (Issue 2's
goal, before scoring: 0.6 and 30,000 events/s; see bench/RESULTS.md.)
"""

from __future__ import annotations

import gc
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.harness import Result, machine, scratch
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.activity.store import EVENT_COLUMNS
from leadflow.clock import SystemClock
from leadflow.contacts.engine import prepare_contact
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import upsert_contacts
from leadflow.settings import Settings
from leadflow.workspace import Workspace

SCALES = {"small": (100_000, 10_000), "full": (1_000_000, 100_000)}  # events, contacts
BATCH = 1_000
GOAL_RATIO = 0.45  # issue 3, with scoring (issue 2's was 0.6, before scoring)
GOAL_RATE = 25_000.0
SEED = 20261123
RETRY_SHARE = 0.01  # events sent again with the same key (a client retrying)
NEW_VISITOR_SHARE = 0.002  # events from anonymous visitors nobody has seen yet
ANONYMOUS_SHARE = 0.4  # contacts that also carry a tracking cookie id
DAYS = 90
COLUMNS = EVENT_COLUMNS  # what the library inserts, in its order
KEYS = os.environ.get("LEADFLOW_BENCH_KEYS", "uuid7")

# (type, weight, source): roughly what a B2B marketing site and its emails produce.
EVENT_MIX = (
    ("page_view", 40, "web"),
    ("email_delivered", 14, "email"),
    ("email_opened", 14, "email"),
    ("email_clicked", 6, "email"),
    ("pricing_page_view", 5, "web"),
    ("form_submit", 4, "web"),
    ("content_download", 4, "web"),
    ("webinar_registered", 2, "web"),
    ("webinar_attended", 2, "zoom"),
    ("email_replied", 2, "email"),
    ("email_bounced", 1, "email"),
    ("meeting", 1, "crm"),
    ("demo_requested", 1, "web"),
    ("trial_started", 1, "app"),
    ("call", 1, "crm"),
    ("unsubscribe", 1, "email"),
)
PAGES = ("/", "/pricing", "/product", "/blog/lead-scoring", "/customers", "/docs", "/about")
ASSETS = ("ebook-b2b-funnel", "whitepaper-scoring", "checklist-mql", "report-2026-benchmarks")
FREE_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com")


@dataclass(frozen=True)
class Person:
    email: str
    anonymous_id: str | None


def run(scale: str) -> Result:
    n_events, n_contacts = SCALES[scale]
    server_url = os.environ.get("LEADFLOW_BENCH_DATABASE_URL") or None
    if server_url and scale != "small":
        raise SystemExit("the PostgreSQL variant runs at --scale small only")
    rng = random.Random(SEED)
    with scratch("ingest") as root, _database(server_url) as url:
        workspace = Workspace.init(
            root / "workspace",
            settings=Settings(env="development", workspace=root / "workspace", database_url=url),
            clock=SystemClock(),
        )
        try:
            people = _people(n_contacts, rng)
            _create_contacts(workspace, people)
            batches = _event_batches(people, n_events, rng, workspace.clock.now())
            with _floor(workspace, url, root / "floor.db") as floor:
                timings = _run(workspace, floor, batches)
        finally:
            workspace.close()
    return _result(scale, n_events, n_contacts, timings, url)


@dataclass
class Timings:
    seconds: float = 0.0  # the library's
    floor_seconds: float = 0.0
    recorded: int = 0
    created: int = 0


def _result(scale: str, n_events: int, n_contacts: int, t: Timings, url: str | None) -> Result:
    value = n_events / t.seconds
    floor = t.recorded / t.floor_seconds
    ratio = value / floor
    return Result(
        name="ingest",
        value=round(value, 1),
        unit="events/s",
        floor=round(floor, 1),
        ratio=round(ratio, 3),
        params={
            "scale": scale,
            "database": "postgresql" if url else "sqlite",
            "events": n_events,
            "recorded": t.recorded,
            "duplicates": n_events - t.recorded,
            "contacts": n_contacts,
            "contacts_created_by_events": t.created,
            "batch": BATCH,
            "keys": KEYS,
            "seconds": round(t.seconds, 2),
            "floor_rows": t.recorded,
            "floor_seconds": round(t.floor_seconds, 2),
            "goal": f"ratio >= {GOAL_RATIO} and >= {GOAL_RATE:,.0f} events/s",
            "met": ratio >= GOAL_RATIO and value >= GOAL_RATE,
            "machine": machine(),
            "date": datetime.now(UTC).date().isoformat(),
        },
    )


# -- inputs (built before any timer starts) -------------------------------------------------


def _people(n: int, rng: random.Random) -> list[Person]:
    companies = [f"company{i}.example" for i in range(max(1, n // 20))]
    people = []
    for i in range(n):
        domain = rng.choice(FREE_DOMAINS) if rng.random() < 0.15 else rng.choice(companies)
        anonymous = _visitor_id(rng) if rng.random() < ANONYMOUS_SHARE else None
        people.append(Person(email=f"person{i}@{domain}", anonymous_id=anonymous))
    return people


def _visitor_id(rng: random.Random) -> str:
    return f"v-{rng.getrandbits(64):016x}"


def _create_contacts(workspace: Workspace, people: list[Person]) -> None:
    """The contacts the events will name, captured through the library (not timed)."""
    now = workspace.clock.now()
    for start in range(0, len(people), 5_000):
        items = [
            (prepare_contact(ContactInput(email=p.email, anonymous_id=p.anonymous_id)), None)
            for p in people[start : start + 5_000]
        ]
        with workspace.db.write() as conn:
            upsert_contacts(conn, items, now=now)


def _event_batches(
    people: list[Person], n: int, rng: random.Random, now: datetime
) -> list[list[EventInput]]:
    """Events in time order over the last DAYS days, as live tracking delivers them."""
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / n
    types = [t for t, _, _ in EVENT_MIX]
    weights = [w for _, w, _ in EVENT_MIX]
    sources = {t: s for t, _, s in EVENT_MIX}
    events: list[EventInput] = []
    for i in range(n):
        if events and rng.random() < RETRY_SHARE:
            # A client that did not see the acknowledgement sends a recent event again.
            events.append(events[rng.randrange(max(0, len(events) - 2 * BATCH), len(events))])
            continue
        kind = rng.choices(types, weights)[0]
        at = start + step * i + timedelta(seconds=rng.uniform(0, 30))
        events.append(_event(kind, sources[kind], at, rng.choice(people), rng))
    return [events[i : i + BATCH] for i in range(0, n, BATCH)]


def _key(at: datetime, rng: random.Random) -> str:
    """The client's idempotency key: by default UUIDv7's layout (RFC 9562), the event's
    milliseconds first and then random bits, as current tracking clients make them;
    ``LEADFLOW_BENCH_KEYS=uuid4`` sends fully random keys instead, to measure the cost of
    a unique index that takes each new key at a random place."""
    if KEYS == "uuid4":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    millis = int(at.timestamp() * 1000)
    bits = (millis << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64) | (0b10 << 62)
    return str(uuid.UUID(int=bits | rng.getrandbits(62)))


def _event(kind: str, source: str, at: datetime, person: Person, rng: random.Random) -> EventInput:
    key = _key(at, rng)
    if rng.random() < NEW_VISITOR_SHARE:
        return EventInput(
            type="page_view",
            occurred_at=at,
            anonymous_id=_visitor_id(rng),
            properties={"url": rng.choice(PAGES)},
            source="web",
            idempotency_key=key,
        )
    by_cookie = source == "web" and person.anonymous_id is not None and rng.random() < 0.7
    email = person.email.upper() if rng.random() < 0.05 else person.email
    return EventInput(
        type=kind,
        occurred_at=at,
        email=None if by_cookie else email,
        anonymous_id=person.anonymous_id if by_cookie else None,
        properties=_properties(kind, rng),
        source=source,
        idempotency_key=key,
    )


def _properties(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind.startswith("email_"):
        return {"campaign": f"nurture-{rng.randrange(40)}", "message_id": rng.randrange(10**6)}
    if kind in ("page_view", "pricing_page_view"):
        return {"url": rng.choice(PAGES), "seconds": rng.randrange(1, 600)}
    if kind == "content_download":
        return {"asset": rng.choice(ASSETS)}
    if kind == "form_submit":
        return {"form": rng.choice(("contact", "newsletter", "demo")), "page": rng.choice(PAGES)}
    return {}


# -- the run: library and floor batch by batch ----------------------------------------------


def _run(workspace: Workspace, floor: Floor, batches: list[list[EventInput]]) -> Timings:
    """Each library batch, then the same stored rows through the floor.

    Alternating the two puts them under the same load from whatever else the machine is
    doing, so their ratio holds even when the absolute rates wander.
    """
    # The inputs are a million live objects; freezing them keeps the cyclic garbage
    # collector from re-scanning them during the run, a cost no real caller has.
    gc.collect()
    gc.freeze()
    timings = Timings()
    last_id = 0
    try:
        for batch in batches:
            start = time.perf_counter()
            result = record_events(workspace.db, workspace.clock, batch)
            timings.seconds += time.perf_counter() - start
            timings.recorded += result.recorded
            timings.created += result.contacts_created
            rows, last_id = _stored_since(workspace, last_id)
            timings.floor_seconds += floor.insert(rows)
    finally:
        gc.unfreeze()
    return timings


def _stored_since(workspace: Workspace, last_id: int) -> tuple[list[tuple[Any, ...]], int]:
    """Rows stored after ``last_id`` as the driver returns them: already serialised."""
    # psycopg parses JSON into dicts; the floor gets the text, as the library binds it.
    columns = [f"CAST({c} AS TEXT)" if c == "properties" else c for c in COLUMNS]
    where = f"id > {int(last_id)}"
    query = f"SELECT id, {', '.join(columns)} FROM activities WHERE {where} ORDER BY id"
    with workspace.db.read() as conn:
        found = [tuple(r) for r in conn.exec_driver_sql(query)]
    return [r[1:] for r in found], (found[-1][0] if found else last_id)


# -- floors --------------------------------------------------------------------------------


class Floor(Protocol):
    def insert(self, rows: list[tuple[Any, ...]]) -> float:
        """Insert one batch in one transaction; the seconds it took."""
        ...

    def close(self) -> None: ...


# The library writer's settings the floor copies: durability, page cache and checkpoints.
FLOOR_PRAGMAS = (
    "journal_mode",
    "synchronous",
    "cache_size",
    "wal_autocheckpoint",
    "journal_size_limit",
)


class SqliteFloor:
    """A bare sqlite3 connection with the library's activities DDL and writer settings."""

    def __init__(self, path: Path, library_db: Path, pragmas: dict[str, Any]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for name, value in pragmas.items():
            self.conn.execute(f"PRAGMA {name} = {value}")
        for statement in _sqlite_ddl(library_db):
            self.conn.execute(statement)
        self.sql = _insert_sql("?")

    def insert(self, rows: list[tuple[Any, ...]]) -> float:
        start = time.perf_counter()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self.sql, rows)
        self.conn.execute("COMMIT")
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


class PostgresFloor:
    """A bare psycopg connection inserting into a copy of the activities table."""

    def __init__(self, url: str) -> None:
        import psycopg

        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(dsn)
        self.conn.execute("CREATE TABLE floor_activities (LIKE activities INCLUDING ALL)")
        self.conn.commit()
        self.sql = _insert_sql("%s", "floor_activities")

    def insert(self, rows: list[tuple[Any, ...]]) -> float:
        start = time.perf_counter()
        with self.conn.cursor() as cursor:
            cursor.executemany(self.sql, rows)
        self.conn.commit()
        return time.perf_counter() - start

    def close(self) -> None:
        self.conn.close()


@contextmanager
def _floor(workspace: Workspace, url: str | None, path: Path) -> Iterator[Floor]:
    if url:
        floor: Floor = PostgresFloor(url)
    else:
        floor = SqliteFloor(path, workspace.root / "leadflow.db", _writer_pragmas(workspace))
    try:
        yield floor
    finally:
        floor.close()


def _writer_pragmas(workspace: Workspace) -> dict[str, Any]:
    """The settings of the connection the library writes with, as SQLite reports them."""
    with workspace.db.write() as conn:
        return {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in FLOOR_PRAGMAS}


def _sqlite_ddl(library_db: Path) -> list[str]:
    """The activities table and its indexes exactly as the library's migrations made them."""
    conn = sqlite3.connect(library_db)
    try:
        found = conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'activities' AND sql IS NOT NULL "
            "ORDER BY type DESC"  # the table before its indexes
        ).fetchall()
    finally:
        conn.close()
    return [sql for (sql,) in found]


def _insert_sql(placeholder: str, table: str = "activities") -> str:
    marks = ", ".join([placeholder] * len(COLUMNS))
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})"


@contextmanager
def _database(server_url: str | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database beside the one the URL names, dropped afterwards."""
    if not server_url:
        yield None
        return
    url = make_url(server_url)
    name = f"{url.database}_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
