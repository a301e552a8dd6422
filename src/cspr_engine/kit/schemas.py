"""Shared field types for API schemas: strict ISO dates, bounded text, the base config."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: Any) -> Any:
    # Partners send dates as `YYYY-MM-DD`; timestamps, numbers and other shapes are refused
    # rather than guessed at, because a statutory clock starts from this value.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Comment = Annotated[str, StringConstraints(max_length=10_000)]


MAX_NESTING = 32  # no request field nests anywhere near this deep


def _refusal(value: Any) -> str | None:
    """Why a parsed JSON body cannot be taken at all, or None: a NUL character (PostgreSQL
    cannot store U+0000 in text or JSONB), or nesting deeper than any field needs."""
    pending: list[tuple[str, Any, int]] = [("", value, 0)]  # a loop: bodies may nest deep
    while pending:
        path, item, depth = pending.pop()
        where = path or "body"
        if depth > MAX_NESTING:
            return f"{where}: nests more than {MAX_NESTING} levels deep"
        if isinstance(item, str) and "\x00" in item:
            return f"{where}: text may not contain the NUL character (U+0000)"
        if isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return f"{where}: text may not contain the NUL character (U+0000)"
                pending.append((f"{path}.{key}" if path else str(key), child, depth + 1))
        elif isinstance(item, list):
            pending.extend(
                (f"{path}.{i}" if path else str(i), c, depth + 1) for i, c in enumerate(item)
            )
    return None


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, so partners learn of a typo at once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Refused on every database alike, before any field is looked at.
        refusal = _refusal(value)
        if refusal is not None:
            raise ValueError(refusal)
        return value
