"""Pydantic types shared by the routers: text that can be stored on every database, and
properties that are plain JSON.

PostgreSQL refuses NUL characters in text and no database stores a lone UTF-16 surrogate
(JSON allows ``"\\ud800"``), so both are refused at the edge with a 422 naming the field,
instead of failing half-way inside a transaction.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

MAX_DEPTH = 8


def clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (a lone surrogate)") from None
    return value


def clean_json(value: Any, depth: int = 0) -> Any:
    """Check a JSON value (properties) the same way, and refuse NaN and deep nesting."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    return value


Text = Annotated[str, AfterValidator(clean_text)]
Properties = Annotated[
    dict[str, Any], AfterValidator(clean_json), Field(description="Plain JSON values.")
]


MAX_ID = 2**63 - 1


def bounded_ref(value: str) -> str:
    """A contact reference: digits name an id, which must fit the databases' 64-bit keys."""
    text = value.strip()
    if text.isascii() and text.isdigit() and int(text) > MAX_ID:
        raise ValueError("is larger than any contact id")
    return value


ContactRef = Annotated[Text, AfterValidator(bounded_ref)]
