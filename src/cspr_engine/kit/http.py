"""HTTP helpers shared by routers: ETags and If-Match."""

from __future__ import annotations

import re

from cspr_engine.errors import FieldError, InvalidData

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names (`"4"`, `W/"4"` or `4`); `*` means any."""
    if value is None or value.strip() == "*":
        return None
    match = _ETAG.match(value)
    if match is None:
        raise InvalidData(
            [FieldError(loc="header.If-Match", message='must be an ETag such as "4"', type="etag")]
        )
    return int(match.group(1))
