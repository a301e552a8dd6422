"""HTTP helpers shared by routers: ETags and If-Match."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from cspr_engine.errors import FieldError, InvalidData

IfMatch = Annotated[
    str | None,
    Header(description='Make the write conditional on the case version (ETag, e.g. "4").'),
]

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
