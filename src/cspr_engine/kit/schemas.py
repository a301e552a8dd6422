"""Shared field types for API schemas: strict ISO dates, bounded text, the base config."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints

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


class StrictModel(BaseModel):
    """Request bodies: unknown fields are an error, so partners learn of a typo at once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
