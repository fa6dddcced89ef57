"""Pure lifecycle decisions: whether a move is allowed, which rules move a contact, and the
criteria a capture's form answers fill.

The storage-aware side (:mod:`leadflow.lifecycle.service`) runs the same rules set-based, as
SQL; :func:`decide` is the reference it is tested against and what ``leadflow stage
explain`` uses, one contact at a time, with a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from leadflow.errors import ValidationError
from leadflow.lifecycle.config import Capture, LifecycleConfig, StageRule
from leadflow.rules import Snapshot, matches


class MoveNotAllowed(ValidationError):
    """A stage move the workspace's lifecycle does not allow."""

    code = "stage_move_not_allowed"


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    rule: str | None  # None: by hand
    backward: bool


def check_move(config: LifecycleConfig, source: str | None, target: str) -> Move:
    """A move by hand from ``source`` (None: the initial stage) to ``target``, or an error
    naming what is allowed instead."""
    current = source or config.initial
    if target not in config.all_stages:
        raise MoveNotAllowed(
            f"unknown stage {target!r}; stages: {', '.join(config.all_stages)}", field="stage"
        )
    if not config.allows(current, target):
        allowed = ", ".join(config.moves.get(current, ())) or "none"
        raise MoveNotAllowed(
            f"{current} -> {target} is not an allowed move (from {current}: {allowed})",
            field="stage",
        )
    return Move(current, target, None, config.is_backward(current, target))


def decide(
    config: LifecycleConfig,
    snapshot: Snapshot,
    *,
    now: datetime,
) -> list[Move]:
    """The moves the rules make for one contact, in order: the first rule (in file order)
    that holds for the contact's stage moves it, then the rules of the new stage are tried,
    and so on. A stage already visited in this pass ends it, so it always terminates."""
    current = snapshot.contact.get("stage") or config.initial
    entered = snapshot.contact.get("stage_entered_at")
    visited = {current}
    moves: list[Move] = []
    while True:
        rule = first_rule(config, current, entered, snapshot, now=now)
        if rule is None or rule.target in visited:
            return moves
        moves.append(
            Move(current, rule.target, rule.name, config.is_backward(current, rule.target))
        )
        visited.add(rule.target)
        current, entered = rule.target, now
        snapshot = replace(
            snapshot, contact={**snapshot.contact, "stage": current, "stage_entered_at": now}
        )


def first_rule(
    config: LifecycleConfig,
    stage: str,
    entered: datetime | None,
    snapshot: Snapshot,
    *,
    now: datetime,
) -> StageRule | None:
    for rule in config.rules_from.get(stage, ()):
        if rule_holds(rule, entered, snapshot, now=now):
            return rule
    return None


def rule_holds(
    rule: StageRule, entered: datetime | None, snapshot: Snapshot, *, now: datetime
) -> bool:
    if rule.min_stay is not None and (entered is None or now - entered < rule.min_stay):
        return False
    return rule.condition is None or matches(rule.condition, snapshot)


def captured_criteria(
    captures: tuple[Capture, ...], properties: Mapping[str, Any]
) -> dict[str, tuple[str, float]]:
    """The criteria a capture's properties fill: criterion -> (value, confidence). An answer
    the mapping does not list is kept as written (trimmed); an empty one fills nothing."""
    found: dict[str, tuple[str, float]] = {}
    for capture in captures:
        answer = properties.get(capture.field)
        if answer is None or isinstance(answer, bool | dict | list):
            continue
        text = str(answer).strip()
        if text:
            found[capture.criterion] = (capture.mapping.get(text, text), capture.confidence)
    return found


def check_criterion(config: LifecycleConfig, name: str, value: str) -> str:
    """The value to store for a criterion, or an error naming the criterion and the values
    it takes."""
    criterion = config.criterion(name)
    if criterion is None:
        known = ", ".join(c.name for c in config.criteria) or "none"
        raise ValidationError(f"unknown criterion {name!r}; criteria: {known}", field=name)
    text = value.strip()
    if not text:
        raise ValidationError("is empty", field=name)
    if criterion.values and text not in criterion.values:
        raise ValidationError(f"{text!r} is not one of {', '.join(criterion.values)}", field=name)
    return text
