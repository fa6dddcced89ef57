"""``leadflow score`` and ``leadflow explain``: activate the scoring file, read and explain scores.

Thin adapters over :mod:`leadflow.scoring.service`: every command parses its input, calls one
service function and renders the result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, error_console, refuse_file, render, render_one
from leadflow.errors import ConfigError
from leadflow.scoring import (
    SCORING_FILE,
    Contribution,
    GroupScore,
    Score,
    load_model,
    service,
)
from leadflow.scoring.service import StoredScore
from leadflow.storage.database import Database


class _ScoreGroup(TyperGroup):
    """``leadflow score REF`` is short for ``leadflow score show REF``: a first word that is
    no command but looks like a contact (an id, an email, a +phone, kind:value) goes to show.
    Anything else stays a usage error, so a mistyped command is still reported as one."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and _looks_like_contact(args[0]):
            return "show", self.commands["show"], args
        return super().resolve_command(ctx, args)


def _looks_like_contact(word: str) -> bool:
    return word.isdigit() or word.startswith("+") or "@" in word or ":" in word


app = typer.Typer(
    cls=_ScoreGroup,
    help="Scores: activate the scoring file, show a contact's score, its history, the models.",
    no_args_is_help=True,
)

ContactArgument = Annotated[
    str, typer.Argument(metavar="CONTACT", help="Contact id, email, +phone, or kind:value.")
]


class OneFormat(StrEnum):
    table = "table"
    json = "json"


OneFormatOption = Annotated[OneFormat, typer.Option("--format", "-f", help="Output format.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]

HISTORY_COLUMNS = (
    "at",
    "kind",
    "name",
    "before",
    "after",
    "total",
    "cause",
    "activity_id",
    "model_version",
)
HISTORY_TABLE_COLUMNS = ("at", "change", "total", "cause", "activity_id")
MODEL_COLUMNS = ("version", "loaded_at", "activated_at", "active")


# -- score --all ---------------------------------------------------------------------------


@app.callback(invoke_without_command=True)
def score(
    ctx: typer.Context,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help=f"Activate the workspace's {SCORING_FILE} and rescore every contact with it.",
        ),
    ] = False,
) -> None:
    """Scores: `--all` activates the scoring file and rescores everyone; or a sub-command."""
    if all_ and ctx.invoked_subcommand is not None:
        raise typer.BadParameter("--all takes no command", param_hint="--all")
    if not all_:
        return
    ws = state(ctx).workspace()
    path = ws.root / SCORING_FILE
    if not path.is_file():
        raise ConfigError(
            f"no {SCORING_FILE} in {ws.root}: `leadflow init` writes the default model there"
        )
    started = time.perf_counter()
    try:
        with error_console().status("rescoring every contact..."):
            result = service.rescore(
                ws.db, ws.clock, path.read_text(encoding="utf-8"), filename=path.name
            )
    except ConfigError as exc:
        refuse_file(
            exc,
            file=SCORING_FILE,
            thing="scoring model",
            active=active_version(ws.db),
            none_active="no model is active",
            unchanged="no score changed",
        )
    seconds = time.perf_counter() - started
    out = console()
    out.print(f"scoring model {result.version} ({SCORING_FILE}) is active", highlight=False)
    out.print(
        f"{result.contacts:,} contacts scored, {result.grade_changes:,} grade changes "
        f"in {seconds:.2f} s",
        highlight=False,
    )


def active_version(db: Database) -> str | None:
    """The version new events are scored with, as the service decides it."""
    with db.read() as conn:
        model = service.active_model(conn)
    return model.version if model else None


# -- score show ----------------------------------------------------------------------------


@app.command()
def show(
    ctx: typer.Context, contact: ContactArgument, fmt: OneFormatOption = OneFormat.table
) -> None:
    """Show a contact's current score: fit, engagement, total, grade, thresholds reached."""
    ws = state(ctx).workspace()
    stored = service.current_score(ws.db, contact, now=ws.clock.now())
    record = _score_record(stored)
    if fmt is OneFormat.json:
        render_one(record, Format.json)
        return
    render_one(_readable(record), Format.table)


def _score_record(stored: StoredScore) -> dict[str, Any]:
    s = stored.score
    return {
        "contact_id": stored.contact_id,
        "grade": s.grade,
        "fit": s.fit,
        "engagement": s.engagement,
        "total": s.total,
        "thresholds": list(s.thresholds),
        "as_of": s.at,
        "stored_as_of": stored.stored_as_of,
        "model_version": s.model_version,
    }


# -- explain -------------------------------------------------------------------------------


def explain(
    ctx: typer.Context, contact: ContactArgument, fmt: OneFormatOption = OneFormat.table
) -> None:
    """Every point of a contact's score: the rule, its decay and the evidence activities."""
    ws = state(ctx).workspace()
    contact_id, score = service.explain(ws.db, contact, now=ws.clock.now())
    if fmt is OneFormat.json:
        render_one(_explanation(contact_id, score), Format.json)
        return
    out = console()
    for line in _headline(contact_id, score):
        out.print(line, highlight=False, soft_wrap=True)
    for group in score.groups:
        rules = [c for c in score.contributions if c.group == group.name]
        out.print(
            _group_table(group, rules) if rules else f"{_group_title(group)}, no rule applies"
        )


def _headline(contact_id: int, score: Score) -> list[str]:
    reached = ", ".join(score.thresholds) or "none"
    return [
        f"contact {contact_id}: grade {score.grade}, total {_points(score.total)} "
        f"= fit {_points(score.fit)} + engagement {_points(score.engagement)}",
        f"thresholds reached: {reached}",
        f"model {score.model_version}, as of {_time(score.at)} UTC",
    ]


def _group_title(group: GroupScore) -> str:
    title = f"{group.name} ({group.kind.value}): {_points(group.value)}"
    if group.raw != group.value:
        title += f" (its rules add up to {_points(group.raw)}; the group's min/max applies)"
    return title


def _group_table(group: GroupScore, rules: Sequence[Contribution]) -> Table:
    table = Table(title=_group_title(group), title_justify="left")
    table.add_column("rule", no_wrap=True)
    for name in ("points", "times", "raw", "decay", "value"):
        table.add_column(name, justify="right", no_wrap=True)
    # Evidence columns only where there is evidence: most fit rules have none.
    lists = [name for name in ("evidence", "capped") if any(getattr(c, name) for c in rules)]
    for name in lists:
        table.add_column(name, overflow="fold")
    for c in rules:
        numbers = (c.points, c.occurrences, c.raw, c.decay, c.value)
        ids = (_ids(getattr(c, name)) for name in lists)
        table.add_row(c.rule, *(_points(n) for n in numbers), *ids)
    return table


def _ids(ids: Sequence[int]) -> str:
    return " ".join(map(str, ids))


def _explanation(contact_id: int, score: Score) -> dict[str, Any]:
    return {
        **_summary(contact_id, score),
        "contributions": [_contribution(c) for c in score.contributions],
        "groups": [_group(g) for g in score.groups],
    }


def _summary(contact_id: int, score: Score) -> dict[str, Any]:
    return {
        "contact_id": contact_id,
        "fit": score.fit,
        "engagement": score.engagement,
        "total": score.total,
        "grade": score.grade,
        "thresholds": list(score.thresholds),
        "as_of": score.at,
        "model_version": score.model_version,
    }


def _contribution(c: Contribution) -> dict[str, Any]:
    return {
        "rule": c.rule,
        "group": c.group,
        "kind": c.kind.value,
        "points": c.points,
        "occurrences": c.occurrences,
        "raw": c.raw,
        "decay": c.decay,
        "value": c.value,
        "evidence": list(c.evidence),
        "capped": list(c.capped),
    }


def _group(g: GroupScore) -> dict[str, Any]:
    # sum: the rules' points added; value: after the group's min/max.
    return {"group": g.name, "kind": g.kind.value, "sum": g.raw, "value": g.value}


# -- score history, score models -----------------------------------------------------------


@app.command()
def history(ctx: typer.Context, contact: ContactArgument, fmt: FormatOption = Format.table) -> None:
    """List a contact's grade changes and threshold crossings, oldest first."""
    rows = service.history(state(ctx).workspace().db, contact)
    if fmt is Format.table:
        render(map(_history_table_row, rows), HISTORY_TABLE_COLUMNS, fmt, title="score history")
    else:
        render(rows, HISTORY_COLUMNS, fmt, title="score history")


def _history_table_row(row: Mapping[str, Any]) -> dict[str, Any]:
    what = "grade" if row["kind"] == "grade" else row["name"]
    change = f"{what}: {row['before'] or 'none'} → {row['after']}"
    return _readable({**row, "change": change})


@app.command()
def models(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List the scoring models loaded, with when each was loaded and last activated."""
    db = state(ctx).workspace().db
    versions = service.model_versions(db)
    active = active_version(db)
    rows = [
        {
            "version": v.version,
            "loaded_at": v.loaded_at,
            "activated_at": v.activated_at,
            "active": v.version == active,
        }
        for v in versions
    ]
    if fmt is Format.table:
        rows = [_readable({**r, "active": "yes" if r["active"] else ""}) for r in rows]
    render(rows, MODEL_COLUMNS, fmt, title="scoring models")


# -- numbers for people --------------------------------------------------------------------


def _readable(record: Mapping[str, Any]) -> dict[str, Any]:
    """Points to two decimals and lists as comma-separated text, for tables."""
    shown: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, float):
            value = _points(value)
        elif isinstance(value, datetime):
            value = _time(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        shown[key] = value
    return shown


def _points(value: float) -> str:
    return f"{round(value, 2) + 0.0:g}"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


# -- leadflow init -------------------------------------------------------------------------


def warn_if_unreadable(root: Path) -> None:
    """``leadflow init`` keeps a team's scoring file that does not parse (and scores with
    nothing new): say so in one line, and where to look."""
    path = root / SCORING_FILE
    if not path.is_file():
        return
    try:
        load_model(path)
    except ConfigError:
        error_console().print(
            f"warning: {SCORING_FILE} does not parse, so it was not activated; "
            "`leadflow config check` lists the problems",
            highlight=False,
            soft_wrap=True,
        )
