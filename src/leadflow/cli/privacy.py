"""``leadflow privacy``: export everything held about a person, or erase it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, error_console, render_one
from leadflow.errors import LeadflowError
from leadflow.privacy.service import ErasurePlan, erase_contact, erasure_plan, export_contact

app = typer.Typer(help="Privacy requests: export or erase a person's data.", no_args_is_help=True)

ContactArgument = Annotated[
    str, typer.Argument(help="Contact id, email, +phone, or kind:value.", show_default=False)
]


@app.command()
def export(
    ctx: typer.Context,
    ref: ContactArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Export everything held about a person (and contacts merged into them) as JSON."""
    exported = export_contact(state(ctx).workspace().db, ref)
    text = json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LeadflowError(f"{output}: cannot write: {exc.strerror}") from None
    typer.echo(f"exported contact {exported['contact']['id']} to {output}", err=True)


@app.command()
def erase(
    ctx: typer.Context,
    ref: ContactArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who asks (default: the user name).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Erase a person's personal data and identities; keep anonymous aggregates."""
    ws = state(ctx).workspace()
    plan = erasure_plan(ws.db, ref)
    if fmt is Format.table or not yes:
        # Keep stdout for the result when it is meant for a program.
        out = console() if fmt is Format.table else error_console()
        for line in _describe(plan):
            out.print(line, highlight=False, soft_wrap=True)
    if not yes:
        typer.confirm("Erase? This cannot be undone", abort=True, err=True)
    who = by or os.environ.get("USER") or os.environ.get("USERNAME")
    requested_by = f"cli:{who}" if who else "cli"
    erasure = erase_contact(ws.db, ws.clock, plan.contact_id, requested_by=requested_by)
    render_one(erasure.as_dict(), fmt)


def _describe(plan: ErasurePlan) -> Iterator[str]:
    details = " ".join(p for p in (plan.name, f"<{plan.email}>" if plan.email else None) if p)
    yield f"erase contact {plan.contact_id}" + (f" ({details})" if details else "")
    if plan.merged_ids:
        merged = ", ".join(map(str, plan.merged_ids))
        yield f"and the contacts merged into it: {merged}"
    yield (
        f"removes {plan.identities} identities and every name, address, free text and "
        "custom property; keeps the stage, dates, channels, activity types and times, "
        "scores and deal amounts, anonymous"
    )
    if plan.erased_at is not None:
        first = plan.erased_at.isoformat()
        yield f"already erased on {first}; erasing again clears what was recorded since"
