"""Reading ``lifecycle.yaml``: the stages, the moves allowed between them, the qualification
criteria and how forms fill them, and the rules that move contacts automatically.

```yaml
stages: [subscriber, lead, mql, sql, prospect, opportunity, customer, advocate]  # in order
side_stages: [disqualified, recycled, lost]
initial: subscriber          # where a new contact starts
handoff: prospect            # entering it routes the contact to a salesperson (routing.yaml)
manual_hold: 30d             # no rule moves a contact back where a person moved it from
moves:                       # every move allowed, by hand or by rule
  subscriber: [lead, disqualified]
  mql: [sql, lead, recycled, disqualified]     # mql -> lead: a backward move, allowed here
criteria:                    # the qualification record: BANT, ICP fit and your own
  budget: {values: [none, under_10k, 10k_50k, over_50k]}
  need: {}                   # no values: free text
capture:                     # form fields (contact properties) that fill criteria
  budget: {field: budget, confidence: 0.6}
  timing: {field: timeline, map: {"0-3 months": this_quarter}}
rules:                       # automatic moves, tried in order on each event and after rescoring
  - name: mql
    from: [lead, recycled]
    to: mql
    when: {all: [{score.fit_grade: {in: [A, B]}}, {score.total: {gte: 60}}]}
  - name: back_to_lead
    from: [mql]
    to: lead
    when: {score.total: {lt: 40}}
    min_stay: 14d            # hysteresis: not before 14 days in mql
```

A set of automatic rules that could move a contact round in a circle on the same data (mql
-> lead -> mql) is refused unless one rule of the circle has ``min_stay``. Problems are
collected and raised together, each naming ``lifecycle.yaml:LINE``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field
from datetime import timedelta
from enum import StrEnum
from functools import cached_property, partial

from leadflow.errors import ConfigError, ConfigProblems, LocatedConfigError
from leadflow.rules import (
    AllOf,
    AnyOf,
    Condition,
    EventCondition,
    Node,
    Not,
    Scope,
    from_yaml,
    parse_node,
    predicates,
)
from leadflow.rules.errors import did_you_mean
from leadflow.rules.source import Entry, collect, mapping_entries
from leadflow.rules.times import TimeSyntaxError, parse_duration

LIFECYCLE_FILE = "lifecycle.yaml"
TOP_KEYS = (
    *("stages", "side_stages", "initial", "handoff", "moves", "criteria", "capture", "rules"),
    "manual_hold",
)
DEFAULT_MANUAL_HOLD = timedelta(days=30)
RULE_KEYS = ("name", "from", "to", "when", "min_stay")
CRITERION_KEYS = ("values",)
CAPTURE_KEYS = ("field", "map", "confidence")
NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


class LifecycleProblem(StrEnum):
    SHAPE = "lifecycle_shape"
    UNKNOWN_KEY = "lifecycle_unknown_key"
    MISSING = "lifecycle_missing"
    BAD_VALUE = "lifecycle_bad_value"
    UNKNOWN_STAGE = "lifecycle_unknown_stage"
    MOVE_NOT_ALLOWED = "lifecycle_move_not_allowed"
    DUPLICATE = "lifecycle_duplicate"
    CONFLICT = "lifecycle_conflicting_rules"
    UNKNOWN_CRITERION = "lifecycle_unknown_criterion"


P = LifecycleProblem


class LifecycleError(LocatedConfigError):
    def __init__(self, problem: LifecycleProblem, where: str, message: str) -> None:
        super().__init__(problem.value, where, message)


class LifecycleConfigError(ConfigProblems):
    """Every problem found in one lifecycle file."""

    code = "lifecycle_invalid"


@dataclass(frozen=True)
class Criterion:
    name: str
    values: tuple[str, ...] = ()  # empty: any text


@dataclass(frozen=True)
class Capture:
    """A form field (a contact property) that fills a criterion."""

    criterion: str
    field: str
    mapping: Mapping[str, str] = _field(default_factory=dict)  # answer -> criterion value
    confidence: float = 0.6


@dataclass(frozen=True)
class StageRule:
    name: str
    sources: tuple[str, ...]  # the stages it moves contacts from
    target: str
    condition: Condition | None
    min_stay: timedelta | None = None  # time in the current stage before it may fire
    at: str = _field(default="", compare=False)

    @cached_property
    def reads(self) -> Reads:
        """What the condition looks at, so that an event batch runs the rule only for the
        contacts whose data it reads changed."""
        return reads(self.condition)


@dataclass(frozen=True)
class Reads:
    activity_types: frozenset[str] | None  # None: no activity; empty: any type
    other: bool  # the contact, its account, touches, score or qualification


def reads(condition: Condition | None) -> Reads:
    if condition is None:
        return Reads(None, False)
    if isinstance(condition, AllOf | AnyOf):
        parts = [reads(item) for item in condition.items]
    elif isinstance(condition, Not):
        parts = [reads(condition.item)]
    elif isinstance(condition, EventCondition) and condition.source is Scope.ACTIVITY:
        return Reads(frozenset(condition.types), False)
    else:
        return Reads(None, True)
    types = [p.activity_types for p in parts if p.activity_types is not None]
    merged = (
        None
        if not types
        else frozenset()
        if any(not t for t in types)
        else frozenset().union(*types)
    )
    return Reads(merged, any(p.other for p in parts))


@dataclass(frozen=True)
class LifecycleConfig:
    stages: tuple[str, ...]  # the main path, in order
    side_stages: tuple[str, ...]
    initial: str
    moves: Mapping[str, tuple[str, ...]]
    criteria: tuple[Criterion, ...]
    captures: tuple[Capture, ...]
    rules: tuple[StageRule, ...]
    version: str
    handoff: str | None = None  # the stage whose contacts are routed to sales
    # For this long after a move by hand, no rule moves the contact back to the stage it
    # was moved out of: a person's judgement is not undone by the data they overruled.
    manual_hold: timedelta = DEFAULT_MANUAL_HOLD

    @property
    def all_stages(self) -> tuple[str, ...]:
        return (*self.stages, *self.side_stages)

    def allows(self, source: str, target: str) -> bool:
        return target in self.moves.get(source, ())

    def is_backward(self, source: str, target: str) -> bool:
        """A move to an earlier stage of the main path."""
        order = self._order
        return source in order and target in order and order[target] < order[source]

    @cached_property
    def _order(self) -> Mapping[str, int]:
        return {s: i for i, s in enumerate(self.stages)}

    def criterion(self, name: str) -> Criterion | None:
        return self._criteria.get(name)

    @cached_property
    def _criteria(self) -> Mapping[str, Criterion]:
        return {c.name: c for c in self.criteria}

    @cached_property
    def rules_from(self) -> Mapping[str, tuple[StageRule, ...]]:
        """The automatic rules that may move a contact out of each stage, in file order."""
        found: dict[str, list[StageRule]] = {}
        for rule in self.rules:
            for source in rule.sources:
                found.setdefault(source, []).append(rule)
        return {k: tuple(v) for k, v in found.items()}


def parse_lifecycle(source: str, *, filename: str = LIFECYCLE_FILE) -> LifecycleConfig:
    """Read a lifecycle file; every problem raises together as a LifecycleConfigError."""
    problems: list[ConfigError] = []
    root = from_yaml(source, filename)
    parts = _entries(root, TOP_KEYS, "the lifecycle file", required=("stages", "initial", "moves"))
    stages = collect(problems, lambda: _names(parts["stages"].value, "stages")) or ()
    sides = collect(problems, lambda: _side_stages(parts.get("side_stages"))) or ()
    known = (*stages, *sides)
    collect(problems, lambda: _no_repeats(parts["stages"].value, known))
    initial = collect(problems, lambda: _stage(parts["initial"].value, known)) or ""
    handoff = collect(problems, lambda: _handoff(parts.get("handoff"), known))
    hold = collect(problems, lambda: _hold(parts.get("manual_hold")))
    moves = _moves(parts["moves"].value, known, problems)
    criteria = collect(problems, lambda: _criteria(parts.get("criteria"))) or ()
    captures = collect(problems, lambda: _captures(parts.get("capture"), criteria)) or ()
    rules = _rules(parts.get("rules"), known, moves, problems)
    _known_criteria(rules, criteria, problems)
    collect(problems, lambda: _no_flip_flops(rules))
    if problems:
        raise LifecycleConfigError(tuple(problems))
    return LifecycleConfig(
        stages=stages,
        side_stages=sides,
        initial=initial,
        moves=moves,
        criteria=criteria,
        captures=captures,
        rules=rules,
        version=hashlib.sha256(source.encode("utf-8")).hexdigest()[:12],
        handoff=handoff,
        manual_hold=hold if hold is not None else DEFAULT_MANUAL_HOLD,
    )


def _entries(
    node: Node, allowed: tuple[str, ...], what: str, *, required: tuple[str, ...] = ()
) -> dict[str, Entry]:
    """The keys of a mapping node, refusing unknown ones and requiring ``required``."""
    return mapping_entries(node, allowed, what, _shape_error, required=required)


def _shape_error(kind: str, where: str, message: str) -> LifecycleError:
    problem = {"shape": P.SHAPE, "unknown_key": P.UNKNOWN_KEY, "missing": P.MISSING}
    return LifecycleError(problem[kind], where, message)


def _scalar(node: Node, what: str) -> str:
    if node.kind != "scalar" or not isinstance(node.value, str) or not node.value:
        raise LifecycleError(P.SHAPE, node.at, f"{what}: expected a name, got {node.value!r}")
    return node.value


def _name(node: Node, what: str) -> str:
    value = _scalar(node, what)
    if not NAME.fullmatch(value):
        raise LifecycleError(
            P.BAD_VALUE, node.at, f"{what} {value!r}: use lowercase letters, digits and _"
        )
    return value


def _names(node: Node, what: str) -> tuple[str, ...]:
    items = node.items if node.kind == "list" else (node,)
    if node.kind == "list" and not items:
        raise LifecycleError(P.SHAPE, node.at, f"{what}: the list is empty")
    return tuple(_name(item, what) for item in items)


def _side_stages(entry: Entry | None) -> tuple[str, ...]:
    return _names(entry.value, "side_stages") if entry is not None else ()


def _no_repeats(node: Node, known: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for name in known:
        if name in seen:
            raise LifecycleError(P.DUPLICATE, node.at, f"stage {name!r} is listed twice")
        seen.add(name)


def _stage(node: Node, known: tuple[str, ...]) -> str:
    name = _scalar(node, "stage")
    if name not in known:
        hint = did_you_mean(name, known)
        raise LifecycleError(
            P.UNKNOWN_STAGE, node.at, f"unknown stage {name!r}{hint}; stages: {', '.join(known)}"
        )
    return name


def _hold(entry: Entry | None) -> timedelta:
    if entry is None:
        return DEFAULT_MANUAL_HOLD
    try:
        return parse_duration(entry.value.value)
    except TimeSyntaxError as exc:
        raise LifecycleError(P.BAD_VALUE, entry.at, f"manual_hold: {exc}") from None


def _handoff(entry: Entry | None, known: tuple[str, ...]) -> str | None:
    """The hand-off stage: as written, or ``prospect`` when the file has one."""
    if entry is not None:
        return _stage(entry.value, known)
    return "prospect" if "prospect" in known else None


def _stages(node: Node, known: tuple[str, ...]) -> tuple[str, ...]:
    items = node.items if node.kind == "list" else (node,)
    return tuple(_stage(item, known) for item in items)


def _moves(
    node: Node, known: tuple[str, ...], problems: list[ConfigError]
) -> dict[str, tuple[str, ...]]:
    """The moves that read well (so that one bad stage does not make every rule's move
    look disallowed); the problems go to ``problems``."""
    if node.kind != "mapping":
        problems.append(
            LifecycleError(P.SHAPE, node.at, "moves: map each stage to the stages it may go to")
        )
        return {}
    moves: dict[str, tuple[str, ...]] = {}
    for entry in node.entries:
        key = Node(entry.key, entry.at, "scalar")
        source = collect(problems, partial(_stage, key, known))
        targets = collect(problems, partial(_stages, entry.value, known))
        if source is not None and targets is not None:
            if source in targets:
                problems.append(
                    LifecycleError(P.BAD_VALUE, entry.at, f"{source!r} cannot move to itself")
                )
            moves[source] = targets
    return moves


def _criteria(entry: Entry | None) -> tuple[Criterion, ...]:
    if entry is None:
        return ()
    if entry.value.kind != "mapping":
        raise LifecycleError(P.SHAPE, entry.at, "criteria: map each criterion to its settings")
    found = []
    for item in entry.value.entries:
        name = _name(Node(item.key, item.at, "scalar"), "criterion")
        values: tuple[str, ...] = ()
        if item.value.kind == "mapping":
            parts = _entries(item.value, CRITERION_KEYS, f"criterion {name!r}")
            if "values" in parts:
                values = tuple(_scalar(v, "value") for v in parts["values"].value.items)
        elif item.value.value is not None:
            raise LifecycleError(P.SHAPE, item.at, f"criterion {name!r}: expected a mapping")
        found.append(Criterion(name, values))
    return tuple(found)


def _captures(entry: Entry | None, criteria: tuple[Criterion, ...]) -> tuple[Capture, ...]:
    if entry is None:
        return ()
    if entry.value.kind != "mapping":
        raise LifecycleError(P.SHAPE, entry.at, "capture: map criteria to form fields")
    names = [c.name for c in criteria]
    found = []
    for item in entry.value.entries:
        if item.key not in names:
            raise LifecycleError(
                P.UNKNOWN_CRITERION,
                item.at,
                f"unknown criterion {item.key!r}{did_you_mean(item.key, names)}",
            )
        parts = _entries(item.value, CAPTURE_KEYS, f"capture of {item.key!r}", required=("field",))
        mapping = {}
        if "map" in parts and parts["map"].value.kind == "mapping":
            mapping = {e.key: _scalar(e.value, "value") for e in parts["map"].value.entries}
        found.append(
            Capture(
                criterion=item.key,
                field=_scalar(parts["field"].value, "field"),
                mapping=mapping,
                confidence=_confidence(parts.get("confidence")),
            )
        )
    return tuple(found)


def _confidence(entry: Entry | None) -> float:
    if entry is None:
        return 0.6
    value = entry.value.value
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise LifecycleError(P.BAD_VALUE, entry.at, f"confidence {value!r}: use a number in (0, 1]")
    return float(value)


def _rules(
    entry: Entry | None,
    known: tuple[str, ...],
    moves: Mapping[str, tuple[str, ...]],
    problems: list[ConfigError],
) -> tuple[StageRule, ...]:
    if entry is None:
        return ()
    if entry.value.kind != "list":
        problems.append(LifecycleError(P.SHAPE, entry.at, "rules: expected a list of rules"))
        return ()
    rules: list[StageRule] = []
    for node in entry.value.items:
        rule = collect(problems, partial(_rule, node, known, moves))
        if rule is None:
            continue
        if any(r.name == rule.name for r in rules):
            problems.append(
                LifecycleError(P.DUPLICATE, rule.at, f"rule {rule.name!r} is defined twice")
            )
            continue
        rules.append(rule)
    return tuple(rules)


def _rule(node: Node, known: tuple[str, ...], moves: Mapping[str, tuple[str, ...]]) -> StageRule:
    parts = _entries(node, RULE_KEYS, "a rule", required=("name", "from", "to"))
    name = _name(parts["name"].value, "rule")
    sources = _stages(parts["from"].value, known)
    target = _stage(parts["to"].value, known)
    for source in sources:
        if target not in moves.get(source, ()):
            raise LifecycleError(
                P.MOVE_NOT_ALLOWED,
                parts["to"].at,
                f"rule {name!r}: {source} -> {target} is not an allowed move (see moves:)",
            )
    return StageRule(
        name=name,
        sources=sources,
        target=target,
        condition=_condition(parts["when"]) if "when" in parts else None,
        min_stay=_duration(parts["min_stay"]) if "min_stay" in parts else None,
        at=node.at,
    )


def _condition(entry: Entry) -> Condition:
    # A ConditionError already names file:line; _collect keeps it as it is.
    return parse_node(entry.value)


def _duration(entry: Entry) -> timedelta:
    try:
        return parse_duration(entry.value.value)
    except TimeSyntaxError as exc:
        raise LifecycleError(P.BAD_VALUE, entry.at, f"min_stay: {exc}") from None


def _known_criteria(
    rules: tuple[StageRule, ...], criteria: tuple[Criterion, ...], problems: list[ConfigError]
) -> None:
    """A rule that tests a criterion the file does not define could never hold."""
    names = [c.name for c in criteria]
    for rule in rules:
        for predicate in predicates(rule.condition):
            field = predicate.field
            if field.scope is Scope.QUALIFICATION and field.column not in names:
                hint = did_you_mean(field.column, names)
                problems.append(
                    LifecycleError(
                        P.UNKNOWN_CRITERION,
                        predicate.at or rule.at,
                        f"rule {rule.name!r}: unknown criterion {field.column!r}{hint}; "
                        f"criteria: {', '.join(names) or 'none'}",
                    )
                )


def _no_flip_flops(rules: tuple[StageRule, ...]) -> None:
    """Refuse automatic rules that could move a contact round a circle at once: the moves
    of rules without ``min_stay`` must not form a cycle."""
    edges: dict[str, list[StageRule]] = {}
    for rule in rules:
        if rule.min_stay is None:
            for source in rule.sources:
                edges.setdefault(source, []).append(rule)
    for start in edges:
        cycle = _cycle_from(start, edges)
        if cycle:
            names = " -> ".join(f"{r.target} ({r.name})" for r in cycle)
            raise LifecycleError(
                P.CONFLICT,
                cycle[-1].at,
                f"conflicting rules: {start} -> {names} can move a contact back and forth on "
                "the same data; give one of them min_stay:",
            )


def _cycle_from(start: str, edges: Mapping[str, list[StageRule]]) -> list[StageRule]:
    """A path of rules from ``start`` back to it, if there is one (depth-first)."""
    stack: list[tuple[str, list[StageRule]]] = [(start, [])]
    seen: set[str] = set()
    while stack:
        stage, path = stack.pop()
        for rule in edges.get(stage, ()):
            if rule.target == start:
                return [*path, rule]
            if rule.target not in seen:
                seen.add(rule.target)
                stack.append((rule.target, [*path, rule]))
    return []
