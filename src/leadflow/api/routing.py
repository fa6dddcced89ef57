"""``/tasks`` and ``/owners``: sales work and who sells. A sales key sees and completes only
its user's tasks (another user's task is a 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from leadflow.access.scope import check_task, restricted_to
from leadflow.api.deps import AnyRole, ClockDep, DbDep, Staff
from leadflow.api.schemas import Text
from leadflow.routing import service
from leadflow.routing.models import users

router = APIRouter(tags=["sales"])

TaskId = Annotated[int, Path(ge=1, le=2**62)]


class Task(BaseModel):
    id: int
    contact_id: int
    owner_id: str
    kind: str
    title: str
    status: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None
    escalated_at: datetime | None
    note: str | None
    overdue: bool


class DoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Annotated[Text, Field(max_length=2000)] | None = None


class Owner(BaseModel):
    id: str
    name: str
    email: str | None
    role: str
    team: str | None
    capacity: int
    daily_quota: int | None
    timezone: str
    active: bool


def _task(task: service.Task, now: datetime) -> Task:
    return Task(**vars(task), overdue=task.overdue(now))


@router.get("/tasks", response_model=list[Task])
def list_tasks(
    principal: AnyRole,
    db: DbDep,
    clock: ClockDep,
    owner: Annotated[Text, Field(max_length=64)] | None = None,
    overdue: bool = False,
    status: Literal["open", "done", "escalated", "cancelled"] | None = "open",
) -> list[Task]:
    """Tasks by deadline; a sales key gets its own whatever ``owner`` says."""
    now = clock.now()
    owner = restricted_to(principal) or owner
    found = service.list_tasks(db, now=now, owner=owner, overdue=overdue, status=status)
    return [_task(t, now) for t in found]


@router.post("/tasks/{task_id}/complete", response_model=Task)
def complete(
    task_id: TaskId, principal: AnyRole, db: DbDep, clock: ClockDep, body: DoneIn | None = None
) -> Task:
    """Mark an open task done (a done first touch opens the follow-up task)."""
    check_task(db, principal, task_id)
    done = service.complete_task(db, clock, task_id, note=body.note if body else None)
    return _task(done, clock.now())


@router.get("/owners", response_model=list[Owner])
def owners(_who: Staff, db: DbDep) -> list[Owner]:
    """The users of the active routing.yaml."""
    with db.read() as conn:
        rows = conn.execute(select(users).order_by(users.c.id)).mappings().all()
    return [Owner(**row) for row in rows]
