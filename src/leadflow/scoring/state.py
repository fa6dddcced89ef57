"""A contact's stored score state as JSON, and back: pure and exact.

``{"fit": [rule, ...], "rules": {rule: [value, ref, total, {day: count}]}}``: the fit rules
that held when fit was last computed, and each engagement rule's running sum
(:class:`~leadflow.scoring.decay.RuleState`), its reference time in microseconds since the
Unix epoch (an integer, so a round trip loses nothing), and the per-day counts only for
rules with a per-day cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from leadflow.scoring.decay import (
    DAY_MICROS,
    EPOCH_ORDINAL,
    RuleState,
    decay_micros,
    from_micros,
    to_micros,
)
from leadflow.scoring.engine import (
    ContactState,
    Contribution,
    Row,
    event_matches,
    rules_for_type,
)
from leadflow.scoring.model import Cap, GroupKind, ScoringModel


@dataclass(frozen=True)
class StoredState:
    fit: tuple[str, ...]  # the fit rules that hold, in model order
    engagement: ContactState


EMPTY_STATE = StoredState((), ContactState())


RawRule = list[Any]  # [value, ref (epoch micros) or None, total, {"day": count}]


def dump_state(state: StoredState) -> dict[str, Any]:
    rules = {name: raw_rule(s) for name, s in state.engagement.rules.items()}
    return {"fit": list(state.fit), "rules": rules}


def load_state(data: Mapping[str, Any]) -> StoredState:
    rules = {name: rule_state(raw) for name, raw in data.get("rules", {}).items()}
    return StoredState(tuple(data.get("fit", ())), ContactState(MappingProxyType(rules)))


def raw_rule(state: RuleState) -> RawRule:
    ref = to_micros(state.ref) if state.ref is not None else None
    return [state.value, ref, state.total, {str(day): n for day, n in state.days.items()}]


def rule_state(raw: RawRule) -> RuleState:
    value, ref, total, days = raw
    return RuleState(
        value=float(value),
        ref=from_micros(ref) if ref is not None else None,
        total=int(total),
        days=MappingProxyType({int(day): int(n) for day, n in days.items()}),
    )


def raw_sums(rules: Mapping[str, RawRule]) -> list[tuple[str, float, int]]:
    """What :func:`~leadflow.scoring.engine.totals` reads, straight from the stored form."""
    return [(name, raw[0], raw[1]) for name, raw in rules.items() if raw[2] and raw[1] is not None]


def fold_events(model: ScoringModel, rules: dict[str, RawRule], events: Iterable[Row]) -> bool:
    """Fold recorded events (in id order) into a stored state's rules, in place; whether
    any rule's state changed.

    The arithmetic of :func:`~leadflow.scoring.decay.apply` done on the stored form itself
    (times as epoch microseconds, day counts keyed by the day's ordinal as text): the hot path
    folds about 700 contacts a batch, and turning each touched rule into a
    :class:`~leadflow.scoring.decay.RuleState` and back cost more than the folding. A property
    test holds the two to the same stored state, exactly.
    """
    slots = model.engagement_slots
    changed = False
    for event in events:
        feeds = rules_for_type(model, event["type"])
        if not feeds:
            continue
        at = to_micros(event["occurred_at"])
        day = str(EPOCH_ORDINAL + at // DAY_MICROS)
        for rule in feeds:
            if rule.activity.where is not None and not event_matches(rule, event):
                continue
            raw = rules.get(rule.name) or [0.0, None, 0, {}]
            if _fold(raw, at, day, rule.points, rule.cap, slots[rule.name][1]):
                rules[rule.name] = raw
                changed = True
    return changed


def _fold(raw: RawRule, at: int, day: str, points: float, cap: Cap, half_life: int | None) -> bool:
    """One occurrence into one rule's stored state, in place; False when a cap is full."""
    value, ref, total, days = raw
    if cap.total is not None and total >= cap.total:
        return False
    if cap.per_day is not None:
        if days.get(day, 0) >= cap.per_day:
            return False
        days[day] = days.get(day, 0) + 1
    if ref is None:
        raw[0], raw[1] = points, at
    elif at >= ref:  # the reference moves forward: fade what was there, add the points whole
        raw[0], raw[1] = value * decay_micros(at - ref, half_life) + points, at
    else:  # a late event: its points fade to the reference instead
        raw[0] = value + points * decay_micros(ref - at, half_life)
    raw[2] = total + 1
    return True


def fit_from_names(model: ScoringModel, names: Iterable[str]) -> tuple[Contribution, ...]:
    """The fit contributions of the named rules under ``model`` (unknown names are dropped:
    a rule removed from the model no longer counts)."""
    wanted = set(names)
    return tuple(
        Contribution(
            rule=rule.name,
            group=rule.group,
            kind=GroupKind.FIT,
            points=rule.points,
            occurrences=1,
            raw=rule.points,
            value=rule.points,
        )
        for rule in model.fit_rules
        if rule.name in wanted
    )
