"""HTTP helpers shared by routers: ETags and If-Match."""

from __future__ import annotations

import re

from cspr_engine.errors import FieldError, InvalidData

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,12})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> frozenset[int] | None:
    """The versions an If-Match header names (`"4"`, `W/"4"`, `4`, or a list `"3", "4"`);
    None for no header or `*` (any version)."""
    if value is None or value.strip() == "*":
        return None
    versions = set()
    for part in value.split(","):
        match = _ETAG.match(part)
        if match is None:
            raise InvalidData(
                [
                    FieldError(
                        loc="header.If-Match", message='must be an ETag such as "4"', type="etag"
                    )
                ]
            )
        versions.add(int(match.group(1)))
    return frozenset(versions)
