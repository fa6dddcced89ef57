"""``leadflow db``: schema migrations."""

from __future__ import annotations

import typer

from leadflow.cli.context import state
from leadflow.storage.migrate import current_revision, head_revision
from leadflow.storage.migrate import upgrade as run_upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations."""
    from leadflow.workspace import Workspace

    ws = Workspace.open(state(ctx).workspace_path, check_schema=False)
    try:
        before = current_revision(ws.db)
        run_upgrade(ws.db)
        after = current_revision(ws.db)
    finally:
        ws.close()
    if before == after:
        typer.echo(f"schema already at {after}")
    else:
        typer.echo(f"schema upgraded from {before or 'nothing'} to {after}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and of the code."""
    from leadflow.workspace import Workspace

    ws = Workspace.open(state(ctx).workspace_path, check_schema=False)
    try:
        typer.echo(f"database: {current_revision(ws.db) or 'empty'}; code: {head_revision(ws.db)}")
    finally:
        ws.close()
