"""``/webhooks``: subscriptions (create, read, change, delete), the delivery log and resending
a delivery by hand. Admin keys only. Delivery itself is the worker's
(``leadflow webhooks deliver``), never a task of this server."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from leadflow.api.deps import Admin, ClockDep, DbDep
from leadflow.api.pagination import CursorQuery, LimitQuery, Page, decode_cursor, encode_cursor
from leadflow.api.schemas import Text
from leadflow.errors import ValidationError
from leadflow.webhooks import service

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Topic = Literal[
    "contact.created",
    "stage.changed",
    "score.grade_changed",
    "score.threshold_crossed",
    "prospect.assigned",
    "deal.won",
    "deal.lost",
]
Id = Annotated[int, Path(ge=1, le=2**62)]
Name = Annotated[Text, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_-]*$")]
Url = Annotated[Text, Field(min_length=1, max_length=2000)]
Secret = Annotated[Text, Field(min_length=16, max_length=200)]
Topics = Annotated[list[Topic], Field(min_length=1, max_length=20)]


class Subscription(BaseModel):
    id: int
    name: str
    url: str
    topics: list[str]
    origin: Literal["config", "api"]
    active: bool
    created_at: datetime


class Created(Subscription):
    secret: str = Field(description="The signing secret: shown this once, keep it.")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    url: Url = Field(description="https, or http to a loopback address.")
    topics: Topics
    secret: Secret | None = Field(default=None, description="Generated when left out.")
    active: bool = True


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    topics: Topics | None = None
    secret: Secret | None = None
    active: bool | None = None


class Delivery(BaseModel):
    id: int
    event_id: int
    topic: str
    subscription: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    retry_until: datetime
    delivered_at: datetime | None


class Attempt(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryDetail(Delivery):
    payload: dict[str, Any]
    attempt_log: list[Attempt]


def _out(found: service.Subscription) -> Subscription:
    return Subscription(**{**vars(found), "topics": list(found.topics)})


@router.get("/subscriptions", response_model=list[Subscription])
def list_subscriptions(_admin: Admin, db: DbDep) -> list[Subscription]:
    """Every subscription, from the workspace file or this API; never a secret."""
    return [_out(s) for s in service.list_subscriptions(db)]


@router.post("/subscriptions", response_model=Created, status_code=201)
def create_subscription(body: SubscriptionIn, _admin: Admin, db: DbDep, clock: ClockDep) -> Created:
    """Subscribe a URL to topics; the answer holds the signing secret, once."""
    values = body.model_dump()
    made, secret = service.create_subscription(db, clock, **values)
    return Created(**_out(made).model_dump(), secret=secret)


@router.get("/subscriptions/{subscription_id}", response_model=Subscription)
def get_subscription(subscription_id: Id, _admin: Admin, db: DbDep) -> Subscription:
    return _out(service.get_subscription(db, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=Subscription)
def update_subscription(
    subscription_id: Id, body: SubscriptionPatch, _admin: Admin, db: DbDep
) -> Subscription:
    """Change a subscription made through the API (those of the workspace file: 409)."""
    return _out(service.update_subscription(db, subscription_id, **body.model_dump()))


@router.delete("/subscriptions/{subscription_id}", status_code=204)
def delete_subscription(subscription_id: Id, _admin: Admin, db: DbDep) -> Response:
    """Remove a subscription with its delivery log (to keep the log, PATCH active=false)."""
    service.delete_subscription(db, subscription_id)
    return Response(status_code=204)


@router.get("/deliveries", response_model=Page[Delivery])
def list_deliveries(
    _admin: Admin,
    db: DbDep,
    status: Literal["pending", "delivered", "dead"] | None = None,
    subscription_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: LimitQuery = 100,
    cursor: CursorQuery = None,
) -> Page[Delivery]:
    """The delivery log, newest first, with the last response code or error."""
    before = _before(cursor)
    rows = service.list_deliveries(
        db, status=status, subscription_id=subscription_id, before_id=before, limit=limit + 1
    )
    more = len(rows) > limit
    items = [Delivery(**r) for r in rows[:limit]]
    return Page(items=items, next_cursor=encode_cursor("id", None, items[-1].id) if more else None)


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    _, row_id = decode_cursor(cursor, "id")
    if row_id < 1:
        raise ValidationError("not a cursor this API gave out", field="cursor")
    return row_id


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def get_delivery(delivery_id: Id, _admin: Admin, db: DbDep) -> DeliveryDetail:
    """One delivery: its event's payload and every attempt (time, status code, error)."""
    return DeliveryDetail(**service.get_delivery(db, delivery_id))


@router.post("/deliveries/{delivery_id}/resend", response_model=DeliveryDetail, status_code=202)
def resend(delivery_id: Id, _admin: Admin, db: DbDep, clock: ClockDep) -> DeliveryDetail:
    """Queue a delivery again, even a delivered or dead one; the worker posts it."""
    return DeliveryDetail(**service.resend(db, clock, delivery_id))
