"""``leadflow contacts``: list, show, merge, merges, duplicates."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, console, error_console, render, render_one
from leadflow.clock import ensure_utc
from leadflow.contacts.duplicates import (
    DEFAULT_MIN_SCORE,
    Candidate,
    DuplicatePair,
    find_duplicates,
)
from leadflow.contacts.merge import (
    MERGE_COLUMNS,
    MergePlan,
    list_merges,
    merge_contacts,
    plan_merge,
)
from leadflow.contacts.queries import LIST_COLUMNS, SORTS, ContactFilter, get_contact, iter_contacts

app = typer.Typer(help="Contacts: list, show, merge, duplicates.", no_args_is_help=True)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]

# A table has the width of a terminal: it shows the columns people scan, JSON and CSV all.
LIST_TABLE_COLUMNS = (
    "id",
    "name",
    "email",
    "company",
    "title",
    "country",
    "first_channel",
    "last_activity_at",
)
TOUCH_COLUMNS = ("id", "occurred_at", "channel", "campaign", "utm_source", "utm_campaign")
ACCOUNT_COLUMNS = ("id", "domain", "name", "industry", "employee_count", "country")
DUPLICATE_COLUMNS = (
    "score",
    "a_id",
    "a_name",
    "a_email",
    "a_company",
    "b_id",
    "b_name",
    "b_email",
    "b_company",
    "reasons",
)
DUPLICATE_TABLE_COLUMNS = ("score", "a_id", "a_name", "b_id", "b_name", "a_company", "reasons")


@app.command("list")
def list_(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option(help="First-touch channel.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code.")] = None,
    seniority: Annotated[str | None, typer.Option()] = None,
    domain: Annotated[str | None, typer.Option(help="Account domain.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Part of name, email or company.")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Created at or after (UTC if no zone).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Created before (UTC if no zone).")] = None,
    sort: Annotated[str, typer.Option(help=f"One of {', '.join(SORTS)}.")] = "id",
    desc: Annotated[bool, typer.Option("--desc", help="Newest or largest first.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="At most this many; 0 for all.")] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    fmt: FormatOption = Format.table,
) -> None:
    """List contacts with filters."""
    filters = ContactFilter(
        channel=channel,
        country=country,
        seniority=seniority,
        domain=domain,
        search=search,
        created_after=ensure_utc(since) if since else None,
        created_before=ensure_utc(until) if until else None,
    )
    rows = iter_contacts(
        state(ctx).workspace().db,
        filters,
        sort=sort,
        descending=desc,
        limit=limit or None,
        offset=offset,
    )
    if fmt is Format.table:
        render(map(_list_table_row, rows), LIST_TABLE_COLUMNS, fmt, title="contacts")
    else:
        render(rows, LIST_COLUMNS, fmt, title="contacts")


def _list_table_row(row: dict[str, Any]) -> dict[str, Any]:
    name = " ".join(p for p in (row["first_name"], row["last_name"]) if p)
    at = row["last_activity_at"]
    return {**row, "name": name, "last_activity_at": at.strftime("%Y-%m-%d %H:%M") if at else None}


@app.command()
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, +phone, or kind:value.")],
    fmt: FormatOption = Format.table,
) -> None:
    """Show one contact with its account, identities and touches."""
    contact = get_contact(state(ctx).workspace().db, ref)
    if fmt is not Format.table:
        render_one(contact, fmt)
        return
    # A table of fields, then one table per kind of related row, instead of JSON in cells.
    related = {k: contact.pop(k) for k in ("identities", "touches")}
    account = contact.pop("account")
    render_one(contact, fmt)
    if account is not None:
        render([account], ACCOUNT_COLUMNS, fmt, title="account")
    render(related["identities"], ("kind", "value", "created_at"), fmt, title="identities")
    render(related["touches"], TOUCH_COLUMNS, fmt, title="touches")


@app.command()
def merge(
    ctx: typer.Context,
    survivor: Annotated[str, typer.Argument(help="The contact that stays (id, email, ...).")],
    merged: Annotated[str, typer.Argument(help="The contact merged into it.")],
    reason: Annotated[str | None, typer.Option(help="Why, kept with the merge.")] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who merges (default: the user name).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """Merge contact MERGED into SURVIVOR, keeping every identity, touch and activity."""
    ws = state(ctx).workspace()
    plan = plan_merge(ws.db, survivor, merged)
    if fmt is Format.table or not yes:
        # Keep stdout for the result when it is meant for a program.
        out = console() if fmt is Format.table else error_console()
        for line in _describe_plan(plan):
            out.print(line, highlight=False)
    if not yes:
        typer.confirm("Merge?", abort=True, err=True)
    result = merge_contacts(
        ws.db, ws.clock, survivor, merged, merged_by=by or _user(), reason=reason
    )
    render_one(result.as_dict(), fmt)


def _describe_plan(plan: MergePlan) -> Iterator[str]:
    """What a merge will do, in a few lines."""
    s, m = plan.survivor, plan.merged
    yield f"merge {_label(m)} into {_label(s)}; contact {s['id']} stays"
    moves = ", ".join(f"{count} {table}" for table, count in plan.moves.items())
    yield f"moves {moves} to contact {s['id']}"
    if plan.filled:
        yield f"fills on contact {s['id']}: {', '.join(plan.filled)}"
    if plan.properties_added:
        yield f"adds properties: {', '.join(plan.properties_added)}"
    yield f"contact {m['id']} is kept as merged; its id and identities lead to contact {s['id']}"


def _label(contact: Mapping[str, Any]) -> str:
    name = " ".join(p for p in (contact["first_name"], contact["last_name"]) if p)
    email = f"<{contact['email']}>" if contact["email"] else ""
    details = " ".join(p for p in (name, email) if p)
    return f"contact {contact['id']}" + (f" ({details})" if details else "")


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "cli"


@app.command()
def merges(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(help="Only merges this contact took part in.")
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List recorded merges, newest first."""
    rows = list_merges(state(ctx).workspace().db, ref)
    columns = (*MERGE_COLUMNS, "snapshot") if fmt is Format.json else MERGE_COLUMNS
    render(rows, columns, fmt, title="merges")


@app.command()
def duplicates(
    ctx: typer.Context,
    min_score: Annotated[
        int, typer.Option(min=0, max=100, help="Only pairs scoring at least this.")
    ] = DEFAULT_MIN_SCORE,
    limit: Annotated[int, typer.Option(min=0, help="At most this many; 0 for all.")] = 50,
    fmt: FormatOption = Format.table,
) -> None:
    """List likely duplicate contacts (same person by name and company), best first."""
    db = state(ctx).workspace().db
    # A few seconds per 100,000 contacts: say something is happening (on stderr).
    with error_console().status("comparing contacts..."):
        pairs = find_duplicates(db, min_score=min_score, limit=limit or None)
    columns = DUPLICATE_TABLE_COLUMNS if fmt is Format.table else DUPLICATE_COLUMNS
    render(map(_pair_row, pairs), columns, fmt, title="likely duplicates")
    if fmt is Format.table and pairs:
        console().print("merge a pair with: leadflow contacts merge A_ID B_ID", highlight=False)


def _pair_row(pair: DuplicatePair) -> dict[str, Any]:
    row: dict[str, Any] = {"score": pair.score, "reasons": "; ".join(pair.reasons)}
    for side, record in (("a", pair.a), ("b", pair.b)):
        row |= {
            f"{side}_id": record.id,
            f"{side}_name": record.name,
            f"{side}_email": record.email,
            f"{side}_company": _company(record),
        }
    return row


def _company(record: Candidate) -> str | None:
    return record.account_name or record.company or record.domain
