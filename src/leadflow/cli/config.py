"""``leadflow config``: the workspace's business configuration files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.cli.scoring import active_version
from leadflow.errors import ConfigError, StorageError
from leadflow.scoring import SCORING_FILE, ScoringModel, ScoringModelError, load_model
from leadflow.settings import Settings
from leadflow.workspace import CONFIG_FILE, DATABASE_FILE, Workspace, find_root, load_config

app = typer.Typer(help="Workspace configuration files.", no_args_is_help=True)


@app.command()
def check(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Workspace folder (default: as for every command).")
    ] = None,
) -> None:
    """Validate leadflow.yaml and scoring.yaml without changing anything."""
    root = find_root(path or state(ctx).workspace_path)
    problems: list[str] = []
    try:
        load_config(root / CONFIG_FILE)
    except ConfigError as exc:
        # load_config names the file by its full path; say it as the workspace knows it.
        problems.append(str(exc).replace(str(root / CONFIG_FILE), CONFIG_FILE, 1))
    model = _scoring(root, problems)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1)
    if model is None:
        typer.echo(f"ok: {CONFIG_FILE}; no {SCORING_FILE} (contacts are not scored)")
    else:
        rules = len(model.rules)
        typer.echo(f"ok: {CONFIG_FILE}; {SCORING_FILE} version {model.version} ({rules} rules)")
        pending = _pending(root, model)
        if pending:
            typer.echo(pending)


def _pending(root: Path, model: ScoringModel) -> str | None:
    """A line when the file is not the model that scores: editing it changes nothing until
    `leadflow score --all` activates it. Only reads the database."""
    settings = Settings()
    if settings.database_url is None and not (root / DATABASE_FILE).exists():
        return None  # no database yet, and opening SQLite would create one
    try:
        with Workspace.open(root, settings=settings) as ws:
            active = active_version(ws.db)
    except StorageError as exc:
        # The files are fine; a database out of reach is not their problem.
        return f"cannot tell whether {SCORING_FILE} is the active model: {exc}"
    if active == model.version:
        return None
    now = f"the active model is {active}" if active else "no model is active yet"
    return (
        f"{SCORING_FILE} version {model.version} is not active ({now}): "
        "run `leadflow score --all` to activate it"
    )


def _scoring(root: Path, problems: list[str]) -> ScoringModel | None:
    if not (root / SCORING_FILE).exists():
        return None
    try:
        return load_model(root / SCORING_FILE)
    except ScoringModelError as exc:
        problems.extend(str(p) for p in exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))
    return None
