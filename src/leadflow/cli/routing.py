"""``leadflow routing``, ``leadflow tasks`` and ``leadflow notices``: activate the routing file,
read who sells, work the tasks hand-offs give them, run the SLA job and read the notice outbox.

Thin adapters over :mod:`leadflow.routing.service`: every command parses its input, calls
the service and renders the result.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from leadflow.channels import Channel, channel_from_config
from leadflow.channels.log import LOGGER_NAME
from leadflow.cli.context import state
from leadflow.cli.output import Format, console, refuse_file, render, render_one
from leadflow.contacts.models import contacts
from leadflow.errors import ConfigError
from leadflow.routing import notices, service, sla
from leadflow.routing.config import ROUTING_FILE, Role, RoutingConfig
from leadflow.routing.models import tasks, users
from leadflow.routing.service import Task
from leadflow.routing.sla import SlaReport
from leadflow.storage.database import Database
from leadflow.workspace import CONFIG_FILE, Workspace

app = typer.Typer(
    help="Routing: activate routing.yaml, list its users with their load.", no_args_is_help=True
)
tasks_app = typer.Typer(
    help="Sales tasks: list them, mark one done, run the SLA job.", no_args_is_help=True
)
notices_app = typer.Typer(help="The notice outbox: what was sent to whom.", no_args_is_help=True)


class OneFormat(StrEnum):
    table = "table"
    json = "json"


class NoticeStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    dead = "dead"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
OneFormatOption = Annotated[OneFormat, typer.Option("--format", "-f", help="Output format.")]

DEFAULT_CHANNEL: Mapping[str, Any] = {"type": "log"}
USER_COLUMNS = (
    *("id", "name", "role", "team", "capacity", "daily_quota", "timezone", "active"),
    *("open_tasks", "contacts"),
)
TASK_COLUMNS = (
    *("id", "contact_id", "owner_id", "kind", "title", "status", "created_at", "due_at"),
    *("overdue", "done_at", "escalated_at", "note"),
)
TASK_TABLE_COLUMNS = ("id", "contact", "owner", "kind", "status", "due (UTC)", "overdue", "note")
NOTICE_COLUMNS = (
    *("id", "kind", "recipient", "subject", "status", "channel", "attempts", "detail"),
    *("created_at", "idempotency_key", "data"),
)
NOTICE_TABLE_COLUMNS = (
    *("id", "created (UTC)", "kind", "recipient", "contact", "status", "channel", "attempts"),
    "detail",
)


# -- routing load, routing users -------------------------------------------------------------


@app.command()
def load(ctx: typer.Context) -> None:
    """Activate the workspace's routing.yaml: its users, teams, rules and SLAs."""
    ws = state(ctx).workspace()
    path = ws.root / ROUTING_FILE
    if not path.is_file():
        raise ConfigError(f"no {ROUTING_FILE} in {ws.root}: write one (see docs/routing.md)")
    try:
        config = service.load_routing(
            ws.db, ws.clock, path.read_text(encoding="utf-8"), filename=path.name
        )
    except ConfigError as exc:
        refuse_file(
            exc,
            file=ROUTING_FILE,
            thing="routing",
            active=active_version(ws.db),
            none_active="no routing is active",
        )
    out = console()
    out.print(f"routing {config.version} ({ROUTING_FILE}) is active", highlight=False)
    for line in _summary(config):
        out.print(line, highlight=False, soft_wrap=True)


def _summary(config: RoutingConfig) -> list[str]:
    """The users (sales ones with team and capacity) and the teams, one line each."""
    lines = [_count(len(config.users), "user")]
    for user in config.users:
        if user.role is Role.SALES:
            what = f"sales, team {user.team}, capacity {user.capacity}"
            if user.daily_quota is not None:
                what += f", {user.daily_quota} a day"
        else:
            what = user.role.value
        inactive = ", inactive" if not user.active else ""
        lines.append(f"  {user.id} ({what}{inactive})")
    lines.append(_count(len(config.teams), "team"))
    for team in config.teams:
        reps = [u.id for u in config.users if u.team == team.id and u.assignable]
        lines.append(
            f"  {team.id}: lead {team.lead}, escalation {team.escalation.value}, "
            f"reps {', '.join(reps)}"
        )
    return lines


def active_version(db: Database) -> str | None:
    """The version of the routing that hands prospects out, as the service decides it."""
    with db.read() as conn:
        config = service.active_routing(conn)
    return config.version if config else None


@app.command("users")
def users_(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Every user routing.yaml wrote, with their open tasks and owned contacts."""
    rows = _users_with_load(state(ctx).workspace().db)
    if fmt is Format.table:
        rows = [{**r, "active": "yes" if r["active"] else "no"} for r in rows]
    render(rows, USER_COLUMNS, fmt, title="users")


def _users_with_load(db: Database) -> list[dict[str, Any]]:
    """The users table with two counts: open tasks, and active contacts owned."""
    open_tasks = (
        select(tasks.c.owner_id, func.count().label("n"))
        .where(tasks.c.status == "open")
        .group_by(tasks.c.owner_id)
    )
    owned = (
        select(contacts.c.owner_id, func.count().label("n"))
        .where(contacts.c.status == "active", contacts.c.owner_id.is_not(None))
        .group_by(contacts.c.owner_id)
    )
    with db.read() as conn:
        found = conn.execute(select(users).order_by(users.c.active.desc(), users.c.id)).mappings()
        rows = [dict(r) for r in found]
        task_counts = {str(owner): int(n) for owner, n in conn.execute(open_tasks)}
        contact_counts = {str(owner): int(n) for owner, n in conn.execute(owned)}
    for row in rows:
        row["open_tasks"] = task_counts.get(row["id"], 0)
        row["contacts"] = contact_counts.get(row["id"], 0)
    return rows


# -- tasks list, tasks done ------------------------------------------------------------------


@tasks_app.command("list")
def list_(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Only this user's tasks.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tasks past due.")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Tasks of any status, not only open ones.")
    ] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Open tasks, soonest due first (--all: done, escalated and cancelled ones too)."""
    ws = state(ctx).workspace()
    now = ws.clock.now()
    found = service.list_tasks(
        ws.db, now=now, owner=owner, overdue=overdue, status=None if every else "open"
    )
    if fmt is Format.table:
        render((_task_table_row(t, now) for t in found), TASK_TABLE_COLUMNS, fmt, title="tasks")
    else:
        render((_task(t, now) for t in found), TASK_COLUMNS, fmt, title="tasks")


def _task(task: Task, now: datetime) -> dict[str, Any]:
    return {**asdict(task), "overdue": task.overdue(now)}


def _task_table_row(task: Task, now: datetime) -> dict[str, Any]:
    return {
        "id": task.id,
        "contact": task.contact_id,
        "owner": task.owner_id,
        "kind": task.kind,
        "status": task.status,
        "due (UTC)": _time(task.due_at),
        "overdue": "overdue" if task.overdue(now) else "",
        "note": task.note,
    }


@tasks_app.command("done")
def done(
    ctx: typer.Context,
    task: Annotated[int, typer.Argument(metavar="TASK", help="The task's id.")],
    note: Annotated[str | None, typer.Option(help="What was done.")] = None,
) -> None:
    """Mark an open task done; a first touch done opens the follow-up (sla.follow_up)."""
    ws = state(ctx).workspace()
    finished = service.complete_task(ws.db, ws.clock, task, note=note)
    timing = "in time" if finished.met else "late"
    out = console()
    out.print(
        f"task {finished.id} done: {finished.kind} of contact {finished.contact_id} by "
        f"{finished.owner_id}, {timing} (due {_time(finished.due_at)} UTC)",
        highlight=False,
        soft_wrap=True,
    )
    # The follow-up a first touch opens is made in the same transaction, at the same time.
    opened = finished.done_at
    for t in service.list_tasks(ws.db, now=ws.clock.now(), owner=finished.owner_id):
        if t.contact_id == finished.contact_id and t.created_at == opened:
            out.print(f"next: task {t.id} {t.kind} due {_time(t.due_at)} UTC", highlight=False)


# -- tasks check ------------------------------------------------------------------------------


@tasks_app.command("check")
def check(ctx: typer.Context, fmt: OneFormatOption = OneFormat.table) -> None:
    """The SLA job: escalate overdue first touches, recycle untouched prospects, route the
    unowned, and deliver pending notices through the channel leadflow.yaml names."""
    ws = state(ctx).workspace()
    channel = notice_channel(ws)
    try:
        with _log_notices_to_stderr():
            report = sla.check_sla(ws.db, ws.clock, channel)
    finally:
        channel.close()
    if fmt is OneFormat.json:
        render_one({**asdict(report), "channel": channel.name}, Format.json)
        return
    out = console()
    for line in _report(report, channel.name):
        out.print(line, highlight=False, soft_wrap=True)


def notice_channel(ws: Workspace) -> Channel:
    """The channel of leadflow.yaml's ``notices:`` mapping; the log when there is none."""
    data = ws.config.get("notices", DEFAULT_CHANNEL)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{CONFIG_FILE}: notices: expected a mapping such as {{type: log}}")
    try:
        return channel_from_config(data, clock=ws.clock)
    except ValueError as exc:
        raise ConfigError(f"{CONFIG_FILE}: notices: {exc}") from None


@contextmanager
def _log_notices_to_stderr() -> Iterator[None]:
    """The log channel writes to a logger nobody configured in a command: show its lines on
    stderr for the command's run (stdout keeps the report)."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("notice: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _report(report: SlaReport, channel: str) -> list[str]:
    return [
        _ids("escalated", report.escalated, "overdue first touch", "tasks"),
        _ids("reassigned", report.reassigned, "prospect", "contacts"),
        _ids("recycled", report.recycled, "prospect", "contacts"),
        _ids("routed", report.routed, "waiting prospect", "contacts"),
        f"notices: {report.sent:,} sent, {report.failed:,} failed ({channel})",
    ]


def _ids(verb: str, ids: Sequence[int], noun: str, what: str) -> str:
    line = f"{verb} {_count(len(ids), noun)}"
    return f"{line}: {what} {' '.join(map(str, ids))}" if ids else line


# -- notices list -----------------------------------------------------------------------------


@notices_app.command("list")
def notices_list(
    ctx: typer.Context,
    status: Annotated[
        NoticeStatus | None, typer.Option(help="Only notices of this status.")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Every notice, oldest first: hand-offs and escalations, to whom, and how it went."""
    found = notices.list_notices(
        state(ctx).workspace().db, status=status.value if status is not None else None
    )
    if fmt is Format.table:
        render(map(_notice_table_row, found), NOTICE_TABLE_COLUMNS, fmt, title="notices")
    else:
        render(found, NOTICE_COLUMNS, fmt, title="notices")


def _notice_table_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "created (UTC)": _time(row["created_at"]),
        "contact": row["data"].get("contact_id"),
        "channel": row["channel"] or None,  # '' until a channel took it
    }


# -- text for people ------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun}es" if noun.endswith(("ch", "sh", "s", "x")) else f"{n:,} {noun}s"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")
