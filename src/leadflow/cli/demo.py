"""``leadflow demo``: build a demo workspace with realistic synthetic data."""

from __future__ import annotations

import os
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from leadflow.cli.output import Format, console, error_console, render, render_one
from leadflow.clock import SystemClock
from leadflow.settings import Settings

if TYPE_CHECKING:
    from leadflow.demo.service import DemoSummary
    from leadflow.demo.website import WebsiteTour

# `leadflow demo` is a group (app.py registers every command module as one) that runs its
# callback and has no sub-commands: options may follow the folder, and usage shows no COMMAND.
app = typer.Typer(
    subcommand_metavar="",
    context_settings={"allow_interspersed_args": True},
)

# The defaults and limits live in leadflow.demo.engine, which imports Faker; the CLI repeats
# them so that starting `leadflow` for any other command does not pay for that import.
DEFAULT_FOLDER = Path("leadflow-demo")


class SummaryFormat(StrEnum):
    table = "table"
    json = "json"


DEFAULT_CONTACTS = 5_000
DEFAULT_DAYS = 90
DEFAULT_SEED = 42


@app.callback(invoke_without_command=True)
def demo(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder to build the demo in.")
    ] = DEFAULT_FOLDER,
    contacts: Annotated[
        int, typer.Option("--contacts", "-n", min=1, max=100_000, help="Contact records.")
    ] = DEFAULT_CONTACTS,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of history.")] = DEFAULT_DAYS,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = DEFAULT_SEED,
    force: Annotated[bool, typer.Option("--force", help="Recreate an existing demo.")] = False,
    fmt: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="Summary format.")
    ] = SummaryFormat.table,
) -> None:
    """Generate a B2B company's last DAYS days of leads and activity into DIR.

    Every channel, accounts, anonymous visits stitched on sign-up, repeated and
    near-duplicate captures, and a ground truth of who bought (DIR/demo/truth.csv).
    The demo always uses its own SQLite file, never LEADFLOW_DATABASE_URL.
    """
    from leadflow.demo.engine import generate
    from leadflow.demo.service import create_demo_workspace, load_demo, write_manifest
    from leadflow.demo.website import tour_website

    clock = SystemClock()
    with (
        create_demo_workspace(folder, force=force, settings=Settings(), clock=clock) as ws,
        _progress() as bar,
    ):
        task = bar.add_task("generating", total=None)
        data = generate(end=clock.now(), contacts=contacts, days=days, seed=seed)
        write_manifest(ws, data, status="loading")
        bar.update(task, description="loading")
        summary = load_demo(
            ws.db,
            data,
            folder=ws.root / "demo",
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
        bar.update(task, description="website")
        tour = tour_website(ws)
        write_manifest(ws, data, status="complete")
        root = ws.root
    _show(summary, tour, root, fmt)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console(),
        transient=True,
    )


def _show(summary: DemoSummary, tour: WebsiteTour, root: Path, fmt: SummaryFormat) -> None:
    if fmt is SummaryFormat.json:
        render_one({"folder": str(root), **summary.as_dict(), "website": asdict(tour)}, Format.json)
        return
    render_one(_overview(summary, root), Format.table)
    columns = ("channel", "contacts", "share", "converted", "rate")
    render(_channel_rows(summary), columns, Format.table, title="contacts by first-touch channel")
    rows = [{"type": t, "events": n} for t, n in summary.events_by_type.items()]
    render(rows, ("type", "events"), Format.table, title="activity by type")
    stages = [{"stage": s, "contacts": n} for s, n in summary.stages.items()]
    render(stages, ("stage", "contacts"), Format.table, title="contacts by lifecycle stage")
    render_one(_routing_overview(summary), Format.table)
    render_one(_website_overview(tour), Format.table)
    _hints(root, summary.showcase, tour)


def _website_overview(tour: WebsiteTour) -> dict[str, Any]:
    """The visit through the service: beacon, public form, then the REST API."""
    return {
        "website visitor": tour.visitor,
        "page views (tracking beacon)": tour.page_views,
        "demo-request form": f"contact {tour.contact_id} ({tour.email})",
        "anonymous page views stitched": f"{tour.stitched} of {tour.page_views}",
        "newsletter consent recorded": "yes" if tour.consent else "no",
        "first touch campaign": ", ".join(tour.touch_campaigns) or "none",
        "read back with the API": f"stage {tour.stage}, grade {tour.grade}, {tour.total:.1f} pts",
    }


def _routing_overview(summary: DemoSummary) -> dict[str, Any]:
    touch = summary.first_touch
    closed = touch.get("met", 0) + touch.get("missed", 0)
    rate = touch.get("met", 0) / closed if closed else 0.0
    owners = ", ".join(f"{o} {n}" for o, n in summary.owners.items()) or "none"
    return {
        "prospects routed": sum(summary.owners.values()),
        "by owner": owners,
        "first touch within SLA": f"{touch.get('met', 0)} of {closed} ({rate:.1%})",
        "first touches still open": touch.get("open", 0),
        "notices sent": summary.notices,
    }


def _overview(summary: DemoSummary, root: Path) -> dict[str, Any]:
    rate = summary.converted / summary.contacts if summary.contacts else 0.0
    return {
        "folder": str(root),
        "period": f"{summary.start:%Y-%m-%d %H:%M} to {summary.end:%Y-%m-%d %H:%M} UTC",
        "seed": summary.seed,
        "contacts": summary.contacts,
        "accounts": summary.accounts,
        "touches": summary.touches,
        "events": summary.events,
        "opportunities": summary.opportunities,
        "converted (deal won)": f"{summary.converted} ({rate:.1%})",
        "lost": summary.lost,
        "load time": f"{summary.seconds:.1f} s",
    }


def _channel_rows(summary: DemoSummary) -> list[dict[str, Any]]:
    rows = []
    for channel, count in summary.contacts_by_channel.items():
        converted = summary.converted_by_channel.get(channel, 0)
        rows.append(
            {
                "channel": channel,
                "contacts": count,
                "share": f"{count / summary.contacts:.1%}",
                "converted": converted,
                "rate": f"{converted / count:.1%}",
            }
        )
    return rows


def _hints(root: Path, showcase: int | None, tour: WebsiteTour) -> None:
    shown = os.path.relpath(root) if root.is_relative_to(Path.cwd()) else str(root)
    lines = [
        f"leadflow -w {shown} contacts list",
        f"leadflow -w {shown} contacts list --channel referral",
    ]
    if showcase is not None:
        lines.append(f"leadflow -w {shown} contacts show {showcase}   (a customer)")
    lines.append(f"ground truth for scoring and models: {root / 'demo' / 'truth.csv'}")
    lines += [
        f"leadflow -w {shown} serve   (the API, the forms and the snippet on :8000; docs at /docs)",
        f"curl -H 'X-API-Key: {tour.api_key}' http://127.0.0.1:8000/contacts/{tour.contact_id}",
        "  (the demo's admin key, shown only here: `leadflow keys create` makes others)",
    ]
    if os.environ.get("LEADFLOW_DATABASE_URL"):
        lines.append("note: LEADFLOW_DATABASE_URL is set; unset it to look at the demo's database")
    out = console()
    out.print("\nnext steps:", style="bold")
    for line in lines:
        # Commands are meant to be copied: never wrap them.
        out.print(f"  {line}", highlight=False, soft_wrap=True)
