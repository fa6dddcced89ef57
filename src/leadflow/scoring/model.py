"""The scoring model: what a workspace's ``scoring.yaml`` says, as frozen values.

A model has rule *groups* and *rules*. A fit group holds fit rules (a condition on who the
contact is, worth its points once while it holds); an engagement group holds engagement rules
(an activity filter, worth its points per occurrence, with optional caps per day and in
total). Each group has a decay (a half-life, or none) and optional caps on its sum. Negative
rules are rules with negative points. Grade bands turn fit points into a letter (A best) and
engagement points into a digit (1 best); thresholds name totals worth noticing.

``leadflow.scoring.parse`` reads the file; ``docs/scoring.md`` describes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType

from leadflow.errors import ConfigProblems, LocatedConfigError
from leadflow.rules import Condition, EventCondition

FIT_LETTERS = ("A", "B", "C", "D")
ENGAGEMENT_DIGITS = ("1", "2", "3", "4")


class GroupKind(StrEnum):
    FIT = "fit"
    ENGAGEMENT = "engagement"


class ScoringProblem(StrEnum):
    """What is wrong in a scoring file; the value is the stable ``code``."""

    SHAPE = "scoring_shape"  # a list where a mapping belongs, a wrong type
    UNKNOWN_KEY = "scoring_unknown_key"
    MISSING = "scoring_missing"  # a required key is absent (a rule without points...)
    BAD_VALUE = "scoring_bad_value"
    BAD_HALF_LIFE = "scoring_bad_half_life"
    DUPLICATE_RULE = "scoring_duplicate_rule"
    UNKNOWN_GROUP = "scoring_unknown_group"
    BANDS_ORDER = "scoring_bands_order"


class ScoringError(LocatedConfigError):
    """One problem in a scoring file, located ``file:line``."""

    def __init__(self, problem: ScoringProblem, where: str, message: str) -> None:
        super().__init__(problem.value, where, message)


class ScoringModelError(ConfigProblems):
    """Every problem found in one scoring file (the loader reads on after the first)."""

    code = "scoring_invalid"


@dataclass(frozen=True)
class Group:
    name: str
    kind: GroupKind
    half_life: timedelta | None = None  # None: points never fade
    max: float | None = None  # the group's sum is clamped into [min, max]
    min: float | None = None

    def clamp(self, value: float) -> float:
        if self.max is not None and value > self.max:
            return self.max
        if self.min is not None and value < self.min:
            return self.min
        return value


@dataclass(frozen=True)
class Cap:
    """How many occurrences of an engagement rule score: per UTC day and in total, counted in
    the order the activities were recorded (their ids)."""

    per_day: int | None = None
    total: int | None = None


NO_CAP = Cap()


@dataclass(frozen=True)
class FitRule:
    name: str
    group: str
    condition: Condition
    points: float
    at: str = _field(default="", compare=False)


@dataclass(frozen=True)
class EngagementRule:
    name: str
    group: str
    activity: EventCondition  # types and a where: filter; no window, no count
    points: float
    cap: Cap = NO_CAP
    at: str = _field(default="", compare=False)


Rule = FitRule | EngagementRule


@dataclass(frozen=True)
class Bands:
    """Minimum points for each grade but the last, best first; below them all: the last."""

    labels: tuple[str, ...]
    minimums: tuple[float, ...]  # one fewer than labels, strictly decreasing

    def grade(self, points: float) -> str:
        for label, minimum in zip(self.labels, self.minimums, strict=False):
            if points >= minimum:
                return label
        return self.labels[-1]


@dataclass(frozen=True)
class ScoringModel:
    groups: tuple[Group, ...]
    rules: tuple[Rule, ...]
    fit_bands: Bands
    engagement_bands: Bands
    thresholds: tuple[tuple[str, float], ...] = ()  # (name, minimum total), lowest first
    version: str = ""  # a hash of the file's text

    # The lookups below run for every event scored; each is worked out once per model.
    # (A model is frozen, so caching on the instance is safe; hashing the model instead, as
    # an lru_cache would, costs more than the work it saves.)

    def group(self, name: str) -> Group:
        return self._groups_by_name[name]

    @cached_property
    def _groups_by_name(self) -> Mapping[str, Group]:
        return MappingProxyType({g.name: g for g in self.groups})

    @cached_property
    def fit_rules(self) -> tuple[FitRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, FitRule))

    @cached_property
    def engagement_rules(self) -> tuple[EngagementRule, ...]:
        return tuple(r for r in self.rules if isinstance(r, EngagementRule))

    def engagement_rule(self, name: str) -> EngagementRule | None:
        return self._engagement_by_name.get(name)

    @cached_property
    def _engagement_by_name(self) -> Mapping[str, EngagementRule]:
        return MappingProxyType({r.name: r for r in self.engagement_rules})

    @cached_property
    def fit_slots(self) -> Mapping[str, tuple[int, float]]:
        """Each fit rule's group (its index in ``groups``) and points."""
        index = {g.name: i for i, g in enumerate(self.groups)}
        return MappingProxyType({r.name: (index[r.group], r.points) for r in self.fit_rules})

    @cached_property
    def engagement_slots(self) -> Mapping[str, tuple[int, int | None]]:
        """Each engagement rule's group (its index in ``groups``) and half-life in
        microseconds (None: no decay)."""
        index = {g.name: i for i, g in enumerate(self.groups)}
        slots = {}
        for rule in self.engagement_rules:
            half_life = self.group(rule.group).half_life
            micros = None if half_life is None else half_life // timedelta(microseconds=1)
            slots[rule.name] = (index[rule.group], micros)
        return MappingProxyType(slots)

    @cached_property
    def rules_by_type(self) -> Mapping[str, tuple[EngagementRule, ...]]:
        """The engagement rules an activity of each type may feed (every rule names types)."""
        index: dict[str, list[EngagementRule]] = {}
        for rule in self.engagement_rules:
            for activity_type in rule.activity.types:
                index.setdefault(activity_type, []).append(rule)
        return MappingProxyType({k: tuple(v) for k, v in index.items()})


def content_version(text: str) -> str:
    """The model's version: the same text always gives the same version, any edit a new one."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
