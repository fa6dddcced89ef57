"""``leadflow keys``: create, list and revoke the API keys the REST API accepts.

A key is printed once, when it is made; only its SHA-256 is stored (decision 15).
"""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import typer

from leadflow.access import service
from leadflow.access.engine import Role
from leadflow.cli.context import state
from leadflow.cli.output import Format, error_console, render

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)

KEY_COLUMNS = ("prefix", "name", "role", "user_id", "created_at", "last_used_at", "revoked_at")


class RoleChoice(StrEnum):
    admin = Role.admin.value
    marketing = Role.marketing.value
    sales = Role.sales.value


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[RoleChoice, typer.Option(help="What the key may do.")],
    name: Annotated[str, typer.Option(help="What the key is for (shown in `keys list`).")],
    user: Annotated[
        str | None,
        typer.Option(help="The user (routing.yaml id) a sales key acts for; required for sales."),
    ] = None,
) -> None:
    """Create an API key and print it once."""
    ws = state(ctx).workspace()
    created = service.create_key(ws.db, ws.clock, name=name, role=role.value, user_id=user)
    typer.echo(created.plaintext)
    error_console().print(
        f"[bold yellow]warning[/]: this is the only time key {created.key.prefix} "
        "is shown; store it now (only its hash is kept)",
        highlight=False,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """List API keys (prefix, name, role, user; never the key itself)."""
    ws = state(ctx).workspace()
    rows: list[dict[str, Any]] = [asdict(key) for key in service.list_keys(ws.db)]
    render(rows, KEY_COLUMNS, fmt, title="API keys")


@app.command()
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix, as `keys list` shows it.")],
) -> None:
    """Revoke an API key: running servers refuse it within a few seconds."""
    ws = state(ctx).workspace()
    key = service.revoke_key(ws.db, ws.clock, prefix=prefix)
    typer.echo(f"revoked key {key.prefix} ({key.name})")
