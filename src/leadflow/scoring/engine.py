"""Scoring one contact, pure: from a full snapshot (the reference) or event by event.

:func:`score_contact` is the reference: it evaluates every rule against the contact's whole
history with :func:`leadflow.rules.evaluate` and sums each occurrence's faded points directly.
:func:`record_event` and :func:`read_score` are the incremental path: each event updates a
small per-rule state in O(1) (see :mod:`leadflow.scoring.decay`), and reading applies the
decay. The two are independent implementations of the same definition, and a property test
holds them equal to 1e-9.

Definitions both follow:
- only activities dated at or before ``now`` count;
- caps count occurrences in the order they were recorded (activity id), per UTC day of the
  activity (``per_day``) and in total;
- a group's sum of rule points is clamped into its ``[min, max]``; fit is the sum of the fit
  groups, engagement of the engagement groups, total the two together;
- the grade is the fit band's letter and the engagement band's digit, such as ``A2``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from leadflow.rules import EventCondition, Snapshot, Trace, evaluate
from leadflow.scoring.decay import (
    EMPTY,
    RuleState,
    apply,
    decay_factor,
    decay_micros,
    read,
    to_micros,
    utc_day,
)
from leadflow.scoring.model import EngagementRule, FitRule, GroupKind, ScoringModel

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Contribution:
    """What one rule adds: its points, how many occurrences scored, the decay applied, and
    the ids of the activities behind it (``capped``: matched, but beyond a cap)."""

    rule: str
    group: str
    kind: GroupKind
    points: float  # per occurrence (engagement) or once (fit)
    occurrences: int
    raw: float  # before decay
    value: float  # after decay
    evidence: tuple[int, ...] = ()
    capped: tuple[int, ...] = ()

    @property
    def decay(self) -> float:
        return self.raw - self.value


@dataclass(frozen=True)
class GroupScore:
    name: str
    kind: GroupKind
    raw: float  # the sum of its rules
    value: float  # after the group's min/max


@dataclass(frozen=True)
class Score:
    fit: float
    engagement: float
    total: float
    grade: str
    thresholds: tuple[str, ...]  # the thresholds the total reaches, lowest first
    groups: tuple[GroupScore, ...]
    contributions: tuple[Contribution, ...]
    at: datetime
    model_version: str


# -- the reference ------------------------------------------------------------------------


def score_contact(model: ScoringModel, snapshot: Snapshot, now: datetime) -> Score:
    """Every rule against the whole snapshot, as of ``now`` (``snapshot.now`` is ignored)."""
    snapshot = _at(snapshot, now)
    contributions = fit_contributions(model, snapshot)
    by_id = {row["id"]: row for row in snapshot.activities}
    for rule in model.engagement_rules:
        found = _engagement(model, rule, evaluate(rule.activity, snapshot).evidence, by_id, now)
        contributions += (found,) if found.occurrences or found.capped else ()
    return assemble(model, contributions, now)


def fit_contributions(model: ScoringModel, snapshot: Snapshot) -> tuple[Contribution, ...]:
    """The fit rules that hold for the snapshot; both paths share them, since fit is about
    who the contact is, not about a stream of events."""
    found = []
    for rule in model.fit_rules:
        trace = evaluate(rule.condition, snapshot)
        if trace.matched:
            found.append(_fit(rule, trace))
    return tuple(found)


def _fit(rule: FitRule, trace: Trace) -> Contribution:
    return Contribution(
        rule=rule.name,
        group=rule.group,
        kind=GroupKind.FIT,
        points=rule.points,
        occurrences=1,
        raw=rule.points,
        value=rule.points,
        evidence=tuple(sorted(set(_evidence(trace)))),
    )


def _evidence(trace: Trace) -> Iterable[int]:
    if isinstance(trace.condition, EventCondition) and trace.matched:
        yield from trace.evidence
    for child in trace.children:
        yield from _evidence(child)


def _engagement(
    model: ScoringModel,
    rule: EngagementRule,
    matched: Iterable[int],
    by_id: Mapping[int, Row],
    now: datetime,
) -> Contribution:
    half_life = model.group(rule.group).half_life
    scored: list[int] = []
    capped: list[int] = []
    per_day: Counter[int] = Counter()
    for activity_id in sorted(i for i in matched if by_id[i]["occurred_at"] <= now):
        day = utc_day(by_id[activity_id]["occurred_at"])
        full = (rule.cap.total is not None and len(scored) >= rule.cap.total) or (
            rule.cap.per_day is not None and per_day[day] >= rule.cap.per_day
        )
        if full:
            capped.append(activity_id)
        else:
            scored.append(activity_id)
            per_day[day] += 1
    value = sum(
        rule.points * decay_factor(now - by_id[i]["occurred_at"], half_life) for i in scored
    )
    return Contribution(
        rule=rule.name,
        group=rule.group,
        kind=GroupKind.ENGAGEMENT,
        points=rule.points,
        occurrences=len(scored),
        raw=rule.points * len(scored),
        value=value,
        evidence=tuple(scored),
        capped=tuple(capped),
    )


def assemble(model: ScoringModel, contributions: tuple[Contribution, ...], now: datetime) -> Score:
    """Group sums, caps, the total and the grade from the rules' contributions."""
    groups = []
    for group in model.groups:
        raw = sum(c.value for c in contributions if c.group == group.name)
        groups.append(GroupScore(group.name, group.kind, raw, group.clamp(raw)))
    fit = sum(g.value for g in groups if g.kind is GroupKind.FIT)
    engagement = sum(g.value for g in groups if g.kind is GroupKind.ENGAGEMENT)
    total = fit + engagement
    return Score(
        fit=fit,
        engagement=engagement,
        total=total,
        grade=model.fit_bands.grade(fit) + model.engagement_bands.grade(engagement),
        thresholds=tuple(name for name, minimum in model.thresholds if total >= minimum),
        groups=tuple(groups),
        contributions=contributions,
        at=now,
        model_version=model.version,
    )


# -- the incremental path -----------------------------------------------------------------


@dataclass(frozen=True)
class ContactState:
    """A contact's engagement state: one :class:`RuleState` per rule that has scored."""

    rules: Mapping[str, RuleState] = field(default_factory=lambda: MappingProxyType({}))


def record_event(model: ScoringModel, state: ContactState, event: Row) -> ContactState:
    """Fold one recorded activity into the state: O(1) in the contact's history. Events must
    come in the order they were recorded (their ids), as the activity log hands them over."""
    changed = dict(state.rules)
    for rule in rules_for_type(model, event["type"]):
        # The type already matched; a rule without a where: filter needs nothing more.
        if rule.activity.where is not None and not event_matches(rule, event):
            continue
        half_life = model.group(rule.group).half_life
        before = changed.get(rule.name, EMPTY)
        changed[rule.name] = apply(before, event["occurred_at"], rule.points, rule.cap, half_life)
    return ContactState(MappingProxyType(changed))


def read_score(
    model: ScoringModel, state: ContactState, fit: tuple[Contribution, ...], now: datetime
) -> Score:
    """The score as of ``now`` (at or after the latest event) from the incremental state."""
    contributions = list(fit)
    for rule in model.engagement_rules:
        rule_state = state.rules.get(rule.name)
        if rule_state is None or rule_state.total == 0:
            continue
        half_life = model.group(rule.group).half_life
        contributions.append(
            Contribution(
                rule=rule.name,
                group=rule.group,
                kind=GroupKind.ENGAGEMENT,
                points=rule.points,
                occurrences=rule_state.total,
                raw=rule.points * rule_state.total,
                value=read(rule_state, now, half_life),
            )
        )
    return assemble(model, tuple(contributions), now)


class Totals(NamedTuple):
    fit: float
    engagement: float
    total: float
    grade: str


def totals(
    model: ScoringModel,
    fit_rules: Iterable[str],
    sums: Iterable[tuple[str, float, int]],
    at: int,
) -> Totals:
    """What :func:`read_score` sums, without its per-rule detail: the hot path's read.

    ``sums`` holds each engagement rule that scored as (name, decayed sum at its reference,
    the reference), times in microseconds since the epoch (``at`` too): the stored state's
    own form, so that the hot path builds no objects to read it.
    """
    by_group = [0.0] * len(model.groups)
    fit_slots = model.fit_slots
    for name in fit_rules:
        slot = fit_slots.get(name)
        if slot is not None:
            by_group[slot[0]] += slot[1]
    engagement_slots = model.engagement_slots
    for name, value, ref in sums:
        found = engagement_slots.get(name)
        if found is not None:
            by_group[found[0]] += value * decay_micros(at - ref, found[1])
    fit = engagement = 0.0
    for group, value in zip(model.groups, by_group, strict=True):
        if group.kind is GroupKind.FIT:
            fit += group.clamp(value)
        else:
            engagement += group.clamp(value)
    grade = model.fit_bands.grade(fit) + model.engagement_bands.grade(engagement)
    return Totals(fit, engagement, fit + engagement, grade)


def state_sums(state: ContactState) -> list[tuple[str, float, int]]:
    """The (rule, sum, reference) triples :func:`totals` reads, from a state's objects."""
    return [
        (name, s.value, to_micros(s.ref))
        for name, s in state.rules.items()
        if s.total and s.ref is not None
    ]


def score_stream(
    model: ScoringModel, snapshot: Snapshot, events: Iterable[Row], now: datetime
) -> Score:
    """Replay ``events`` one by one, then read as of ``now``: what the hot path will keep."""
    state = ContactState()
    for event in events:
        state = record_event(model, state, event)
    return read_score(model, state, fit_contributions(model, _at(snapshot, now)), now)


def _at(snapshot: Snapshot, now: datetime) -> Snapshot:
    return Snapshot(snapshot.contact, now, snapshot.account, snapshot.touches, snapshot.activities)


def event_matches(rule: EngagementRule, event: Row) -> bool:
    # An engagement rule has no window and no count, so one event decides on its own.
    lone = Snapshot(contact={}, now=event["occurred_at"], activities=(event,))
    return evaluate(rule.activity, lone).matched


def rules_for_type(model: ScoringModel, activity_type: str) -> tuple[EngagementRule, ...]:
    """The engagement rules an activity of this type may feed (every rule names its types)."""
    return model.rules_by_type.get(activity_type, ())
