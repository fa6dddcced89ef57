"""``/events``: record one event or a batch (all or nothing, idempotent by key); read a
contact's activity. A response is sent only after the events are committed and scored
(``record_prepared`` scores in the same transaction), by the app's recorder (the served
app's writer process: ``api/writer.py``).

The single-event path is kept lean: the key check is a dictionary hit, the body one small
model parsed in one pass, and the database work the recording itself.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from leadflow.access.scope import check_contact, check_contacts, restricted_to
from leadflow.activity.inputs import EventInput
from leadflow.activity.service import RecordResult
from leadflow.api import reads
from leadflow.api.batcher import EventBatcher
from leadflow.api.contacts import RefPath
from leadflow.api.deps import ANY_ROLE, AnyRole, DbDep
from leadflow.api.pagination import CursorQuery, LimitQuery, Page
from leadflow.api.schemas import Properties, Text
from leadflow.errors import UnsupportedMediaType

router = APIRouter(tags=["activity"])

MAX_BATCH = 1000
Short = Annotated[Text, Field(max_length=320)]


class EventIn(BaseModel):
    """One event; the contact is named by ``contact_id`` or an identity (a new identity
    creates a contact). Retrying with the same ``idempotency_key`` stores it once."""

    model_config = ConfigDict(extra="forbid")
    type: Annotated[Text, Field(min_length=1, max_length=64)]
    occurred_at: datetime | None = None
    contact_id: int | None = Field(default=None, ge=1, le=2**62)
    email: Short | None = None
    phone: Short | None = None
    external_id: Short | None = None
    anonymous_id: Short | None = None
    properties: Properties = Field(default_factory=dict)
    source: Annotated[Text, Field(max_length=64)] | None = None
    idempotency_key: Annotated[Text, Field(min_length=1, max_length=128)] | None = None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class Recorded(BaseModel):
    recorded: int = Field(description="Events newly stored.")
    duplicates: int = Field(description="Events already stored under the same key.")
    contacts_created: int
    event_ids: list[int | None] = Field(description="Per event given; null for a duplicate.")


class EventRecorded(BaseModel):
    event_id: int | None = Field(description="The stored event; null for a duplicate.")
    duplicate: bool = Field(description="Its idempotency key was stored already.")


class Activity(BaseModel):
    id: int
    contact_id: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str | None
    properties: dict[str, Any]
    idempotency_key: str


# The operation as FastAPI would document it with the body and the key as parameters; the
# handler takes them itself (below).
_RECORD_ONE_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventIn"}}},
        "required": True,
    },
    "security": [{ANY_ROLE.scheme_name: []}],
}


@router.post("/events", response_model=EventRecorded, openapi_extra=_RECORD_ONE_DOC)
async def record_one(request: Request) -> Response:
    """Record one event; answered once it is stored and scored. Concurrent requests share
    a transaction (group commit), each answered with its own result."""
    # The key and the body are read here, not declared as parameters: FastAPI's solving of
    # a body and a dependency was a third of this endpoint's time in the server process
    # (cProfile over 6,000 requests), and every error is the same (see event_body).
    principal = await ANY_ROLE(request)
    body = event_body(await request.body(), request.headers.get("content-type"))
    if restricted_to(principal) is not None:
        db = request.app.state.db
        await run_in_threadpool(check_contacts, db, principal, [("event", _ref(body))])
    batcher: EventBatcher = request.app.state.events
    event_id = await batcher.record(_input(body))
    return Response(recorded_body(event_id), media_type="application/json")


def recorded_body(event_id: int | None) -> bytes:
    """``EventRecorded`` as JSON, encoded here: FastAPI would validate the model again
    against the response model first (the fast path sends the same bytes)."""
    return orjson.dumps({"event_id": event_id, "duplicate": event_id is None})


def event_body(body: bytes, content_type: str | None) -> EventIn:
    """The body as ``EventIn``, refused as FastAPI refuses a declared JSON body (same
    errors, so the same problem+json answers): 415 for another (or no) content type, 400
    for malformed JSON, 422 naming each field. pydantic parses the JSON itself, in one pass;
    JSON it refuses that Python's parser takes (NaN, lone surrogates) is read as before."""
    if not _is_json(content_type):
        raise UnsupportedMediaType("send the body as application/json")
    if not body:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        return EventIn.model_validate_json(body)
    except PydanticValidationError as exc:
        if all(e["type"] != "json_invalid" for e in exc.errors()):
            raise RequestValidationError(_in_body(exc)) from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        malformed = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([malformed]) from None
    except (ValueError, RecursionError):  # not UTF-8, nested too deep: as FastAPI says it
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return EventIn.model_validate(data)
    except PydanticValidationError as exc:
        raise RequestValidationError(_in_body(exc)) from None


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _in_body(exc: PydanticValidationError) -> list[Any]:
    return [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]


@router.post("/events/batch", response_model=Recorded)
async def record_batch(body: BatchIn, principal: AnyRole, request: Request) -> Recorded:
    """Record up to 1,000 events: all of them, or none when one is invalid."""
    # A sales key records only on contacts its user owns (checked only for sales keys).
    if restricted_to(principal) is not None:
        refs = [(f"events[{i}]", _ref(e)) for i, e in enumerate(body.events)]
        await run_in_threadpool(check_contacts, request.app.state.db, principal, refs)
    # Through the app's recorder, as a group of its own: the served app's writer process
    # records it while this process reads the next request.
    batcher: EventBatcher = request.app.state.events
    return _recorded(await batcher.record_batch([_input(e) for e in body.events]))


def _input(event: EventIn) -> EventInput:
    # The validated fields as they are (a model forbidding extras keeps exactly its fields in
    # __dict__): model_dump() copies them first, at twice the cost (2.2 against 1.0 µs).
    return EventInput(**vars(event))


def _ref(event: EventIn) -> str | int:
    """The contact an event names, in the order the activity log reads them."""
    if event.contact_id is not None:
        return event.contact_id
    if event.email or event.phone:
        return str(event.email or event.phone)
    if event.external_id is not None:
        return f"external_id:{event.external_id.strip()}"
    return f"anonymous_id:{(event.anonymous_id or '').strip()}"


def _recorded(result: RecordResult) -> Recorded:
    return Recorded(
        recorded=result.recorded,
        duplicates=result.duplicates,
        contacts_created=result.contacts_created,
        event_ids=list(result.event_ids),
    )


@router.get("/contacts/{ref}/activity", response_model=Page[Activity])
def contact_activity(
    ref: RefPath, principal: AnyRole, db: DbDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> dict[str, Any]:
    """The contact's timeline, newest first."""
    rows, next_cursor = reads.activity_page(
        db, check_contact(db, principal, ref), limit=limit, cursor=cursor
    )
    return {"items": rows, "next_cursor": next_cursor}
