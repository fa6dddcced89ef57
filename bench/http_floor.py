"""The ``http`` benchmark's floor: a bare FastAPI app whose ``POST /events`` parses the same
JSON body as leadflow's and answers 204, served by the same uvicorn command. The endpoint is
``async``: no thread hop, the least FastAPI can do with a JSON body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Response


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/events", status_code=204)
    async def events(body: Annotated[dict[str, Any], Body()]) -> Response:
        del body  # parsed and validated as JSON by FastAPI, then dropped
        return Response(status_code=204)

    return app
