"""``leadflow webhooks``: activate the workspace's subscriptions, run the delivery worker, read
the delivery log and resend a delivery by hand.

Thin adapters over :mod:`leadflow.webhooks.service` and :mod:`leadflow.webhooks.delivery`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, refuse_file, render, render_one
from leadflow.errors import ConfigError, ValidationError
from leadflow.rules.times import TimeSyntaxError, parse_duration
from leadflow.webhooks import service
from leadflow.webhooks.config import MAIN_FILE, WEBHOOKS_FILE, find_config
from leadflow.webhooks.delivery import DEFAULT_TIMEOUT, Pass, Worker, deliver_due

app = typer.Typer(
    help="Outbound webhooks: subscriptions, the delivery worker, the delivery log.",
    no_args_is_help=True,
)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
SUBSCRIPTION_COLUMNS = ("id", "name", "url", "topics", "origin", "active", "created_at")
DELIVERY_COLUMNS = (
    *("id", "event_id", "topic", "subscription", "status", "attempts", "last_status_code"),
    *("last_error", "created_at", "next_attempt_at", "delivered_at"),
)


class Status(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


class OneFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def load(ctx: typer.Context) -> None:
    """Activate the subscriptions of webhooks.yaml (or leadflow.yaml's webhooks: section);
    secrets are read now from the variables secret_env names."""
    ws = state(ctx).workspace()
    try:
        config = find_config(ws.root)
        if config is None:
            raise ConfigError(
                f"no {WEBHOOKS_FILE} and no webhooks: section in {MAIN_FILE} (see docs/webhooks.md)"
            )
        loaded = service.load_config(ws.db, ws.clock, config, environ=os.environ)
    except ConfigError as exc:
        file = WEBHOOKS_FILE if (ws.root / WEBHOOKS_FILE).is_file() else MAIN_FILE
        refuse_file(
            exc, file=file, thing="", active=None, none_active="the stored subscriptions stay"
        )
    out = console()
    out.print(f"webhooks of {config.file} are active", highlight=False)
    for what, names in (
        ("added", loaded.added),
        ("updated", loaded.updated),
        ("deactivated (no longer in the file)", loaded.deactivated),
    ):
        if names:
            out.print(f"  {what}: {', '.join(names)}", highlight=False, soft_wrap=True)


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Every subscription (from the file or the API); secrets are never shown."""
    found = service.list_subscriptions(state(ctx).workspace().db)
    rows = [{**asdict(s), "topics": list(s.topics)} for s in found]
    if fmt is not Format.json:
        rows = [{**r, "topics": " ".join(r["topics"]), "active": _yes(r["active"])} for r in rows]
    render(rows, SUBSCRIPTION_COLUMNS, fmt, title="webhook subscriptions")


@app.command()
def deliver(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once/--loop", help="One pass (default), or run until stopped.")
    ] = True,
    limit: Annotated[int, typer.Option(min=1, help="At most this many posts a pass.")] = 100,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per post.")] = DEFAULT_TIMEOUT,
    interval: Annotated[
        float, typer.Option(min=0.1, help="--loop: seconds to wait when nothing is due.")
    ] = 5.0,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Posts at once.")] = 4,
) -> None:
    """Post due deliveries, signed; log each attempt; schedule retries (up to 72 h)."""
    ws = state(ctx).workspace()
    with httpx.Client() as client:
        worker = Worker(client, timeout=timeout, concurrency=concurrency)
        while True:
            done = deliver_due(ws.db, ws.clock, worker, limit=limit)
            _say(done)
            if once:
                return
            if done.attempted == 0:
                time.sleep(interval)


def _say(done: Pass) -> None:
    typer.echo(
        f"{done.attempted} posted: {done.delivered} delivered, {done.retrying} to retry, "
        f"{done.dead} dead"
    )


@app.command()
def deliveries(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only deliveries of this status.")] = None,
    subscription: Annotated[int | None, typer.Option(help="Only this subscription id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    fmt: FormatOption = Format.table,
) -> None:
    """The delivery log, newest first: status, attempts, the last response code or error."""
    rows = service.list_deliveries(
        state(ctx).workspace().db,
        status=status.value if status else None,
        subscription_id=subscription,
        limit=limit,
    )
    render(rows, DELIVERY_COLUMNS, fmt, title="webhook deliveries")


@app.command()
def show(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    fmt: Annotated[OneFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OneFormat.table
    ),
) -> None:
    """One delivery: its event's payload and every attempt (time, status code, error)."""
    found = service.get_delivery(state(ctx).workspace().db, delivery_id)
    if fmt is OneFormat.json:
        render_one(found, Format.json)
        return
    attempts = found.pop("attempt_log")
    render_one(found, Format.table)
    render(attempts, ("at", "status_code", "error", "duration_ms"), Format.table, title="attempts")


@app.command()
def resend(
    ctx: typer.Context, delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")]
) -> None:
    """Queue a delivery again, even a delivered or dead one; the next `deliver` posts it."""
    ws = state(ctx).workspace()
    found = service.resend(ws.db, ws.clock, delivery_id)
    typer.echo(
        f"delivery {delivery_id} ({found['topic']} to {found['subscription']}) is queued; "
        "`leadflow webhooks deliver` posts it"
    )


@app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option(help="Settled more than this long ago: 30d, 12w, 48h.")
    ] = "30d",
) -> None:
    """Remove delivered and dead deliveries (with their attempts) and the events they leave
    behind, published before --older-than; pending ones stay."""
    try:
        span = parse_duration(older_than)
    except TimeSyntaxError as exc:
        raise ValidationError(str(exc), field="--older-than") from None
    ws = state(ctx).workspace()
    done = service.prune(ws.db, ws.clock, older_than=span)
    typer.echo(f"removed {done.deliveries} deliveries and {done.events} events")


def _yes(value: Any) -> str:
    return "yes" if value else "no"
