"""The composition root: finds the workspace, builds storage and clock from settings."""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from leadflow.capture.config import FORMS_FILE
from leadflow.clock import Clock, SystemClock
from leadflow.errors import ConfigError, WorkspaceNotFound
from leadflow.lifecycle.config import LIFECYCLE_FILE
from leadflow.scoring.parse import SCORING_FILE
from leadflow.settings import Settings
from leadflow.storage.database import Database
from leadflow.storage.migrate import ensure_current, upgrade

CONFIG_FILE = "leadflow.yaml"
DATABASE_FILE = "leadflow.db"
_TEMPLATE = Path(__file__).with_name("workspace_template") / CONFIG_FILE
_DEFAULT_SCORING = Path(__file__).with_name("scoring") / "default_scoring.yaml"
_DEFAULT_LIFECYCLE = Path(__file__).with_name("lifecycle") / "default_lifecycle.yaml"
_EXAMPLE_FORMS = Path(__file__).with_name("capture") / "example_forms.yaml"


@dataclass
class Workspace:
    root: Path
    settings: Settings
    db: Database
    clock: Clock
    config: dict[str, Any]

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        check_schema: bool = True,
    ) -> Workspace:
        """Open the workspace at ``path``, ``LEADFLOW_WORKSPACE`` or the current folder."""
        settings = settings or Settings()
        root = find_root(path or settings.workspace)
        config = load_config(root / CONFIG_FILE)
        db = Database(database_url(root, settings), busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        if check_schema:
            ensure_current(db)
        return cls(root=root, settings=settings, db=db, clock=clock or SystemClock(), config=config)

    @classmethod
    def init(
        cls,
        path: Path,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> Workspace:
        """Create the folder, its config file and its database (migrated to the newest schema)."""
        settings = settings or Settings()
        path.mkdir(parents=True, exist_ok=True)
        config_path = path / CONFIG_FILE
        if not config_path.exists():
            text = _TEMPLATE.read_text().replace("{name}", name or path.resolve().name)
            config_path.write_text(text)
        # A new workspace scores with the commented default model until the team edits it.
        if not (path / SCORING_FILE).exists():
            (path / SCORING_FILE).write_text(_DEFAULT_SCORING.read_text())
        # Likewise the default lifecycle: stages, moves, criteria and rules.
        if not (path / LIFECYCLE_FILE).exists():
            (path / LIFECYCLE_FILE).write_text(_DEFAULT_LIFECYCLE.read_text())
        # Public forms: a commented example only, since an open form takes posts from the web.
        if not (path / FORMS_FILE).exists():
            (path / FORMS_FILE).write_text(_EXAMPLE_FORMS.read_text())
        workspace = cls.open(path, settings=settings, clock=clock, check_schema=False)
        upgrade(workspace.db)
        # A scoring file of the team's own that does not parse yet: the workspace is still
        # made; `leadflow config check` names the problem and `leadflow score --all`
        # activates the file once it is fixed.
        with suppress(ConfigError):
            workspace.activate_scoring_if_none()
        workspace.activate_lifecycle_if_none()
        return workspace

    def activate_lifecycle_if_none(self) -> None:
        """A workspace without an active lifecycle starts with its lifecycle file's (if it
        parses: `leadflow config check` says what is wrong otherwise)."""
        from leadflow.lifecycle.service import load_lifecycle_if_none

        load_lifecycle_if_none(self.db, self.clock, self.root / LIFECYCLE_FILE)

    def activate_scoring_if_none(self) -> None:
        """A workspace without an active scoring model starts with its scoring file's."""
        from leadflow.scoring.service import active_model, rescore

        with self.db.read() as conn:
            if active_model(conn) is not None:
                return
        path = self.root / SCORING_FILE
        if path.exists():
            rescore(self.db, self.clock, path.read_text(encoding="utf-8"), filename=path.name)

    @property
    def default_phone_region(self) -> str | None:
        region = self.config.get("workspace", {}).get("default_phone_region")
        return str(region).upper() if region else None

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_root(start: Path | None) -> Path:
    """The given folder, or the nearest folder upwards that holds a ``leadflow.yaml``."""
    if start is not None:
        root = Path(start).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            raise WorkspaceNotFound(
                f"{root} is not a leadflow workspace (no {CONFIG_FILE}); "
                "create one with `leadflow init`"
            )
        return root
    here = Path(os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise WorkspaceNotFound(
        f"no leadflow workspace in {here} or above; create one with `leadflow init`, "
        "or point at one with --workspace or LEADFLOW_WORKSPACE"
    )


def database_url(root: Path, settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{root / DATABASE_FILE}"


def load_config(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: {problem}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    return data
