"""``/deals``: list, read, open, win and lose (admin and marketing keys). Deals are
answered as the service's own :class:`~leadflow.lifecycle.deals.Deal`, not a copy of it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from leadflow.api.deps import ClockDep, DbDep, Staff
from leadflow.api.lifecycle import actor
from leadflow.api.schemas import ContactRef, Text
from leadflow.lifecycle import deals as service

router = APIRouter(tags=["deals"])

DealId = Annotated[int, Path(ge=1, le=2**62)]
Reason = Annotated[Text, Field(min_length=1, max_length=2000)]


class DealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact: Annotated[ContactRef, Field(min_length=1, max_length=320)] = Field(
        description="The contact: id, email, phone or `kind:value`."
    )
    name: Annotated[Text, Field(max_length=255)] | None = None
    amount: Decimal | None = Field(default=None, ge=0, lt=Decimal(10) ** 12, decimal_places=2)
    currency: Annotated[Text, Field(min_length=3, max_length=3)] = "USD"
    expected_close: date | None = None
    stage: Literal["qualification", "proposal", "negotiation"] = "qualification"
    probability: float | None = Field(default=None, ge=0, le=1)
    owner: Annotated[Text, Field(max_length=64)] | None = None


class WinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    renewal_date: date | None = None


class LoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


@router.get("/deals", response_model=list[service.Deal])
def list_deals(
    _who: Staff,
    db: DbDep,
    status: Literal["open", "won", "lost"] | None = None,
    owner: Annotated[Text, Field(max_length=64)] | None = None,
) -> list[service.Deal]:
    return service.list_deals(db, status=status, owner=owner)


@router.get("/deals/{deal_id}", response_model=service.Deal)
def read_deal(deal_id: DealId, _who: Staff, db: DbDep) -> service.Deal:
    return service.deal(db, deal_id)


@router.post("/deals", response_model=service.Deal, status_code=201)
def open_deal(body: DealIn, principal: Staff, db: DbDep, clock: ClockDep) -> service.Deal:
    """Open a deal; the contact becomes an opportunity when the lifecycle allows it."""
    terms = body.model_dump(exclude={"contact"})
    return service.open_deal(db, clock, body.contact, **terms, by=actor(principal))


@router.post("/deals/{deal_id}/win", response_model=service.Deal)
def win(deal_id: DealId, body: WinIn, principal: Staff, db: DbDep, clock: ClockDep) -> service.Deal:
    """Close as won; the contact becomes a customer."""
    return service.win_deal(
        db, clock, deal_id, reason=body.reason, renewal_date=body.renewal_date, by=actor(principal)
    )


@router.post("/deals/{deal_id}/lose", response_model=service.Deal)
def lose(
    deal_id: DealId, body: LoseIn, principal: Staff, db: DbDep, clock: ClockDep
) -> service.Deal:
    """Close as lost."""
    return service.lose_deal(db, clock, deal_id, reason=body.reason, by=actor(principal))
