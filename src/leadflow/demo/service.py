"""Loading a generated demo into a workspace, writing its ground truth, summarising it.

The demo is replayed in time order, one transaction per day of history: each day's
captures go through identity resolution and its events through the activity log, the same
code paths (and the same set-based batches) as real traffic. So an anonymous visitor
becomes a contact on their first visit and gets their email when they fill in a form, and
``created_at`` and ``recorded_at`` say on which day things happened, not when the demo ran.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Connection, func, select

from leadflow.activity.engine import PreparedEvent, prepare_event
from leadflow.activity.models import activities
from leadflow.activity.service import record_prepared
from leadflow.channels import MemoryChannel
from leadflow.clock import Clock, FrozenClock
from leadflow.contacts.engine import (
    PreparedContact,
    PreparedTouch,
    prepare_contact,
    prepare_touch,
)
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.contacts.normalize import email_key
from leadflow.contacts.service import lookup_identities, upsert_contacts
from leadflow.demo.engine import Capture, DemoData, Truth
from leadflow.errors import Conflict
from leadflow.lifecycle.service import stage_counts
from leadflow.routing.config import ROUTING_FILE
from leadflow.routing.models import notices
from leadflow.routing.service import load_routing
from leadflow.routing.sla import check_sla, sla_compliance
from leadflow.settings import Settings
from leadflow.storage.database import Database
from leadflow.workspace import CONFIG_FILE, DATABASE_FILE, Workspace

DEMO_FOLDER = "demo"
DEMO_ROUTING = Path(__file__).with_name("demo_routing.yaml")
TRUTH_FILE = "truth.csv"
MANIFEST_FILE = "demo.json"
TRUTH_COLUMNS = (
    "contact_id",
    "email",
    "fit",
    "intent",
    "first_channel",
    "arrived_at",
    "opportunity_at",
    "converted",
    "converted_at",
    "lost",
    "lost_at",
    "amount",
    "duplicate_of",
)
# One transaction per day of history, as a nightly sync would write it: a contact's
# created_at is the end of its first day. Six-hour slices made the load twice as slow.
SLICE = timedelta(days=1)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoSummary:
    seed: int
    start: datetime
    end: datetime
    contacts: int
    accounts: int
    touches: int
    events: int
    opportunities: int
    converted: int
    lost: int
    seconds: float  # loading time
    showcase: int | None = None  # a contact who bought, to show first
    contacts_by_channel: dict[str, int] = field(default_factory=dict)
    converted_by_channel: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)  # active contacts per stage
    owners: dict[str, int] = field(default_factory=dict)  # contacts routed to each owner
    first_touch: dict[str, int] = field(default_factory=dict)  # met, missed, open
    notices: int = 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


@dataclass(frozen=True)
class _Batch:
    now: datetime
    captures: list[tuple[PreparedContact, PreparedTouch | None]]
    events: list[PreparedEvent]


def load_demo(
    db: Database, data: DemoData, *, folder: Path, progress: Progress | None = None
) -> DemoSummary:
    """Replay ``data`` into ``db``; write the ground truth to ``folder/truth.csv``.

    After each day, the SLA job runs as a scheduler would run it: overdue first touches
    escalate, untouched prospects are recycled, notices go out (to the in-memory channel:
    a demo sends no mail)."""
    started = perf_counter()
    batches = list(_batches(data))
    channel = MemoryChannel(name="demo")
    for done, batch in enumerate(batches, start=1):
        with db.write() as conn:
            upsert_contacts(conn, batch.captures, now=batch.now)
            record_prepared(conn, batch.events, now=batch.now)
        check_sla(db, FrozenClock(batch.now), channel)
        channel.sent.clear()  # recorded in the notices table; the list need not grow
        if progress is not None:
            progress(done, len(batches))
    with db.read() as conn:
        ids = _contact_ids(conn, data.truth)
    write_truth(folder / TRUTH_FILE, data.truth, ids)
    buyer = next((t.record for t in data.truth if t.converted), None)
    summary = summarize(db, data, seconds=perf_counter() - started)
    return replace(summary, showcase=None if buyer is None else ids[buyer])


def _pipeline(db: Database, end: datetime) -> dict[str, Any]:
    """Stage counts, owners and first-touch SLA compliance at the end of the demo."""
    met, missed, waiting = sla_compliance(db, now=end)
    with db.read() as conn:
        owners: dict[str, int] = dict(
            conn.execute(
                select(contacts.c.owner_id, func.count())
                .where(contacts.c.owner_id.is_not(None))
                .group_by(contacts.c.owner_id)
                .order_by(func.count().desc(), contacts.c.owner_id)
            ).all()
        )
        sent = conn.execute(select(func.count()).select_from(notices)).scalar_one()
    return {
        "stages": stage_counts(db),
        "owners": owners,
        "first_touch": {"met": met, "missed": missed, "open": waiting},
        "notices": int(sent),
    }


def _batches(data: DemoData) -> Iterator[_Batch]:
    """The data cut into consecutive time slices, each prepared as real captures would be."""
    captures, events = list(data.captures), list(data.events)
    c = e = 0
    # Days end at midnight UTC, so every contact of a day shows the same created_at.
    slice_end = datetime.combine(data.start.date(), time(), UTC) + SLICE
    while c < len(captures) or e < len(events):
        now = min(slice_end, data.end)
        c_next = _first_after(captures, c, now, lambda x: _when(x.touch.occurred_at))
        e_next = _first_after(events, e, now, lambda x: _when(x.occurred_at))
        if c_next > c or e_next > e:
            yield _Batch(
                now=now,
                captures=[_prepare_capture(x, now) for x in captures[c:c_next]],
                events=[prepare_event(x, now=now) for x in events[e:e_next]],
            )
        c, e = c_next, e_next
        slice_end += SLICE


def _first_after(items: Sequence[Any], start: int, limit: datetime, when: Any) -> int:
    index = start
    while index < len(items) and when(items[index]) <= limit:
        index += 1
    return index


def _when(moment: datetime | None) -> datetime:
    assert moment is not None, "demo captures and events are all timed"
    return moment


def _prepare_capture(capture: Capture, now: datetime) -> tuple[PreparedContact, PreparedTouch]:
    return prepare_contact(capture.contact), prepare_touch(capture.touch, now=now)


def _contact_ids(conn: Connection, truth: Sequence[Truth]) -> dict[int, int]:
    """Each truth record's contact id, found by its email as any caller would."""
    keys = {t.record: ("email", email_key(t.email)) for t in truth}
    owners = lookup_identities(conn, keys.values())
    return {record: owners[key] for record, key in keys.items()}


def write_truth(path: Path, truth: Sequence[Truth], ids: dict[int, int]) -> None:
    """One row per contact record: hidden fit and intent, and what happened in sales."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUTH_COLUMNS)
        for t in truth:
            writer.writerow(
                [
                    ids[t.record],
                    t.email,
                    f"{t.fit:.4f}",
                    f"{t.intent:.4f}",
                    t.channel,
                    t.arrived_at.isoformat(),
                    _iso(t.opportunity_at),
                    int(t.converted),
                    _iso(t.converted_at),
                    int(t.lost),
                    _iso(t.lost_at),
                    "" if t.amount is None else f"{t.amount:.0f}",
                    "" if t.duplicate_of is None else ids[t.duplicate_of],
                ]
            )


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def summarize(db: Database, data: DemoData, *, seconds: float = 0.0) -> DemoSummary:
    """What the workspace holds after loading, counted in the database, with the truth's
    outcomes beside it."""
    with db.read() as conn:
        counts = {name: _count(conn, table) for name, table in _COUNTED.items()}
        by_channel = _contacts_by_channel(conn)
        by_type: dict[str, int] = dict(
            conn.execute(
                select(activities.c.type, func.count())
                .group_by(activities.c.type)
                .order_by(func.count().desc(), activities.c.type)
            ).all()
        )
    truth = data.truth
    converted = Counter(t.channel for t in truth if t.converted)
    return DemoSummary(
        seed=data.seed,
        start=data.start,
        end=data.end,
        contacts=counts["contacts"],
        accounts=counts["accounts"],
        touches=counts["touches"],
        events=counts["events"],
        opportunities=sum(t.opportunity_at is not None for t in truth),
        converted=sum(converted.values()),
        lost=sum(t.lost for t in truth),
        seconds=round(seconds, 2),
        contacts_by_channel=by_channel,
        converted_by_channel={ch: converted.get(ch, 0) for ch in by_channel},
        events_by_type=by_type,
        **_pipeline(db, data.end),
    )


_COUNTED = {"contacts": contacts, "accounts": accounts, "touches": touches, "events": activities}


def _count(conn: Connection, table: Any) -> int:
    query = select(func.count()).select_from(table)
    if table is contacts:
        query = query.where(contacts.c.merged_into_id.is_(None))
    return int(conn.execute(query).scalar_one())


def _contacts_by_channel(conn: Connection) -> dict[str, int]:
    channel = func.coalesce(touches.c.channel, "none")
    rows = conn.execute(
        select(channel, func.count())
        .select_from(contacts.outerjoin(touches, touches.c.id == contacts.c.first_touch_id))
        .where(contacts.c.merged_into_id.is_(None))
        .group_by(channel)
        .order_by(func.count().desc(), channel)
    )
    return {name: int(n) for name, n in rows}


# -- the demo's folder ------------------------------------------------------------------------


def create_demo_workspace(
    path: Path, *, force: bool, settings: Settings, clock: Clock | None = None
) -> Workspace:
    """A new workspace in ``path`` for the demo, on its own SQLite file.

    Refuses a folder holding anything but a previous demo, and a previous demo that has
    data unless ``force`` (which recreates it). The database URL of ``settings`` is not used:
    a demo must never write into a real database.
    """
    path = path.expanduser().resolve()
    if _is_demo(path):
        if not force and _has_contacts(path, settings):
            raise Conflict(f"{path} already holds a demo; pass --force to recreate it")
        _remove_demo(path)
    elif (path / CONFIG_FILE).exists():
        raise Conflict(
            f"{path} is a leadflow workspace that the demo did not create; "
            "the demo only writes into a new folder or a previous demo"
        )
    elif path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise Conflict(f"{path} exists and is not empty; choose a new folder for the demo")
    local = settings.model_copy(update={"database_url": None, "workspace": path})
    workspace = Workspace.init(path, settings=local, clock=clock, name="leadflow demo")
    # The demo company's sales team, so prospects are routed with SLAs.
    routing = DEMO_ROUTING.read_text(encoding="utf-8")
    (path / ROUTING_FILE).write_text(routing, encoding="utf-8")
    load_routing(workspace.db, workspace.clock, routing)
    _write_manifest(workspace, {"status": "created"})
    return workspace


def write_manifest(workspace: Workspace, data: DemoData, *, status: str) -> None:
    """Record in ``demo/demo.json`` what was generated and how far loading got."""
    manifest = {
        "status": status,
        "seed": data.seed,
        "contacts": len(data.truth),
        "start": data.start.isoformat(),
        "end": data.end.isoformat(),
    }
    _write_manifest(workspace, manifest)


def _write_manifest(workspace: Workspace, manifest: dict[str, Any]) -> None:
    # The manifest is also what marks a folder as a demo that --force may recreate.
    folder = workspace.root / DEMO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")


def _is_demo(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / DEMO_FOLDER / MANIFEST_FILE).is_file()


def _has_contacts(path: Path, settings: Settings) -> bool:
    if not (path / DATABASE_FILE).exists():
        return False
    local = settings.model_copy(update={"database_url": None})
    with Workspace.open(path, settings=local, check_schema=False) as ws, ws.db.read() as conn:
        return _count(conn, contacts) > 0


def _remove_demo(path: Path) -> None:
    for name in (DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm", CONFIG_FILE):
        (path / name).unlink(missing_ok=True)
    shutil.rmtree(path / DEMO_FOLDER, ignore_errors=True)
