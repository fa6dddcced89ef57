"""A located tree: plain values that remember where they came from.

Conditions arrive as YAML (workspace files) or as plain data (the API). Both become the same
tree of :class:`Node` so that one parser serves both and every error can say where it is:
``scoring.yaml:12`` for YAML, a path such as ``filter/all/0/contact.title`` for data.

YAML scalars are resolved with the YAML 1.2 core schema, not PyYAML's 1.1 rules, so that
``country: NO`` stays the string ``"NO"`` and ``2026-01-01`` stays a string we parse ourselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar, Union

import yaml

from leadflow.errors import ConfigError, ConfigProblems
from leadflow.rules.errors import ConditionError, Problem, did_you_mean

Scalar = Union[str, int, float, bool, None, datetime, date]  # noqa: UP007 (runtime alias)


@dataclass(frozen=True)
class Entry:
    """One key of a mapping, with where the key itself was written."""

    key: str
    at: str
    value: Node


@dataclass(frozen=True)
class Node:
    """A scalar, a list of nodes or a mapping of entries, located by ``at``."""

    value: Scalar | tuple[Node, ...] | tuple[Entry, ...]
    at: str
    kind: str  # "scalar" | "list" | "mapping"

    @property
    def items(self) -> tuple[Node, ...]:
        assert self.kind == "list"
        return self.value  # type: ignore[return-value]

    @property
    def entries(self) -> tuple[Entry, ...]:
        assert self.kind == "mapping"
        return self.value  # type: ignore[return-value]


def from_data(data: object, at: str = "condition") -> Node:
    """Wrap plain data (dicts, lists, scalars) from the API; locations are paths."""
    if isinstance(data, Mapping):
        entries = []
        for key, value in data.items():
            if not isinstance(key, str):
                raise ConditionError(Problem.SHAPE, at, f"keys must be text, got {key!r}")
            entries.append(Entry(key, f"{at}/{key}", from_data(value, f"{at}/{key}")))
        return Node(tuple(entries), at, "mapping")
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return Node(tuple(from_data(v, f"{at}/{i}") for i, v in enumerate(data)), at, "list")
    if data is None or isinstance(data, str | int | float | bool | datetime | date):
        return Node(data, at, "scalar")
    raise ConditionError(Problem.WRONG_TYPE, at, f"unsupported value {data!r}")


def from_yaml(text: str, filename: str) -> Node:
    """Compose ``text`` (not construct it) so that every node keeps its line number."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConditionError(
            Problem.SYNTAX, f"{filename}:{line}", f"YAML syntax: {exc.problem or exc}"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConditionError(Problem.SYNTAX, f"{filename}:1", f"YAML syntax: {exc}") from exc
    if root is None:
        return Node(None, f"{filename}:1", "scalar")
    return _from_yaml_node(root, filename)


def _from_yaml_node(node: yaml.Node, filename: str) -> Node:
    at = f"{filename}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        return Node(_yaml_entries(node, filename), at, "mapping")
    if isinstance(node, yaml.SequenceNode):
        return Node(tuple(_from_yaml_node(n, filename) for n in node.value), at, "list")
    assert isinstance(node, yaml.ScalarNode)
    return Node(_resolve_scalar(node, at), at, "scalar")


def _yaml_entries(node: yaml.MappingNode, filename: str) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key_at = f"{filename}:{key_node.start_mark.line + 1}"
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ConditionError(Problem.SHAPE, key_at, "keys must be plain text")
        # PyYAML keeps the last of two equal keys without a word; a silent override of a
        # rule is exactly the kind of mistake a config check should catch.
        if key in seen:
            raise ConditionError(Problem.DUPLICATE_KEY, key_at, f"duplicate key {key!r}")
        seen.add(key)
        entries.append(Entry(key, key_at, _from_yaml_node(value_node, filename)))
    return tuple(entries)


_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _resolve_scalar(node: yaml.ScalarNode, at: str) -> Scalar:
    """YAML 1.2 core schema for plain scalars; quoted and block scalars are always text."""
    text: str = node.value
    if node.style:  # quoted or block; the C loader gives "" for plain, the Python one None
        return text
    if text in _NULL:
        return None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise ConditionError(Problem.BAD_VALUE, at, f"number {text} is out of range")
        return value
    if text.lower() in {".inf", "-.inf", "+.inf", ".nan"}:
        raise ConditionError(Problem.BAD_VALUE, at, "infinite and NaN numbers are not allowed")
    return text


# What a file's loader raises for a problem of one of these kinds, where, saying what.
ShapeError = Callable[[str, str, str], Exception]


def mapping_entries(
    node: Node,
    allowed: Sequence[str],
    what: str,
    error: ShapeError,
    *,
    required: Sequence[str] = (),
) -> dict[str, Entry]:
    """The keys of a mapping node of a workspace file, refusing unknown ones (with a
    suggestion) and requiring ``required``. ``error(kind, where, message)`` makes the
    loader's own error; ``kind`` is ``shape``, ``unknown_key`` or ``missing``."""
    if node.kind != "mapping":
        raise error("shape", node.at, f"{what} must be a mapping, got {node.kind}")
    parts = {entry.key: entry for entry in node.entries}
    for entry in node.entries:
        if entry.key not in allowed:
            hint = did_you_mean(entry.key, allowed)
            use = ", ".join(allowed)
            raise error(
                "unknown_key", entry.at, f"unknown key {entry.key!r} in {what}{hint}; use {use}"
            )
    for key in required:
        if key not in parts:
            raise error("missing", node.at, f"{what} needs {key}:")
    return parts


T = TypeVar("T")


def collect(problems: list[ConfigError], read: Callable[[], T]) -> T | None:
    """Read one part of a workspace file; keep what is wrong with it (every problem, for a
    part that reads on after its first) and return None, so the loader goes on to the next
    part and reports all of them together."""
    try:
        return read()
    except ConfigProblems as exc:
        problems.extend(exc.problems)
    except ConfigError as exc:
        problems.append(exc)
    return None
