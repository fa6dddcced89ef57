"""A contact's lifecycle: its stage with the history of moves, a move by hand, its
qualification criteria, and its score with the explanation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from leadflow.access.engine import Principal
from leadflow.access.scope import check_contact
from leadflow.api.contacts import RefPath
from leadflow.api.deps import AnyRole, ClockDep, DbDep
from leadflow.api.schemas import Text
from leadflow.lifecycle import service as lifecycle
from leadflow.scoring import service as scoring
from leadflow.scoring.engine import Score as EngineScore

router = APIRouter(tags=["lifecycle"])


def actor(principal: Principal) -> str:
    """Who did it, as stored in ``by`` columns: the key's user, else the key itself."""
    return principal.user_id or f"api:{principal.prefix}"


class Transition(BaseModel):
    id: int
    from_stage: str | None
    to_stage: str
    at: datetime
    cause: str
    rule: str | None
    by_user: str | None
    reason: str | None
    activity_id: int | None


class Stage(BaseModel):
    contact_id: int
    stage: str | None
    entered_at: datetime | None
    history: list[Transition]


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stage: Annotated[Text, Field(min_length=1, max_length=32)]
    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


class Criterion(BaseModel):
    criterion: str
    value: str
    source: str
    set_by: str | None
    set_at: datetime
    confidence: float


class QualifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criteria: dict[
        Annotated[Text, Field(max_length=64)], Annotated[Text, Field(min_length=1, max_length=255)]
    ] = Field(min_length=1, max_length=50, description="Criterion name to value.")
    confidence: float = Field(default=1.0, gt=0, le=1)


class Group(BaseModel):
    name: str
    kind: str
    raw: float
    value: float


class Contribution(BaseModel):
    rule: str
    group: str
    kind: str
    points: float
    occurrences: int
    raw: float
    value: float
    evidence: list[int]


class Score(BaseModel):
    contact_id: int
    fit: float
    engagement: float
    total: float
    grade: str
    thresholds: list[str]
    at: datetime
    model_version: str
    groups: list[Group]
    contributions: list[Contribution] | None = Field(
        default=None, description="Every rule's share with its evidence (`/score/explain`)."
    )


@router.get("/contacts/{ref}/stage", response_model=Stage)
def stage(ref: RefPath, principal: AnyRole, db: DbDep) -> Stage:
    """The contact's stage, since when, and every move that led there."""
    contact_id = check_contact(db, principal, ref)
    _, current, entered = lifecycle.stage_of(db, contact_id)
    history = [Transition(**row) for row in lifecycle.stage_history(db, contact_id)]
    return Stage(contact_id=contact_id, stage=current, entered_at=entered, history=history)


@router.post("/contacts/{ref}/stage", response_model=Stage)
def move(ref: RefPath, body: MoveIn, principal: AnyRole, db: DbDep, clock: ClockDep) -> Stage:
    """Move the contact by hand (the lifecycle must allow the move), saying why."""
    contact_id = check_contact(db, principal, ref)
    lifecycle.move_contact(
        db, clock, contact_id, body.stage, by=actor(principal), reason=body.reason
    )
    return stage(str(contact_id), principal, db)


@router.get("/contacts/{ref}/qualification", response_model=list[Criterion])
def qualification(ref: RefPath, principal: AnyRole, db: DbDep) -> list[Criterion]:
    values = lifecycle.qualification_of(db, check_contact(db, principal, ref))
    return [Criterion(**vars(v)) for v in values]


@router.put("/contacts/{ref}/qualification", response_model=list[Criterion])
def qualify(
    ref: RefPath, body: QualifyIn, principal: AnyRole, db: DbDep, clock: ClockDep
) -> list[Criterion]:
    """Set criteria (all or none); the lifecycle rules then run for the contact."""
    values = lifecycle.qualify(
        db,
        clock,
        check_contact(db, principal, ref),
        body.criteria,
        by=actor(principal),
        confidence=body.confidence,
    )
    return [Criterion(**vars(v)) for v in values]


@router.get("/contacts/{ref}/score", response_model=Score)
def score(ref: RefPath, principal: AnyRole, db: DbDep, clock: ClockDep) -> Score:
    """The current score and grade, decayed to now, from the stored state."""
    stored = scoring.current_score(db, check_contact(db, principal, ref), now=clock.now())
    return _score(stored.contact_id, stored.score, explained=False)


@router.get("/contacts/{ref}/score/explain", response_model=Score)
def explain(ref: RefPath, principal: AnyRole, db: DbDep, clock: ClockDep) -> Score:
    """The score recomputed from the whole history, with every rule's points and evidence."""
    contact_id, computed = scoring.explain(db, check_contact(db, principal, ref), now=clock.now())
    return _score(contact_id, computed, explained=True)


def _score(contact_id: int, score: EngineScore, *, explained: bool) -> Score:
    contributions = [_contribution(c) for c in score.contributions] if explained else None
    return Score(
        contact_id=contact_id,
        fit=score.fit,
        engagement=score.engagement,
        total=score.total,
        grade=score.grade,
        thresholds=list(score.thresholds),
        at=score.at,
        model_version=score.model_version,
        groups=[
            Group(name=g.name, kind=str(g.kind), raw=g.raw, value=g.value) for g in score.groups
        ],
        contributions=contributions,
    )


def _contribution(c: Any) -> Contribution:
    return Contribution(
        rule=c.rule,
        group=c.group,
        kind=str(c.kind),
        points=c.points,
        occurrences=c.occurrences,
        raw=c.raw,
        value=c.value,
        evidence=list(c.evidence),
    )
