"""Opaque keyset cursors: `?limit=&cursor=` in, `{items, next_cursor}` out."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from cspr_engine.errors import InvalidQuery

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1 to 500).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=512, description="The `next_cursor` of the previous page."),
]


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as exc:
        raise InvalidQuery("The cursor is not one this service issued.") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidQuery("The cursor is not one this service issued.")
    return values


def encode_keyset(at: datetime, row_id: uuid.UUID) -> str:
    """The cursor after a row of a list ordered by (instant, id)."""
    return encode_cursor([at.isoformat(), str(row_id)])


def decode_keyset(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (instant, id) a keyset cursor points after; None for the first page."""
    if not cursor:
        return None
    at, row_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (TypeError, ValueError) as exc:
        raise InvalidQuery("The cursor is not one this service issued.") from exc
