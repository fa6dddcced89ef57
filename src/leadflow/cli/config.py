"""``leadflow config``: the workspace's business configuration files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.errors import ConfigError
from leadflow.scoring import SCORING_FILE, ScoringModel, ScoringModelError, load_model
from leadflow.workspace import CONFIG_FILE, find_root, load_config

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
