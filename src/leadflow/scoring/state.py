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

from leadflow.scoring.decay import RuleState, from_micros, to_micros
from leadflow.scoring.engine import ContactState, Contribution, Row, record_event, rules_for_type
from leadflow.scoring.model import GroupKind, ScoringModel


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

    Only the rules the events' types feed are turned into objects and back; the others,
    most of a long-engaged contact's state, stay as stored.
    """
    events = list(events)
    touched = {rule.name for e in events for rule in rules_for_type(model, e["type"])}
    partial = ContactState(
        MappingProxyType({n: rule_state(rules[n]) for n in touched if n in rules})
    )
    before = dict(partial.rules)
    for event in events:
        partial = record_event(model, partial, event)
    changed = False
    for name, state in partial.rules.items():
        if before.get(name) is not state:  # apply() hands back a capped state unchanged
            rules[name] = raw_rule(state)
            changed = True
    return changed


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
