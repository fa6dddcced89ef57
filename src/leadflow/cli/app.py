"""The ``leadflow`` command: global options, sub-command groups and error handling."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError as PydanticValidationError
from typer.core import TyperGroup

from leadflow import __version__
from leadflow.cli import (
    config,
    contacts,
    db,
    deals,
    demo,
    export,
    imports,
    keys,
    lifecycle,
    privacy,
    routing,
    scoring,
    serve,
    tracking,
    webhooks,
)
from leadflow.cli.context import CliState, state
from leadflow.cli.output import error_console
from leadflow.errors import LeadflowError
from leadflow.settings import Settings
from leadflow.workspace import Workspace


class _Leadflow(TyperGroup):
    """Turns every expected failure into one clear line on stderr and a non-zero exit."""

    def invoke(self, ctx: Any) -> Any:  # click.Context, vendored or not by Typer
        try:
            return super().invoke(ctx)
        except LeadflowError as exc:
            _fail(str(exc))
        except PydanticValidationError as exc:
            problems = "; ".join(
                f"LEADFLOW_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
            )
            _fail(f"invalid settings: {problems}")


def _fail(message: str) -> NoReturn:
    error_console().print(f"[bold red]error[/]: {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


app = typer.Typer(
    name="leadflow",
    cls=_Leadflow,
    help="Lead and prospect management: capture, identity, activity, scoring, funnel.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db.app, name="db")
app.add_typer(contacts.app, name="contacts")
app.add_typer(imports.app, name="import")
app.add_typer(export.app, name="export")
app.add_typer(demo.app, name="demo")
app.add_typer(config.app, name="config")
app.add_typer(scoring.app, name="score")
app.command("explain")(scoring.explain)
app.add_typer(lifecycle.app, name="lifecycle")
app.add_typer(lifecycle.stage_app, name="stage")
app.command("qualify")(lifecycle.qualify)
app.add_typer(deals.app, name="deal")
app.add_typer(routing.app, name="routing")
app.add_typer(routing.tasks_app, name="tasks")
app.add_typer(routing.notices_app, name="notices")
app.add_typer(privacy.app, name="privacy")
app.add_typer(tracking.app, name="tracking")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(keys.app, name="keys")
app.command("serve")(serve.serve)


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="LEADFLOW_WORKSPACE",
            help="Workspace folder (default: the current folder or the nearest one above).",
        ),
    ] = None,
) -> None:
    ctx.obj = CliState(workspace_path=workspace)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name.")] = None,
) -> None:
    """Create a workspace: a config file and a database with the newest schema."""
    given = state(ctx).workspace_path
    target = given if path == Path(".") and given is not None else path
    with Workspace.init(target, settings=Settings(), name=name) as ws:
        typer.echo(f"workspace ready in {ws.root} (database: {ws.db.describe()})")
        scoring.warn_if_unreadable(ws.root)


@app.command()
def version() -> None:
    """Print leadflow's version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``leadflow`` script."""
    try:
        app()
    except KeyboardInterrupt:
        error_console().print("interrupted; nothing was committed by the interrupted step")
        sys.exit(130)
