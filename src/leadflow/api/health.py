"""``GET /health``: the server is up and its database answers (used to wait for readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from leadflow.api.deps import DbDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/health", response_model=Health)
def health(db: DbDep) -> Health:
    db.ping()
    return Health(status="ok")
