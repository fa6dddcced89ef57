"""Privacy requests over HTTP: ``GET /contacts/{ref}/export`` and
``DELETE /contacts/{ref}?erase=true``, for admin and marketing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from leadflow.api.deps import ClockDep, DbDep, Staff
from leadflow.api.schemas import Text
from leadflow.privacy.service import erase_contact, export_contact

router = APIRouter(tags=["privacy"])

RefPath = Annotated[
    Text, Path(max_length=320, description="A contact id, an email, a phone or `kind:value`.")
]
Rows = list[dict[str, Any]]


class PersonalData(BaseModel):
    """Everything held about a person: the contact, the contacts merged into it, and every
    record that refers to any of them."""

    contact: dict[str, Any]
    account: dict[str, Any] | None
    merged_contacts: Rows
    identities: Rows
    touches: Rows
    activities: Rows
    contact_scores: Rows
    score_history: Rows
    stage_transitions: Rows
    qualifications: Rows
    deals: Rows
    tasks: Rows
    notices: Rows
    merges: Rows
    webhook_events: Rows
    erasures: Rows


class Erased(BaseModel):
    erasure_id: int
    contact_id: int
    merged_ids: list[int] = Field(description="Contacts merged into it, erased with it.")
    requested_by: str
    erased_at: datetime
    previously_erased_at: datetime | None = Field(
        description="When the person was first erased, if this is a repeated request."
    )
    removed: dict[str, int] = Field(description="Rows cleared or deleted, by kind of record.")


@router.get("/contacts/{ref}/export", response_model=PersonalData)
def export(ref: RefPath, _who: Staff, db: DbDep) -> dict[str, Any]:
    """Everything held about the person (a merged contact leads to its survivor)."""
    return export_contact(db, ref)


@router.delete(
    "/contacts/{ref}",
    response_model=Erased,
    responses={400: {"description": "`erase=true` is missing: only erasure is supported"}},
)
def erase(
    ref: RefPath,
    who: Staff,
    db: DbDep,
    clock: ClockDep,
    erase: Annotated[
        bool, Query(description="Must be true: erase personal data, keep anonymous aggregates.")
    ] = False,
) -> Erased:
    """Erase the person's personal data and identities (and those of contacts merged into
    it) in one transaction; the anonymous contact, its stage, touches' channels, activity
    types and times, scores and deals' amounts stay. A repeated request is harmless."""
    if not erase:
        raise HTTPException(
            400,
            "only erasure is supported: DELETE /contacts/{ref}?erase=true removes the "
            "person's personal data and identities and keeps anonymous aggregates",
        )
    done = erase_contact(db, clock, ref, requested_by=f"api:{who.prefix}")
    return Erased(
        erasure_id=done.id,
        contact_id=done.contact_id,
        merged_ids=list(done.merged_ids),
        requested_by=done.requested_by,
        erased_at=done.erased_at,
        previously_erased_at=done.previously_erased_at,
        removed=dict(done.removed),
    )
