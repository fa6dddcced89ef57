"""``leadflow lifecycle``, ``leadflow stage`` and ``leadflow qualify``: activate the lifecycle
file, read and move a contact's stage, read and set its qualification record.

Thin adapters over :mod:`leadflow.lifecycle.service`: every command parses its input, calls
the service and renders the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, refuse_file, render, render_one
from leadflow.errors import ConfigError
from leadflow.lifecycle import service
from leadflow.lifecycle.config import LIFECYCLE_FILE
from leadflow.lifecycle.service import SOURCES, CriterionValue
from leadflow.storage.database import Database

app = typer.Typer(
    help="The lifecycle: activate lifecycle.yaml, count contacts per stage.",
    no_args_is_help=True,
)
stage_app = typer.Typer(
    help="A contact's stage: show it with its history, move it by hand.", no_args_is_help=True
)

ContactArgument = Annotated[
    str, typer.Argument(metavar="CONTACT", help="Contact id, email, +phone, or kind:value.")
]


class OneFormat(StrEnum):
    table = "table"
    json = "json"


OneFormatOption = Annotated[OneFormat, typer.Option("--format", "-f", help="Output format.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]

STAGE_COLUMNS = ("stage", "contacts")
TRANSITION_TABLE_COLUMNS = ("at", "move", "cause", "by", "reason")
CRITERION_COLUMNS = ("criterion", "value", "source", "set_by", "set_at", "confidence")


# -- lifecycle load, lifecycle stages ------------------------------------------------------


@app.command()
def load(ctx: typer.Context) -> None:
    """Activate the workspace's lifecycle.yaml and run its rules over every contact."""
    ws = state(ctx).workspace()
    path = ws.root / LIFECYCLE_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {LIFECYCLE_FILE} in {ws.root}: `leadflow init` writes the default lifecycle there"
        )
    try:
        config, moved = service.load_lifecycle(
            ws.db, ws.clock, path.read_text(encoding="utf-8"), filename=path.name
        )
    except ConfigError as exc:
        refuse_file(
            exc,
            file=LIFECYCLE_FILE,
            thing="lifecycle",
            active=active_version(ws.db),
            none_active="no lifecycle is active",
            unchanged="no contact moved",
        )
    out = console()
    out.print(f"lifecycle {config.version} ({LIFECYCLE_FILE}) is active", highlight=False)
    out.print(f"{_contacts(moved)} moved", highlight=False)


def active_version(db: Database) -> str | None:
    """The version of the lifecycle that moves contacts, as the service decides it."""
    with db.read() as conn:
        config = service.active_lifecycle(conn)
    return config.version if config else None


@app.command()
def stages(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Count active contacts per stage, in the lifecycle's order."""
    counts = service.stage_counts(state(ctx).workspace().db)
    # Contacts made before any lifecycle was active have no stage: '' in the service.
    rows = [{"stage": stage or None, "contacts": n} for stage, n in counts.items()]
    if fmt is Format.table:
        rows = [{**r, "stage": r["stage"] or "(no stage)"} for r in rows]
    render(rows, STAGE_COLUMNS, fmt, title="contacts per stage")


# -- stage show, stage move ----------------------------------------------------------------


@stage_app.command("show")
def show(
    ctx: typer.Context, contact: ContactArgument, fmt: OneFormatOption = OneFormat.table
) -> None:
    """Show a contact's stage, since when, and every move it made, oldest first."""
    db = state(ctx).workspace().db
    contact_id, stage, entered = service.stage_of(db, contact)
    transitions = [_transition(row) for row in service.stage_history(db, contact_id)]
    if fmt is OneFormat.json:
        record = {"contact_id": contact_id, "stage": stage, "stage_entered_at": entered}
        render_one({**record, "transitions": transitions}, Format.json)
        return
    console().print(_stage_line(contact_id, stage, entered), highlight=False, soft_wrap=True)
    if transitions:
        rows = map(_transition_table_row, transitions)
        render(rows, TRANSITION_TABLE_COLUMNS, Format.table, title="stage history")
    else:
        console().print("no stage moves yet", highlight=False)


def _transition(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": row["at"],
        "from": row["from_stage"],
        "to": row["to_stage"],
        "cause": row["cause"],
        "rule": row["rule"],
        "by_user": row["by_user"],
        "reason": row["reason"],
        "activity_id": row["activity_id"],
        "config_version": row["config_version"],
    }


def _transition_table_row(t: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "at": _time(t["at"]),
        "move": f"{t['from'] or 'none'} → {t['to']}",
        "cause": t["cause"],
        "by": t["rule"] or t["by_user"],
        "reason": t["reason"],
    }


@stage_app.command("move")
def move(
    ctx: typer.Context,
    contact: ContactArgument,
    stage: Annotated[str, typer.Argument(metavar="STAGE", help="The stage to move it to.")],
    by: Annotated[str, typer.Option("--by", help="Who moves the contact.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the contact moves.")],
) -> None:
    """Move a contact by hand to a stage the lifecycle's moves: allow from its stage."""
    ws = state(ctx).workspace()
    made = service.move_contact(ws.db, ws.clock, contact, stage, by=by, reason=reason)
    contact_id, now_in, _ = service.stage_of(ws.db, contact)
    backward = " (a backward move)" if made.backward else ""
    out = console()
    out.print(
        f"contact {contact_id}: {made.source} → {made.target}{backward}, by {by.strip()}",
        highlight=False,
        soft_wrap=True,
    )
    if now_in != made.target:
        # The new stage's automatic rules held at once.
        out.print(f"the lifecycle's rules then moved it to {now_in}", highlight=False)


# -- qualify -------------------------------------------------------------------------------


def qualify(
    ctx: typer.Context,
    contact: ContactArgument,
    budget: Annotated[str | None, typer.Option(help="Criterion budget.")] = None,
    authority: Annotated[str | None, typer.Option(help="Criterion authority.")] = None,
    need: Annotated[str | None, typer.Option(help="Criterion need.")] = None,
    timing: Annotated[str | None, typer.Option(help="Criterion timing.")] = None,
    icp_fit: Annotated[str | None, typer.Option("--icp-fit", help="Criterion icp_fit.")] = None,
    custom: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="NAME=VALUE", help="A criterion of the lifecycle file's own."
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who sets the criteria (needed to set any).")
    ] = None,
    source: Annotated[str, typer.Option(help=f"One of {', '.join(SOURCES)}.")] = "sales",
    confidence: Annotated[float, typer.Option(help="How sure, in (0, 1].")] = 1.0,
    fmt: OneFormatOption = OneFormat.table,
) -> None:
    """Set qualification criteria (BANT, ICP fit, your own); show the record and the stage."""
    named = {
        "budget": budget,
        "authority": authority,
        "need": need,
        "timing": timing,
        "icp_fit": icp_fit,
    }
    values = _criteria({k: v for k, v in named.items() if v is not None}, custom or [])
    ws = state(ctx).workspace()
    if values:
        if by is None:
            raise typer.BadParameter("say who sets the criteria", param_hint="--by")
        record = service.qualify(
            ws.db, ws.clock, contact, values, by=by, source=source, confidence=confidence
        )
    else:
        record = service.qualification_of(ws.db, contact)
    contact_id, stage, entered = service.stage_of(ws.db, contact)
    criteria = [_criterion(c) for c in record]
    if fmt is OneFormat.json:
        head = {"contact_id": contact_id, "stage": stage, "stage_entered_at": entered}
        render_one({**head, "criteria": criteria}, Format.json)
        return
    console().print(_stage_line(contact_id, stage, entered), highlight=False, soft_wrap=True)
    if criteria:
        rows = [{**c, "set_at": _time(c["set_at"])} for c in criteria]
        render(rows, CRITERION_COLUMNS, Format.table, title="qualification")
    else:
        console().print("no qualification criterion set yet", highlight=False)


def _criteria(named: Mapping[str, str], custom: Sequence[str]) -> dict[str, str]:
    """The criteria to set: the named options and every ``--set NAME=VALUE``."""
    values = dict(named)
    for item in custom:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise typer.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--set")
        if name in values:
            raise typer.BadParameter(f"criterion {name!r} is given twice", param_hint="--set")
        values[name] = value
    return values


def _criterion(c: CriterionValue) -> dict[str, Any]:
    return {
        "criterion": c.criterion,
        "value": c.value,
        "source": c.source,
        "set_by": c.set_by,
        "set_at": c.set_at,
        "confidence": c.confidence,
    }


# -- text for people -----------------------------------------------------------------------


def _stage_line(contact_id: int, stage: str | None, entered: datetime | None) -> str:
    if stage is None:
        return f"contact {contact_id}: no stage yet"
    since = f" since {_time(entered)} UTC" if entered else ""
    return f"contact {contact_id}: stage {stage}{since}"


def _contacts(n: int) -> str:
    return f"{n:,} contact" if n == 1 else f"{n:,} contacts"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")
