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
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from leadflow.scoring.decay import RuleState
from leadflow.scoring.engine import ContactState, Contribution
from leadflow.scoring.model import GroupKind, ScoringModel

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class StoredState:
    fit: tuple[str, ...]  # the fit rules that hold, in model order
    engagement: ContactState


EMPTY_STATE = StoredState((), ContactState())


def to_micros(at: datetime) -> int:
    return (at - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + value * _MICRO


def dump_state(state: StoredState) -> dict[str, Any]:
    rules = {
        name: [
            s.value,
            to_micros(s.ref) if s.ref is not None else None,
            s.total,
            {str(day): n for day, n in s.days.items()},
        ]
        for name, s in state.engagement.rules.items()
    }
    return {"fit": list(state.fit), "rules": rules}


def load_state(data: Mapping[str, Any]) -> StoredState:
    rules = {
        name: RuleState(
            value=float(value),
            ref=from_micros(ref) if ref is not None else None,
            total=int(total),
            days=MappingProxyType({int(day): int(n) for day, n in days.items()}),
        )
        for name, (value, ref, total, days) in data.get("rules", {}).items()
    }
    return StoredState(tuple(data.get("fit", ())), ContactState(MappingProxyType(rules)))


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
