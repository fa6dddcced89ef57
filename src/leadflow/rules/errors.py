"""Errors raised while reading a condition, each with a stable code.

Every problem in a condition is a :class:`ConditionError` (a :class:`ConfigError`), located by
``where``: ``scoring.yaml:12`` for a file, a path such as ``filter/all/0`` for API data.
The ``code`` is stable and may be matched on; the message is for people.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import StrEnum

from leadflow.errors import LocatedConfigError


class Problem(StrEnum):
    """What went wrong; the value is the error's stable ``code``."""

    SYNTAX = "condition_syntax"  # the YAML itself does not parse
    SHAPE = "condition_shape"  # a mapping where a list belongs, two keys in one condition...
    DUPLICATE_KEY = "condition_duplicate_key"
    UNKNOWN_FIELD = "condition_unknown_field"
    UNKNOWN_KEY = "condition_unknown_key"  # inside activity:/touch:
    UNKNOWN_OPERATOR = "condition_unknown_operator"
    OPERATOR_NOT_ALLOWED = "condition_operator_not_allowed"  # e.g. gt on a text field
    WRONG_TYPE = "condition_wrong_type"
    BAD_VALUE = "condition_bad_value"
    BAD_REGEX = "condition_bad_regex"
    BAD_WINDOW = "condition_bad_window"
    EMPTY_GROUP = "condition_empty_group"


class ConditionError(LocatedConfigError):
    """A condition cannot be read: names where, and what the problem is."""

    def __init__(self, problem: Problem, where: str, message: str) -> None:
        super().__init__(problem.value, where, message)
        self.problem = problem


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
