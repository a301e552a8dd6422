"""HTTP helpers shared by routers: ETags and If-Match, and the response headers the OpenAPI
document describes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header

from cspr_engine.errors import FieldError, InvalidData

MAX_IF_MATCH = 1_000  # a list of a few dozen ETags

IfMatch = Annotated[
    str | None,
    Header(
        description='Make the write conditional on the case version (ETag, e.g. "4").',
        # Enforced by parse_if_match, as a field error naming the header.
        json_schema_extra={"maxLength": MAX_IF_MATCH},
    ),
]

_ETAG = re.compile(r'^\s*(W/)?"?(\d{1,12})"?\s*$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> frozenset[int] | None:
    """The versions an If-Match header names (`"4"`, `4`, or a list `"3", "4"`); None for no
    header or `*` (any version). If-Match compares strongly (RFC 9110 13.1.1): a weak tag such
    as `W/"4"` is well formed but matches no version, so a write naming only weak tags is 412."""
    if value is None or value.strip() == "*":
        return None
    if len(value) > MAX_IF_MATCH:
        message, kind = f"must be at most {MAX_IF_MATCH} characters", "too_long"
    else:
        matches = [_ETAG.match(part) for part in value.split(",")]
        if all(m is not None for m in matches):
            return frozenset(int(m.group(2)) for m in matches if m is not None and not m.group(1))
        message, kind = 'must be an ETag such as "4"', "etag"
    raise InvalidData([FieldError(loc="header.If-Match", message=message, type=kind)])


def stale_detail(expected: frozenset[int], current: int, what: str) -> str:
    """The detail of a 412: which versions If-Match named, and the one `what` is at."""
    if not expected:
        return (
            f"If-Match names only weak ETags (W/...), which never match a write's "
            f'precondition; send the ETag as it was given, e.g. "{current}". '
            f"The {what} is at version {current}."
        )
    named = ", ".join(str(v) for v in sorted(expected))
    plural = "s" if len(expected) > 1 else ""
    return f"If-Match names version{plural} {named}; the {what} is at version {current}."


# The response headers of the OpenAPI document (`components/headers`): api.openapi adds
# X-Request-ID to every response and Retry-After to every 429; a route names the others it
# sends with documented_headers.
HEADER_COMPONENTS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The version of what the response shows, quoted (e.g. "4"): send it '
        "back in If-Match to make a write conditional on it.",
        "required": True,
        "schema": {"type": "string", "pattern": r'^"\d+"$'},
    },
    "Location": {
        "description": "Where the new resource is read (a path under /api/v1).",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Retry-After": {
        "description": "How many seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "X-Request-ID": {
        "description": "The request's id: the caller's own X-Request-ID when it is 1 to 64 "
        "letters, digits or `._:-`, else one the service made. Problem documents carry it as "
        "`request_id`; quote it when reporting a fault.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
    },
}


def header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def documented_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the headers (of HEADER_COMPONENTS) a route sends with `status`."""
    unknown = set(names) - set(HEADER_COMPONENTS)
    assert not unknown, f"no such documented header: {sorted(unknown)}"
    return {status: {"headers": {name: header_ref(name) for name in names}}}
