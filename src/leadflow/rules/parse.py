"""Reading conditions from YAML or plain data into the frozen AST, with located errors.

The grammar, one key per condition mapping::

    all: [condition, ...]          any: [condition, ...]          not: condition
    <field>: {<operator>: <value>}
    activity: {type, where, within, before, after, count}
    touch: {where, within, before, after, count}

Fields and operators come from :mod:`leadflow.rules.vocabulary`; anything else is an error.
"""

from __future__ import annotations

from leadflow.rules.ast import (
    AT_LEAST_ONCE,
    AllOf,
    AnyOf,
    Condition,
    CountTest,
    EventCondition,
    Field,
    Not,
    Op,
    Predicate,
    Scope,
    Window,
)
from leadflow.rules.errors import ConditionError, Problem, did_you_mean
from leadflow.rules.operands import duration, pair, parse_operand, text, time_point, whole_number
from leadflow.rules.source import Entry, Node, from_data, from_yaml
from leadflow.rules.vocabulary import (
    ACTIVITY_TYPE,
    COUNT_OPERATORS,
    OPERATORS,
    PROPERTY_KEY,
    field_names,
    lookup,
)

GROUPS = ("all", "any", "not")
EVENT_KEYS = {
    "activity": ("type", "where", "within", "before", "after", "count"),
    "touch": ("where", "within", "before", "after", "count"),
}
_EVENT_SCOPES = {"activity": Scope.ACTIVITY, "touch": Scope.TOUCH}


def parse_condition(data: object, *, at: str = "condition") -> Condition:
    """A condition from plain data (the API); errors are located by path under ``at``."""
    return parse_node(from_data(data, at))


def parse_condition_yaml(text: str, *, filename: str) -> Condition:
    """A condition written as a whole YAML document; errors say ``filename:line``."""
    return parse_node(from_yaml(text, filename))


def parse_node(node: Node, scope: Scope = Scope.CONTACT) -> Condition:
    """A condition from a located node, for loaders that read larger files (scoring rules)."""
    entry = _single_entry(node, "condition", "e.g. {contact.country: {eq: US}}")
    if entry.key in ("all", "any"):
        return _group(entry, scope)
    if entry.key == "not":
        return Not(parse_node(entry.value, scope), at=entry.at)
    if entry.key in EVENT_KEYS and scope is Scope.CONTACT:
        return _event(entry)
    return _predicate(_field(entry, scope), entry)


def _single_entry(node: Node, what: str, example: str) -> Entry:
    if node.kind != "mapping":
        raise ConditionError(
            Problem.SHAPE, node.at, f"expected a {what} as a mapping ({example}), got {node.kind}"
        )
    if not node.entries:
        raise ConditionError(Problem.SHAPE, node.at, f"empty {what} ({example})")
    if len(node.entries) > 1:
        keys = ", ".join(e.key for e in node.entries)
        raise ConditionError(
            Problem.SHAPE,
            node.entries[1].at,
            f"one key per {what}, found {keys}; combine conditions under all: or any:",
        )
    return node.entries[0]


def _group(entry: Entry, scope: Scope) -> Condition:
    node = entry.value
    if node.kind != "list":
        raise ConditionError(
            Problem.SHAPE, node.at, f"{entry.key}: takes a list of conditions, got {node.kind}"
        )
    if not node.items:
        raise ConditionError(
            Problem.EMPTY_GROUP, entry.at, f"{entry.key}: needs at least one condition"
        )
    items = tuple(parse_node(item, scope) for item in node.items)
    return AllOf(items, at=entry.at) if entry.key == "all" else AnyOf(items, at=entry.at)


def _field(entry: Entry, scope: Scope) -> Field:
    field = lookup(entry.key, scope)
    if field is None:
        known = field_names(scope) + list(GROUPS)
        known += list(EVENT_KEYS) if scope is Scope.CONTACT else []
        where = (
            "" if scope is Scope.CONTACT else f" in {scope.value} where: (use {', '.join(known)})"
        )
        raise ConditionError(
            Problem.UNKNOWN_FIELD,
            entry.at,
            f"unknown field {entry.key!r}{where}{did_you_mean(entry.key, known)}",
        )
    if field.key is not None and not PROPERTY_KEY.fullmatch(field.key):
        raise ConditionError(
            Problem.UNKNOWN_FIELD,
            entry.at,
            f"property key {field.key!r} may hold only letters, digits, _ and - (one level)",
        )
    return field


def _predicate(field: Field, entry: Entry) -> Predicate:
    op_entry = _single_entry(entry.value, f"test of {field}", "e.g. {eq: value}")
    allowed = OPERATORS[field.kind]
    op = _operator(op_entry, [o.value for o in allowed])
    if op not in allowed:
        raise ConditionError(
            Problem.OPERATOR_NOT_ALLOWED,
            op_entry.at,
            f"operator {op.value!r} does not apply to {field} ({field.kind.value}); "
            f"use one of {', '.join(o.value for o in allowed)}",
        )
    return Predicate(field, op, parse_operand(field, op, op_entry.value), at=entry.at)


def _operator(entry: Entry, suggestions: list[str]) -> Op:
    try:
        return Op(entry.key)
    except ValueError:
        hint = did_you_mean(entry.key, suggestions) or did_you_mean(entry.key, list(Op))
        raise ConditionError(
            Problem.UNKNOWN_OPERATOR, entry.at, f"unknown operator {entry.key!r}{hint}"
        ) from None


def _event(entry: Entry) -> EventCondition:
    node, allowed = entry.value, EVENT_KEYS[entry.key]
    if node.kind != "mapping":
        raise ConditionError(
            Problem.SHAPE, node.at, f"{entry.key}: takes a mapping of {', '.join(allowed)}"
        )
    parts = {part.key: part for part in node.entries}
    for part in node.entries:
        if part.key not in allowed:
            raise ConditionError(
                Problem.UNKNOWN_KEY,
                part.at,
                f"unknown key {part.key!r} in {entry.key}:{did_you_mean(part.key, allowed)}; "
                f"use {', '.join(allowed)}",
            )
    scope = _EVENT_SCOPES[entry.key]
    where = parts.get("where")
    return EventCondition(
        source=scope,
        types=_types(parts["type"].value) if "type" in parts else (),
        where=parse_node(where.value, scope) if where else None,
        window=_window(parts),
        count=_count(parts["count"].value) if "count" in parts else AT_LEAST_ONCE,
        at=entry.at,
    )


def _types(node: Node) -> tuple[str, ...]:
    items = node.items if node.kind == "list" else (node,)
    if not items:
        raise ConditionError(Problem.BAD_VALUE, node.at, "type: [] would never match")
    names = [text(item) for item in items]
    for item, name in zip(items, names, strict=True):
        if not ACTIVITY_TYPE.fullmatch(name):
            raise ConditionError(
                Problem.BAD_VALUE,
                item.at,
                f"{name!r} is not an activity type (lowercase letters, digits and _)",
            )
    return tuple(dict.fromkeys(names))


def _window(parts: dict[str, Entry]) -> Window:
    window = Window(
        within=duration(parts["within"].value, "within") if "within" in parts else None,
        after=time_point(parts["after"].value, "after") if "after" in parts else None,
        before=time_point(parts["before"].value, "before") if "before" in parts else None,
    )
    if window.after and window.before and _empty(window):
        raise ConditionError(
            Problem.BAD_WINDOW,
            parts["before"].at,
            f"after {window.after} and before {window.before} leave no time in between",
        )
    return window


def _empty(window: Window) -> bool:
    after, before = window.after, window.before
    assert after is not None
    assert before is not None
    if after.absolute and before.absolute:
        return after.absolute >= before.absolute
    if after.ago and before.ago:
        return after.ago <= before.ago
    return False  # one absolute, one relative: depends on now


def _count(node: Node) -> CountTest:
    entry = _single_entry(node, "count", "e.g. {gte: 3}")
    allowed = [op.value for op in COUNT_OPERATORS]
    op = _operator(entry, allowed)
    if op not in COUNT_OPERATORS:
        raise ConditionError(
            Problem.OPERATOR_NOT_ALLOWED,
            entry.at,
            f"count takes {', '.join(allowed)}, not {op.value!r}",
        )
    if op is Op.BETWEEN:
        low, high = pair(entry.value, whole_number)
        return CountTest(op, (int(low), int(high)))
    value = whole_number(entry.value)
    if op is Op.LT and value == 0:
        raise ConditionError(Problem.BAD_VALUE, entry.value.at, "count lt 0 can never hold")
    return CountTest(op, value)
