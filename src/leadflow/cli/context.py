"""What every command shares: the workspace it works on, opened lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from leadflow.workspace import Workspace


@dataclass
class CliState:
    workspace_path: Path | None = None
    _workspace: Workspace | None = field(default=None, repr=False)

    def workspace(self) -> Workspace:
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_path)
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
