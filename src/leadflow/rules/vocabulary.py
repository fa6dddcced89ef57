"""The closed vocabulary: which fields exist, and which operators each kind of field takes.

Anything not listed here is an error at parse time, so a typo never silently matches nothing.
"""

from __future__ import annotations

import re

from leadflow.contacts.inputs import CHANNELS
from leadflow.contacts.normalize import SENIORITIES
from leadflow.rules.ast import Field, Kind, Op, Scope

_TEXT, _NUMBER, _TIME = Kind.TEXT, Kind.NUMBER, Kind.TIME

_COLUMNS: dict[Scope, dict[str, Kind]] = {
    Scope.CONTACT: {
        "email": _TEXT,
        "phone": _TEXT,
        "first_name": _TEXT,
        "last_name": _TEXT,
        "title": _TEXT,
        "seniority": _TEXT,
        "company_name": _TEXT,
        "country": _TEXT,
        "timezone": _TEXT,
        "language": _TEXT,
        "created_at": _TIME,
        "updated_at": _TIME,
        "last_activity_at": _TIME,
        "stage": _TEXT,  # the lifecycle stage
        "stage_entered_at": _TIME,
        "owner_id": _TEXT,  # the user routing gave the contact
    },
    Scope.ACCOUNT: {
        "domain": _TEXT,
        "name": _TEXT,
        "industry": _TEXT,
        "country": _TEXT,
        "employee_count": _NUMBER,
        "annual_revenue": _NUMBER,
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    Scope.ACTIVITY: {"source": _TEXT},
    # The stored score. Engagement fades after it was computed; rules run right after
    # scoring (on each event, after a rescore), when the two are the same.
    Scope.SCORE: {
        "fit": _NUMBER,
        "engagement": _NUMBER,
        "total": _NUMBER,
        "grade": _TEXT,  # such as A2
        "fit_grade": _TEXT,  # A..D
        "engagement_grade": _TEXT,  # 1..4
    },
    Scope.QUALIFICATION: {},  # any criterion name: see _column_or_property
}
CRITERION = re.compile(r"[a-z][a-z0-9_]{0,63}")
_TOUCH_COLUMNS: dict[str, Kind] = {
    "channel": _TEXT,
    "campaign": _TEXT,
    "utm_source": _TEXT,
    "utm_medium": _TEXT,
    "utm_campaign": _TEXT,
    "utm_term": _TEXT,
    "utm_content": _TEXT,
    "referrer": _TEXT,
    "landing_page": _TEXT,
    "occurred_at": _TIME,
}
for _scope in (Scope.FIRST_TOUCH, Scope.LAST_TOUCH, Scope.TOUCH):
    _COLUMNS[_scope] = _TOUCH_COLUMNS

_CHOICES = {"seniority": SENIORITIES, "channel": CHANNELS}

# Columns whose every stored value is already folded: stage names are lowercase by the
# lifecycle config's rule and owners are routing's user ids, lowercase slugs, and nothing
# else writes either. Equality on them compares the column itself, so its index serves
# ("contacts at stage sql", "my contacts") where lower(column) would read every contact.
STORED_FOLDED = frozenset({(Scope.CONTACT, "stage"), (Scope.CONTACT, "owner_id")})

# Touches have no custom properties; contacts, accounts and activities do.
_HAS_PROPERTIES = {Scope.CONTACT, Scope.ACCOUNT, Scope.ACTIVITY}

# Which scopes a condition written at a given level may name, by their prefix.
_PREFIXED = {
    Scope.CONTACT: (
        Scope.CONTACT,
        Scope.ACCOUNT,
        Scope.FIRST_TOUCH,
        Scope.LAST_TOUCH,
        Scope.SCORE,
        Scope.QUALIFICATION,
    ),
}

# Property keys are spliced into JSON paths on both databases, so they are kept to
# characters that need no quoting anywhere.
PROPERTY_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}")
ACTIVITY_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")

_ORDERING = (Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)
_TEXT_OPS = (Op.EQ, Op.NE, Op.IN, Op.CONTAINS, Op.STARTS_WITH, Op.REGEX, Op.IS_SET)
OPERATORS: dict[Kind, tuple[Op, ...]] = {
    Kind.TEXT: _TEXT_OPS,
    Kind.NUMBER: (Op.EQ, Op.NE, Op.IN, *_ORDERING, Op.IS_SET),
    Kind.TIME: (Op.BEFORE, Op.AFTER, Op.WITHIN, Op.IS_SET),
    Kind.PROPERTY: (*_TEXT_OPS[:-1], *_ORDERING, Op.IS_SET),
}

COUNT_OPERATORS = (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN)


def lookup(name: str, scope: Scope) -> Field | None:
    """The field ``name`` means in ``scope``; None when there is no such field."""
    scopes = _PREFIXED.get(scope)
    if scopes is None:
        return _column_or_property(scope, name)
    owner, _, rest = name.partition(".")
    for candidate in scopes:
        if candidate.value == owner and rest:
            return _column_or_property(candidate, rest)
    return None


def _column_or_property(scope: Scope, path: str) -> Field | None:
    if scope is Scope.QUALIFICATION:
        # Criteria are the workspace's own (lifecycle.yaml); each holds a text value.
        return Field(scope, path, _TEXT) if CRITERION.fullmatch(path) else None
    kind = _COLUMNS[scope].get(path)
    if kind is not None:
        return Field(scope, path, kind, choices=_CHOICES.get(path, ()))
    head, _, key = path.partition(".")
    if head == "properties" and key and scope in _HAS_PROPERTIES:
        return Field(scope, "properties", Kind.PROPERTY, key=key)
    return None


def field_names(scope: Scope) -> list[str]:
    """Every column field name visible in ``scope`` (for suggestions and docs)."""
    scopes = _PREFIXED.get(scope)
    if scopes is None:
        return [*_COLUMNS[scope], *(["properties.<key>"] if scope in _HAS_PROPERTIES else [])]
    names = []
    for owner in scopes:
        names += [f"{owner.value}.{column}" for column in _COLUMNS[owner]]
        names += ["qualification.<criterion>"] if owner is Scope.QUALIFICATION else []
        names += [f"{owner.value}.properties.<key>"] if owner in _HAS_PROPERTIES else []
    return names


def fold(text: str) -> str:
    """Case folding for every text comparison: ASCII letters only.

    PostgreSQL's lower() follows the database's locale and SQLite's lower() folds ASCII only,
    so ASCII-only folding is the one rule both databases and Python can apply identically.
    """
    # str.lower() on ASCII text is exactly this, and several times quicker than translate.
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
