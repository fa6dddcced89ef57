"""Cursor pagination: an opaque cursor holds the last row's sort value and id.

Pages are read with a keyset condition (``(sort, id) > (last_sort, last_id)``), so a page
costs the same at any depth and rows written meanwhile never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from leadflow.errors import ValidationError

MAX_LIMIT = 500
T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page (≤ 500).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=1000, description="`next_cursor` of the previous page; omit for the first."),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    raw = json.dumps([sort, value, row_id], default=str, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """The (sort value, id) a cursor holds; 422 for a cursor not ours or of another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_name, value, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ValidationError("not a cursor this API gave out", field="cursor") from None
    if sort_name != sort or not isinstance(row_id, int) or isinstance(row_id, bool):
        raise ValidationError("the cursor belongs to another sort order", field="cursor")
    return value, row_id
