"""``leadflow config``: the workspace's business configuration files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from leadflow.capture.config import FORMS_FILE, FormsConfig, FormsConfigError, load_forms
from leadflow.cli import lifecycle, routing, scoring
from leadflow.cli.context import state
from leadflow.clock import SystemClock
from leadflow.errors import ConfigError, StorageError
from leadflow.lifecycle.config import (
    LIFECYCLE_FILE,
    LifecycleConfig,
    LifecycleConfigError,
    parse_lifecycle,
)
from leadflow.routing.config import ROUTING_FILE, RoutingConfig, RoutingConfigError
from leadflow.routing.config import parse_config as parse_routing
from leadflow.routing.hours import hours_of
from leadflow.scoring import SCORING_FILE, ScoringModel, ScoringModelError, load_model
from leadflow.settings import Settings
from leadflow.storage.database import Database
from leadflow.webhooks.config import WebhooksConfig, WebhooksConfigError, find_config
from leadflow.workspace import CONFIG_FILE, DATABASE_FILE, Workspace, find_root, load_config

app = typer.Typer(help="Workspace configuration files.", no_args_is_help=True)


@app.command()
def check(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Workspace folder (default: as for every command).")
    ] = None,
) -> None:
    """Validate leadflow.yaml, scoring.yaml, lifecycle.yaml, routing.yaml, webhooks and
    forms.yaml; change nothing."""
    root = find_root(path or state(ctx).workspace_path)
    problems: list[str] = []
    try:
        load_config(root / CONFIG_FILE)
    except ConfigError as exc:
        # load_config names the file by its full path; say it as the workspace knows it.
        problems.append(str(exc).replace(str(root / CONFIG_FILE), CONFIG_FILE, 1))
    model = _scoring(root, problems)
    lifecycle_config = _lifecycle(root, problems)
    routing_config = _routing(root, problems)
    webhooks = _webhooks(root, problems)
    forms = _forms(root, problems, lifecycle_config)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1)
    if model is None:
        typer.echo(f"ok: {CONFIG_FILE}; no {SCORING_FILE} (contacts are not scored)")
    else:
        rules = len(model.rules)
        typer.echo(f"ok: {CONFIG_FILE}; {SCORING_FILE} version {model.version} ({rules} rules)")
    if not (root / LIFECYCLE_FILE).exists():
        typer.echo(f"no {LIFECYCLE_FILE}: `leadflow init` writes the default lifecycle")
    if webhooks is not None:
        count = len(webhooks.subscriptions)
        typer.echo(
            f"ok: {webhooks.file}: {count} webhook subscriptions "
            "(`leadflow webhooks load` activates them)"
        )
    if forms is not None and (forms.forms or forms.sites):
        typer.echo(
            f"ok: {FORMS_FILE}: {len(forms.forms)} forms, {len(forms.sites)} tracked sites "
            "(`leadflow serve` reads it as it changes)"
        )
    for line in _pending(root, _versioned(model, lifecycle_config, routing_config)):
        typer.echo(line)


@dataclass(frozen=True)
class _Versioned:
    """A valid file that is activated by a command: compared with the active version."""

    file: str
    version: str
    kind: str  # what the active version is called: model, lifecycle, routing
    command: str
    active: Callable[[Database], str | None]


def _versioned(
    model: ScoringModel | None,
    lifecycle_config: LifecycleConfig | None,
    routing_config: RoutingConfig | None,
) -> list[_Versioned]:
    found = []
    if model is not None:
        found.append(
            _Versioned(
                SCORING_FILE, model.version, "model", "leadflow score --all", scoring.active_version
            )
        )
    if lifecycle_config is not None:
        found.append(
            _Versioned(
                LIFECYCLE_FILE,
                lifecycle_config.version,
                "lifecycle",
                "leadflow lifecycle load",
                lifecycle.active_version,
            )
        )
    if routing_config is not None:
        found.append(
            _Versioned(
                ROUTING_FILE,
                routing_config.version,
                "routing",
                "leadflow routing load",
                routing.active_version,
            )
        )
    return found


def _pending(root: Path, files: Sequence[_Versioned]) -> list[str]:
    """A line for each file that is not the active version: editing it changes nothing until
    its command activates it. Only reads the database."""
    if not files:
        return []
    settings = Settings()
    if settings.database_url is None and not (root / DATABASE_FILE).exists():
        return []  # no database yet, and opening SQLite would create one
    try:
        with Workspace.open(root, settings=settings) as ws:
            active = [f.active(ws.db) for f in files]
    except StorageError as exc:
        # The files are fine; a database out of reach is not their problem. One line: it is
        # the same database for every file.
        return [f"cannot tell whether {files[0].file} is the active {files[0].kind}: {exc}"]
    return [_not_active(f, a) for f, a in zip(files, active, strict=True) if a != f.version]


def _not_active(f: _Versioned, active: str | None) -> str:
    now = f"the active {f.kind} is {active}" if active else f"no {f.kind} is active yet"
    return f"{f.file} version {f.version} is not active ({now}): run `{f.command}` to activate it"


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


def _lifecycle(root: Path, problems: list[str]) -> LifecycleConfig | None:
    path = root / LIFECYCLE_FILE
    if not path.exists():
        return None
    try:
        return parse_lifecycle(path.read_text(encoding="utf-8"), filename=LIFECYCLE_FILE)
    except LifecycleConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))
    return None


def _routing(root: Path, problems: list[str]) -> RoutingConfig | None:
    """routing.yaml is optional: a workspace without one assigns no owners."""
    path = root / ROUTING_FILE
    if not path.exists():
        return None
    try:
        config = parse_routing(path.read_text(encoding="utf-8"), filename=ROUTING_FILE)
        now = SystemClock().now()
        for user in config.users:
            hours_of(user, now)  # working hours and holidays, as `routing load` reads them
        return config
    except RoutingConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))
    return None


def _webhooks(root: Path, problems: list[str]) -> WebhooksConfig | None:
    """webhooks.yaml, or leadflow.yaml's webhooks: section; optional."""
    try:
        return find_config(root)
    except WebhooksConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))
    return None


def _forms(
    root: Path, problems: list[str], lifecycle_config: LifecycleConfig | None
) -> FormsConfig | None:
    """forms.yaml is optional: without it no public form is open. Its qualification
    targets are checked against lifecycle.yaml's capture: when that file reads well."""
    try:
        return load_forms(root / FORMS_FILE, lifecycle_config)
    except FormsConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
    except ConfigError as exc:
        problems.append(str(exc))
    return None
