"""``leadflow serve``: the REST API (and the public endpoints) under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from leadflow.cli.context import state
from leadflow.workspace import find_root


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (uvicorn's own multiprocess mode).")
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the API on HOST:PORT until interrupted (docs at /docs)."""
    import uvicorn

    # Each worker builds its app from the environment (create_app_from_env): pass the
    # workspace this command resolved, and open it once here so a bad one fails now.
    os.environ["LEADFLOW_WORKSPACE"] = str(find_root(state(ctx).workspace_path))
    state(ctx).workspace()
    typer.echo(f"serving on http://{host}:{port} (API docs at /docs)", err=True)
    uvicorn.run(
        "leadflow.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
