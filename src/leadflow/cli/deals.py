"""``leadflow deal``: open a deal, move it through the pipeline, win or lose it, list deals,
and read a customer's health.

Thin adapters over :mod:`leadflow.lifecycle.deals`: every command parses its input, calls
one service function and renders the result.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, render, render_one
from leadflow.errors import ValidationError
from leadflow.lifecycle import deals
from leadflow.lifecycle.deals import DEAL_STAGES, DEFAULT_STAGE, STATUSES, Deal
from leadflow.lifecycle.health import Health

app = typer.Typer(
    help="Deals: open one, move it through the pipeline, win or lose it; customer health.",
    no_args_is_help=True,
)

ContactArgument = Annotated[
    str, typer.Argument(metavar="CONTACT", help="Contact id, email, +phone, or kind:value.")
]
DealArgument = Annotated[int, typer.Argument(metavar="DEAL", help="The deal's id.")]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ByOption = Annotated[str, typer.Option("--by", help="Who does it.")]
DAY = ["%Y-%m-%d"]
ProbabilityOption = Annotated[
    float | None, typer.Option(help="Chance of winning, 0 to 1 (default: the stage's).")
]

# A table has a terminal's width: the columns people scan; JSON and CSV have them all.
DEAL_COLUMNS = tuple(f.name for f in fields(Deal))
LIST_TABLE_COLUMNS = (
    "id",
    "name",
    "contact",
    "owner",
    "amount",
    "stage",
    "chance",
    "status",
    "close",
)
STAGES = ", ".join(DEAL_STAGES)


# -- deal open, stage, won, lost -----------------------------------------------------------


@app.command("open")
def open_(
    ctx: typer.Context,
    contact: ContactArgument,
    by: ByOption,
    name: Annotated[str | None, typer.Option(help="Default: the account's name.")] = None,
    amount: Annotated[str | None, typer.Option(help="E.g. 12000 or 12000.50.")] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 code.")] = "USD",
    close: Annotated[
        datetime | None,
        typer.Option("--close", formats=DAY, metavar="YYYY-MM-DD", help="Expected close date."),
    ] = None,
    stage: Annotated[str, typer.Option(help=f"One of {STAGES}.")] = DEFAULT_STAGE,
    probability: ProbabilityOption = None,
    owner: Annotated[str | None, typer.Option(help="Default: the contact's owner.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Open a deal for a contact, which becomes an opportunity."""
    ws = state(ctx).workspace()
    opened = deals.open_deal(
        ws.db,
        ws.clock,
        contact,
        name=name,
        amount=_amount(amount),
        currency=currency,
        expected_close=_day(close),
        stage=stage,
        probability=probability,
        owner=owner,
        by=by,
    )
    _show(opened, fmt)


@app.command("stage")
def stage_(
    ctx: typer.Context,
    deal: DealArgument,
    stage: Annotated[str, typer.Argument(metavar="STAGE", help=f"One of {STAGES}.")],
    probability: ProbabilityOption = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Move an open deal to another pipeline stage."""
    _show(deals.set_deal_stage(state(ctx).workspace().db, deal, stage, probability), fmt)


@app.command()
def won(
    ctx: typer.Context,
    deal: DealArgument,
    reason: Annotated[str, typer.Option(help="Why it was won.")],
    by: ByOption,
    renewal: Annotated[
        datetime | None,
        typer.Option(formats=DAY, metavar="YYYY-MM-DD", help="Renewal date (default: a year on)."),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Close a deal as won; its contact becomes a customer."""
    ws = state(ctx).workspace()
    closed = deals.win_deal(ws.db, ws.clock, deal, reason=reason, renewal_date=_day(renewal), by=by)
    _show(closed, fmt)


@app.command()
def lost(
    ctx: typer.Context,
    deal: DealArgument,
    reason: Annotated[str, typer.Option(help="Why it was lost.")],
    by: ByOption,
    fmt: FormatOption = Format.table,
) -> None:
    """Close a deal as lost; an opportunity with no other open deal becomes lost."""
    ws = state(ctx).workspace()
    _show(deals.lose_deal(ws.db, ws.clock, deal, reason=reason, by=by), fmt)


def _show(found: Deal, fmt: Format) -> None:
    render_one(_record(found), fmt)


# -- deal list, deal health ----------------------------------------------------------------


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's deals.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List deals, oldest first."""
    found = deals.list_deals(state(ctx).workspace().db, status=status, owner=owner)
    if fmt is Format.table:
        render(map(_table_row, found), LIST_TABLE_COLUMNS, fmt, title="deals")
    else:
        render(map(_record, found), DEAL_COLUMNS, fmt, title="deals")


@app.command()
def health(ctx: typer.Context, contact: ContactArgument, fmt: FormatOption = Format.table) -> None:
    """A customer's health from NPS, feedback and support signals, with the reasons."""
    ws = state(ctx).workspace()
    found = deals.customer_health(ws.db, ws.clock, contact)
    if fmt is not Format.table:
        render_one(_health(found), fmt)
        return
    out = console()
    score = "no score" if found.score is None else f"score {found.score:g}"
    out.print(f"{contact}: {found.status}, {score}", highlight=False, soft_wrap=True)
    for reason in found.reasons:
        out.print(f"  {reason}", highlight=False, soft_wrap=True)
    if found.evidence:
        out.print(f"evidence: activities {' '.join(map(str, found.evidence))}", highlight=False)


def _health(found: Health) -> dict[str, Any]:
    return {**asdict(found), "reasons": list(found.reasons), "evidence": list(found.evidence)}


# -- parsing and rendering -----------------------------------------------------------------


def _amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not a number", field="amount") from None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _table_row(found: Deal) -> dict[str, Any]:
    amount = f"{found.amount:,} {found.currency}" if found.amount is not None else ""
    return {
        "id": found.id,
        "name": found.name,
        "contact": found.contact_id,
        "owner": found.owner_id,
        "amount": amount,
        "stage": found.stage,
        "chance": f"{found.probability:.0%}",
        "status": found.status,
        "close": found.expected_close,
    }


def _record(found: Deal) -> dict[str, Any]:
    """A deal for output: the amount as exact text ("1200.50", not a float) and dates as
    YYYY-MM-DD, which JSON has no type for."""
    record = asdict(found)
    for key, value in record.items():
        if isinstance(value, Decimal):
            record[key] = str(value)
        elif isinstance(value, date) and not isinstance(value, datetime):
            record[key] = value.isoformat()
    return record
