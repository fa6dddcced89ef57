"""The condition language shared by scoring, qualification, segments, sequences and the API.

Read a condition with :func:`parse_condition_yaml` (workspace files) or
:func:`parse_condition` (API data); evaluate it for one contact with :func:`evaluate`, which
returns a :class:`Trace` of what matched; compile it to SQL for bulk work with
``leadflow.rules.compile.compile_condition`` (kept out of this package's namespace so that the
pure parts never load the storage tables). The semantics are in ``docs/conditions.md``.
"""

from leadflow.rules.ast import (
    AllOf,
    AnyOf,
    Condition,
    CountTest,
    EventCondition,
    Field,
    Kind,
    Not,
    Op,
    Predicate,
    Regex,
    Scope,
    TimePoint,
    Window,
    predicates,
    scopes_read,
)
from leadflow.rules.errors import ConditionError, Problem
from leadflow.rules.evaluate import Snapshot, Trace, evaluate, matches
from leadflow.rules.parse import parse_condition, parse_condition_yaml, parse_node
from leadflow.rules.source import Node, from_data, from_yaml

__all__ = [
    "AllOf",
    "AnyOf",
    "Condition",
    "ConditionError",
    "CountTest",
    "EventCondition",
    "Field",
    "Kind",
    "Node",
    "Not",
    "Op",
    "Predicate",
    "Problem",
    "Regex",
    "Scope",
    "Snapshot",
    "TimePoint",
    "Trace",
    "Window",
    "evaluate",
    "from_data",
    "from_yaml",
    "matches",
    "parse_condition",
    "parse_condition_yaml",
    "parse_node",
    "predicates",
    "scopes_read",
]
