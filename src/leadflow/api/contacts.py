"""``/contacts`` and ``/accounts``: list (cursor pages, ``where`` conditions, sorting), read,
capture (create or update by identity, with a touch) and merge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from leadflow.access.scope import check_contact
from leadflow.api import reads
from leadflow.api.deps import AnyRole, ClockDep, DbDep, Staff
from leadflow.api.pagination import CursorQuery, LimitQuery, Page
from leadflow.api.schemas import ContactRef, Properties, Text
from leadflow.contacts.inputs import AccountInput, ContactInput, TouchInput
from leadflow.contacts.merge import merge_contacts
from leadflow.contacts.queries import get_contact
from leadflow.contacts.service import capture_contact
from leadflow.errors import NotFound, ValidationError
from leadflow.rules import Condition, parse_condition

router = APIRouter(tags=["contacts"])

Short = Annotated[Text, Field(max_length=255)]
Long = Annotated[Text, Field(max_length=2000)]
RefPath = Annotated[
    ContactRef,
    Path(max_length=320, description="A contact id, an email, a phone or `kind:value`."),
]
Sort = Literal[
    "id", "-id", "created_at", "-created_at", "updated_at", "-updated_at",
    "email", "-email", "last_name", "-last_name",
]  # fmt: skip


class Account(BaseModel):
    id: int
    domain: str | None
    name: str | None
    industry: str | None
    employee_count: int | None
    annual_revenue: float | None
    country: str | None
    owner_id: str | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Contact(BaseModel):
    id: int
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    seniority: str | None
    company_name: str | None
    country: str | None
    timezone: str | None
    language: str | None
    account_id: int | None
    stage: str | None
    stage_entered_at: datetime | None
    owner_id: str | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Identity(BaseModel):
    kind: str
    value: str
    created_at: datetime


class Touch(BaseModel):
    id: int
    channel: str
    campaign: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    referrer: str | None
    landing_page: str | None
    occurred_at: datetime


class ContactDetail(Contact):
    note: str | None = None  # set when the reference named a contact merged into this one
    last_activity_at: datetime | None
    account: Account | None
    identities: list[Identity]
    touches: list[Touch]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: Short | None = None
    name: Short | None = None
    industry: Short | None = None
    employee_count: int | None = Field(default=None, ge=0, le=10_000_000)
    annual_revenue: float | None = Field(default=None, ge=0, le=1e15)
    country: Short | None = None
    properties: Properties = Field(default_factory=dict)


class TouchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Short
    occurred_at: datetime | None = None
    campaign: Short | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None
    referrer: Long | None = None
    landing_page: Long | None = None
    idempotency_key: Annotated[Text, Field(max_length=128)] | None = None


class ContactIn(BaseModel):
    """A capture: who (at least one identity), what is known, and how they arrived."""

    model_config = ConfigDict(extra="forbid")
    email: Short | None = None
    phone: Short | None = None
    external_id: Short | None = None
    anonymous_id: Short | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    title: Short | None = None
    seniority: Short | None = None
    company: Short | None = None
    country: Short | None = None
    timezone: Short | None = None
    language: Short | None = None
    properties: Properties = Field(default_factory=dict)
    account: AccountIn | None = None
    touch: TouchIn | None = None


class Captured(BaseModel):
    contact_id: int
    created: bool
    touch_id: int | None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merged: Annotated[ContactRef, Field(min_length=1, max_length=320)] = Field(
        description="The contact merged into this one (id, email, phone or `kind:value`)."
    )
    reason: Annotated[Text, Field(max_length=2000)] | None = None


class Merged(BaseModel):
    merge_id: int
    survivor_id: int
    merged_id: int
    merged_at: datetime
    merged_by: str
    reason: str | None
    moved: dict[str, int]
    filled: list[str]


WhereQuery = Annotated[
    Text | None,
    Query(
        max_length=4000,  # it travels in the URL
        description='A JSON condition (docs/conditions.md): `{"contact.country": {"eq": "DE"}}`',
    ),
]


@router.get("/contacts", response_model=Page[Contact])
def list_contacts(
    principal: AnyRole,
    db: DbDep,
    clock: ClockDep,
    where: WhereQuery = None,
    sort: Sort = "id",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> dict[str, Any]:
    """Active contacts the key may see (a sales key: its user's), a page at a time."""
    rows, next_cursor = reads.contact_page(
        db, principal, where=_where(where), sort=sort, limit=limit, cursor=cursor, now=clock.now()
    )
    return {"items": rows, "next_cursor": next_cursor}


def _where(text: str | None) -> Condition | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"is not JSON: {exc}", field="where") from None
    return parse_condition(data, at="where")


@router.get("/contacts/{ref}", response_model=ContactDetail)
def read_contact(ref: RefPath, principal: AnyRole, db: DbDep) -> dict[str, Any]:
    """One contact by id, email, phone or `kind:value`, with account, identities, touches."""
    return get_contact(db, check_contact(db, principal, ref))


@router.post(
    "/contacts",
    response_model=Captured,
    responses={201: {"model": Captured, "description": "A new contact was created."}},
)
def capture(
    body: ContactIn, _who: Staff, db: DbDep, clock: ClockDep, response: Response
) -> Captured:
    """Create or update the contact the identities name; 201 when it is new."""
    result = capture_contact(db, clock, _contact_input(body), touch=_touch_input(body.touch))
    if result.created:
        response.status_code = 201
    return Captured(contact_id=result.contact_id, created=result.created, touch_id=result.touch_id)


def _contact_input(body: ContactIn) -> ContactInput:
    fields = body.model_dump(exclude={"account", "touch"})
    account = AccountInput(**body.account.model_dump()) if body.account else None
    return ContactInput(**fields, account=account)


def _touch_input(touch: TouchIn | None) -> TouchInput | None:
    return TouchInput(**touch.model_dump()) if touch else None


@router.post("/contacts/{ref}/merge", response_model=Merged)
def merge(ref: RefPath, body: MergeIn, principal: Staff, db: DbDep, clock: ClockDep) -> Merged:
    """Merge the contact ``merged`` names into this one; its identities and history move."""
    result = merge_contacts(
        db, clock, ref, body.merged, merged_by=f"api:{principal.prefix}", reason=body.reason
    )
    return Merged(
        merge_id=result.merge_id,
        survivor_id=result.survivor_id,
        merged_id=result.merged_id,
        merged_at=result.merged_at,
        merged_by=result.merged_by,
        reason=result.reason,
        moved=dict(result.moved),
        filled=list(result.filled),
    )


@router.get("/accounts", response_model=Page[Account])
def list_accounts(
    _who: Staff, db: DbDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> dict[str, Any]:
    rows, next_cursor = reads.account_page(db, limit=limit, cursor=cursor)
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/accounts/{account_id}", response_model=Account)
def read_account(
    account_id: Annotated[int, Path(ge=1, le=2**62)], _who: Staff, db: DbDep
) -> dict[str, Any]:
    rows = reads.account(db, account_id)
    if rows is None:
        raise NotFound(f"no account with id {account_id}")
    return rows
