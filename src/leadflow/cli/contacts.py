"""``leadflow contacts``: list, show."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.cli.output import Format, render, render_one
from leadflow.clock import ensure_utc
from leadflow.contacts.queries import LIST_COLUMNS, SORTS, ContactFilter, get_contact, iter_contacts

app = typer.Typer(help="Contacts: list, show, merge, duplicates.", no_args_is_help=True)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


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
    render(rows, LIST_COLUMNS, fmt, title="contacts")


@app.command()
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, +phone, or kind:value.")],
    fmt: FormatOption = Format.table,
) -> None:
    """Show one contact with its account, identities and touches."""
    contact = get_contact(state(ctx).workspace().db, ref)
    render_one(contact, fmt)
