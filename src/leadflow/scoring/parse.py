"""Reading ``scoring.yaml`` into a :class:`ScoringModel`, with every problem located.

The file is composed once with :func:`leadflow.rules.from_yaml` so that every node keeps its
line; conditions go through :func:`leadflow.rules.parse_node`, so a rule's condition means
exactly what it means in a segment or a qualification criterion. Rules are read one by one
and their problems collected, so that ``leadflow config check`` can list them all at once.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import partial
from pathlib import Path

from leadflow.errors import ConfigError
from leadflow.rules import (
    EventCondition,
    Node,
    Scope,
    from_yaml,
    parse_node,
    predicates,
)
from leadflow.rules.errors import ConditionError, did_you_mean
from leadflow.rules.operands import number, text, whole_number
from leadflow.rules.source import Entry, collect, mapping_entries
from leadflow.rules.times import TimeSyntaxError, parse_duration
from leadflow.scoring.model import (
    ENGAGEMENT_DIGITS,
    FIT_LETTERS,
    Bands,
    Cap,
    EngagementRule,
    FitRule,
    Group,
    GroupKind,
    Rule,
    ScoringError,
    ScoringModel,
    ScoringModelError,
    ScoringProblem,
    content_version,
)

P = ScoringProblem
SCORING_FILE = "scoring.yaml"
TOP_KEYS = ("groups", "rules", "grades", "thresholds")
GROUP_KEYS = ("kind", "half_life", "max", "min")
RULE_KEYS = ("name", "group", "when", "activity", "points", "cap")
ACTIVITY_KEYS = ("type", "where")
WINDOW_KEYS = ("within", "after", "before", "count")
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def load_model(path: Path) -> ScoringModel:
    """Read a scoring file; every problem in it raises together as a ScoringModelError."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot read: {exc.strerror}") from None
    return parse_model(source, filename=path.name)


def parse_model(source: str, *, filename: str = SCORING_FILE) -> ScoringModel:
    problems: list[ConfigError] = []
    root = from_yaml(source, filename)
    parts = _entries(root, TOP_KEYS, "the scoring file", required=("groups", "rules", "grades"))
    groups, declared = _groups(parts["groups"].value, problems)
    rules = _rules(parts["rules"].value, {g.name: g for g in groups}, declared, problems)
    bands = collect(problems, lambda: _grades(parts["grades"].value))
    thresholds = collect(problems, lambda: _thresholds(parts.get("thresholds")))
    if problems:
        raise ScoringModelError(tuple(problems))
    assert bands is not None
    assert thresholds is not None
    return ScoringModel(
        groups=groups,
        rules=rules,
        fit_bands=bands[0],
        engagement_bands=bands[1],
        thresholds=thresholds,
        version=content_version(source),
    )


def _entries(
    node: Node, allowed: tuple[str, ...], what: str, *, required: tuple[str, ...] = ()
) -> dict[str, Entry]:
    """The keys of a mapping node, refusing unknown ones and requiring ``required``."""
    return mapping_entries(node, allowed, what, _shape_error, required=required)


def _shape_error(kind: str, where: str, message: str) -> ScoringError:
    problem = {"shape": P.SHAPE, "unknown_key": P.UNKNOWN_KEY, "missing": P.MISSING}
    return ScoringError(problem[kind], where, message)


# -- groups -------------------------------------------------------------------------------


def _groups(node: Node, problems: list[ConfigError]) -> tuple[tuple[Group, ...], set[str]]:
    """The groups that read well, and the names of all declared (so that a rule in a broken
    group is not reported a second time as being in an unknown one)."""
    if node.kind != "mapping" or not node.entries:
        problems.append(
            ScoringError(P.SHAPE, node.at, "groups: must map group names to their settings")
        )
        return (), set()
    groups = [collect(problems, partial(_group, entry)) for entry in node.entries]
    return tuple(g for g in groups if g is not None), {e.key for e in node.entries}


def _group(entry: Entry) -> Group:
    _name(entry.key, entry.at, "group")
    what = f"group {entry.key!r}"
    parts = _entries(entry.value, GROUP_KEYS, what, required=("kind",))
    kind_text = text(parts["kind"].value)
    if kind_text not in tuple(GroupKind):
        raise ScoringError(
            P.BAD_VALUE, parts["kind"].at, f"kind {kind_text!r}: use fit or engagement"
        )
    kind = GroupKind(kind_text)
    half_life = _half_life(parts["half_life"]) if "half_life" in parts else None
    if half_life is not None and kind is GroupKind.FIT:
        raise ScoringError(
            P.BAD_HALF_LIFE,
            parts["half_life"].at,
            f"{what}: fit points do not fade; half_life applies to engagement groups",
        )
    low = number(parts["min"].value) if "min" in parts else None
    high = number(parts["max"].value) if "max" in parts else None
    if low is not None and high is not None and low > high:
        raise ScoringError(P.BAD_VALUE, parts["min"].at, f"{what}: min {low:g} is above max")
    return Group(entry.key, kind, half_life=half_life, max=high, min=low)


def _half_life(entry: Entry) -> timedelta | None:
    value = entry.value.value
    if isinstance(value, str) and value.strip().lower() == "none":
        return None
    if _negative(value):
        raise ScoringError(P.BAD_HALF_LIFE, entry.at, f"half_life {value} cannot be negative")
    try:
        return parse_duration(value)
    except TimeSyntaxError as exc:
        raise ScoringError(
            P.BAD_HALF_LIFE, entry.at, f"half_life: {exc} (or none: points never fade)"
        ) from None


def _negative(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().startswith("-")
    return isinstance(value, int | float) and not isinstance(value, bool) and value < 0


# -- rules --------------------------------------------------------------------------------


class _BrokenGroup(Exception):
    """The rule's group has a problem of its own, already reported."""


def _rules(
    node: Node, groups: dict[str, Group], declared: set[str], problems: list[ConfigError]
) -> tuple[Rule, ...]:
    if node.kind != "list":
        problems.append(ScoringError(P.SHAPE, node.at, "rules: must be a list of rules"))
        return ()
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for item in node.items:
        try:
            rule = collect(problems, partial(_rule, item, groups, declared))
        except _BrokenGroup:
            continue
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(
                ScoringError(
                    P.DUPLICATE_RULE,
                    rule.at,
                    f"rule name {rule.name!r} is already used at {seen[rule.name]}",
                )
            )
            continue
        seen[rule.name] = rule.at
        rules.append(rule)
    return tuple(rules)


def _rule(node: Node, groups: dict[str, Group], declared: set[str]) -> Rule:
    parts = _entries(node, RULE_KEYS, "a rule", required=("name",))
    name = _name(text(parts["name"].value), parts["name"].at, "rule")
    what = f"rule {name!r}"
    if "points" not in parts:
        raise ScoringError(P.MISSING, node.at, f"{what} has no points:")
    points = _points(parts["points"], what)
    group = _rule_group(parts, groups, declared, what, node.at)
    if group.kind is GroupKind.FIT:
        return _fit_rule(parts, name, group, points, node.at)
    return _engagement_rule(parts, name, group, points, node.at)


def _points(entry: Entry, what: str) -> float:
    try:
        points = number(entry.value)
    except ConditionError as exc:
        raise ScoringError(P.BAD_VALUE, entry.at, f"{what}: points: {exc.reason}") from None
    if points == 0:
        raise ScoringError(P.BAD_VALUE, entry.at, f"{what} is worth 0 points")
    return points


def _rule_group(
    parts: dict[str, Entry], groups: dict[str, Group], declared: set[str], what: str, at: str
) -> Group:
    if "group" not in parts:
        raise ScoringError(P.MISSING, at, f"{what} needs a group: ({', '.join(declared)})")
    name = text(parts["group"].value)
    if name in declared and name not in groups:
        raise _BrokenGroup(name)
    if name not in groups:
        hint = did_you_mean(name, groups)
        raise ScoringError(
            P.UNKNOWN_GROUP,
            parts["group"].at,
            f"{what}: unknown group {name!r}{hint}; groups: {', '.join(groups) or 'none'}",
        )
    return groups[name]


def _fit_rule(parts: dict[str, Entry], name: str, group: Group, points: float, at: str) -> Rule:
    what = f"rule {name!r} (fit group {group.name!r})"
    for key in ("activity", "cap"):
        if key in parts:
            raise ScoringError(
                P.UNKNOWN_KEY,
                parts[key].at,
                f"{what}: {key}: belongs to engagement rules; a fit rule has when:",
            )
    if "when" not in parts:
        raise ScoringError(P.MISSING, at, f"{what} needs when: (a condition)")
    condition = parse_node(parts["when"].value)
    for predicate in predicates(condition):
        if predicate.field.scope is Scope.SCORE:
            raise ScoringError(
                P.BAD_VALUE,
                predicate.at or parts["when"].at,
                f"{what}: {predicate.field} is the score itself; a rule cannot depend on it",
            )
    return FitRule(name, group.name, condition, points, at=at)


def _engagement_rule(
    parts: dict[str, Entry], name: str, group: Group, points: float, at: str
) -> Rule:
    what = f"rule {name!r} (engagement group {group.name!r})"
    if "when" in parts:
        raise ScoringError(
            P.UNKNOWN_KEY,
            parts["when"].at,
            f"{what}: when: belongs to fit rules; an engagement rule has activity:",
        )
    if "activity" not in parts:
        raise ScoringError(P.MISSING, at, f"{what} needs activity: {{type: ..., where: ...}}")
    activity = _activity(parts["activity"], what)
    cap = _cap(parts["cap"].value, what) if "cap" in parts else Cap()
    return EngagementRule(name, group.name, activity, points, cap, at=at)


def _activity(entry: Entry, what: str) -> EventCondition:
    node = entry.value
    if node.kind == "mapping":
        for part in node.entries:
            if part.key in WINDOW_KEYS:
                raise ScoringError(
                    P.UNKNOWN_KEY,
                    part.at,
                    f"{what}: {part.key}: does not apply; every occurrence scores and fades "
                    "with the group's half_life",
                )
        if "type" not in {part.key for part in node.entries}:
            raise ScoringError(P.MISSING, node.at, f"{what}: activity: needs type:")
    # The condition parser reads the rest, so type names and where: filters follow its rules.
    condition = parse_node(Node((Entry("activity", entry.at, node),), entry.at, "mapping"))
    assert isinstance(condition, EventCondition)
    return condition


def _cap(node: Node, what: str) -> Cap:
    parts = _entries(node, ("per_day", "total"), f"the cap of {what}")
    values = {key: whole_number(entry.value) for key, entry in parts.items()}
    for key, value in values.items():
        if value == 0:
            raise ScoringError(P.BAD_VALUE, parts[key].at, f"{what}: cap {key}: 0 never scores")
    return Cap(per_day=values.get("per_day"), total=values.get("total"))


def _name(value: str, at: str, what: str) -> str:
    if not NAME.fullmatch(value):
        raise ScoringError(
            P.BAD_VALUE, at, f"{what} name {value!r}: use lowercase letters, digits and _"
        )
    return value


# -- grades and thresholds ----------------------------------------------------------------


def _grades(node: Node) -> tuple[Bands, Bands]:
    parts = _entries(node, ("fit", "engagement"), "grades:", required=("fit", "engagement"))
    return (
        _bands(parts["fit"].value, FIT_LETTERS, "fit"),
        _bands(parts["engagement"].value, ENGAGEMENT_DIGITS, "engagement"),
    )


def _bands(node: Node, labels: tuple[str, ...], what: str) -> Bands:
    # The last grade takes everything below the others, so it has no minimum of its own.
    named = labels[:-1]
    parts = _entries(node, named, f"grades: {what}", required=named)
    if [entry.key for entry in node.entries] != list(named):
        raise ScoringError(
            P.BANDS_ORDER, node.at, f"grades: {what}: list {', '.join(named)} in this order"
        )
    minimums = tuple(number(parts[label].value) for label in named)
    for label, previous, minimum in zip(named[1:], minimums[:-1], minimums[1:], strict=True):
        if minimum >= previous:
            raise ScoringError(
                P.BANDS_ORDER,
                parts[label].at,
                f"grades: {what}: {label} needs fewer points than the grade above it "
                f"({minimum:g} >= {previous:g})",
            )
    return Bands(labels, minimums)


def _thresholds(entry: Entry | None) -> tuple[tuple[str, float], ...]:
    """Named totals worth noticing (``mql: 60``), lowest first."""
    if entry is None:
        return ()
    node = entry.value
    if node.kind != "mapping":
        raise ScoringError(P.SHAPE, node.at, "thresholds: must map names to total points")
    found = [(_name(e.key, e.at, "threshold"), number(e.value)) for e in node.entries]
    return tuple(sorted(found, key=lambda pair: pair[1]))
