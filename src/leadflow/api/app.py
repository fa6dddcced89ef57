"""The FastAPI app factory. No module globals: the workspace, its database, clock and key
cache live on ``app.state``, so tests build as many apps as they like.

Each router is a module of :mod:`leadflow.api` with a ``router``; :data:`ROUTERS` lists them.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from leadflow import __version__
from leadflow.access.service import KeyVerifier
from leadflow.api import errors
from leadflow.api.batcher import EventBatcher, InThread
from leadflow.api.body_limit import BodyLimit
from leadflow.api.deps import API_KEY_SCHEME
from leadflow.api.fast_events import EventsFastPath
from leadflow.api.writer import EventWriter
from leadflow.memory import tune_gc_for_serving
from leadflow.settings import Settings
from leadflow.workspace import Workspace

# The routers, by module name under leadflow.api (one line each; order is the docs' order,
# and the order requests are matched in: the hot POST /events first).
ROUTERS: tuple[str, ...] = (
    "events",
    "health",
    "contacts",
    "lifecycle",
    "deals",
    "routing",
    "webhooks",
    "privacy",
    "capture",
    "tracking",
)

# Groups of single events sent to the writer process before the first is answered. With
# two, the next group is there when the writer finishes one; with more, the groups split
# smaller and each costs its transaction (http benchmark: 1 and 2 alike, 4 a fifth slower).
WRITER_GROUPS_IN_FLIGHT = 2

# Bodies above this are refused with a 413 while they stream in, never read whole first.
# A batch of 1,000 events fits in well under a tenth of it.
MAX_BODY_BYTES = 4 * 1024 * 1024


def create_app(
    workspace: Workspace, *, max_body_bytes: int = MAX_BODY_BYTES, event_writer: bool = False
) -> FastAPI:
    """The API for ``workspace``; the caller keeps ownership of (and closes) the workspace.

    ``event_writer``: record the events posted (one by one and in batches) in a writer
    process (``app.state.event_writer``, started on first use; :func:`close_event_writer`
    stops it) instead of a worker thread. An in-memory database keeps the thread.
    """
    app = FastAPI(
        title="leadflow",
        version=__version__,
        description="Leads and prospects: contacts, activity, scores, stages, deals, tasks.",
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    # Outermost of ours: the hot POST /events, answered before routing when all is well.
    app.add_middleware(EventsFastPath, api=app, max_body_bytes=max_body_bytes)
    app.state.workspace = workspace
    app.state.db = workspace.db
    app.state.clock = workspace.clock
    app.state.keys = KeyVerifier(workspace.db, workspace.clock)
    app.state.event_writer = None
    if event_writer and workspace.db.has_file:
        writer = EventWriter(
            workspace.db.url.render_as_string(hide_password=False),
            busy_timeout_ms=workspace.settings.sqlite_busy_timeout_ms,
        )
        app.state.event_writer = writer
        app.state.events = EventBatcher(writer, workspace.clock, in_flight=WRITER_GROUPS_IN_FLIGHT)
    else:
        app.state.events = EventBatcher(InThread(workspace.db), workspace.clock)
    errors.install(app)
    for name in ROUTERS:
        router: APIRouter = importlib.import_module(f"leadflow.api.{name}").router
        app.include_router(router, responses=errors.PROBLEM_RESPONSES)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """The factory uvicorn workers call: the workspace from ``LEADFLOW_*`` settings."""
    settings = Settings()
    workspace = Workspace.open(settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.event_writer is not None:
            await app.state.event_writer.start()  # before the first request, not during it
        try:
            yield
        finally:
            await close_event_writer(app)
            workspace.close()

    app = create_app(workspace, event_writer=settings.event_writer == "process")
    app.router.lifespan_context = lifespan
    tune_gc_for_serving()
    return app


async def close_event_writer(app: FastAPI) -> None:
    """Stop the app's event writer process, if it has one, once it has answered everything."""
    if app.state.event_writer is not None:
        await app.state.event_writer.close()


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error response described as problem+json (as sent)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
            errors.Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        schema["components"].setdefault("securitySchemes", {})["apiKey"] = API_KEY_SCHEME
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _problem_responses(operation.get("responses", {}))
                if {"bearer": []} in operation.get("security", []):
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def _problem_responses(responses: dict[str, Any]) -> None:
    content = {errors.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for status, response in responses.items():
        if status[:1] in ("4", "5"):
            response["content"] = content
