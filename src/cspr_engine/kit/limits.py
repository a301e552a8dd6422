"""Input limits: the request body's size, enforced before the body reaches a route, and the
bounds of a trigger's free-form `data`.

A few paths (document uploads) are allowed more, by pattern: their bodies are not buffered
here but handed on as they arrive and counted; once one outgrows its allowance, reading it
raises PayloadTooLarge in the route, which cleans up what it wrote and answers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cspr_engine.errors import PayloadTooLarge
from cspr_engine.kit.requestid import current_request_id

PAGE_TOO_LARGE = (
    b'<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
    b"<title>What you sent is too large</title>"
    b'<link rel="stylesheet" href="/ui/static/build/app.css"></head>'
    b'<body class="govuk-template__body"><div class="govuk-width-container">'
    b'<main class="govuk-main-wrapper"><h1 class="govuk-heading-l">What you sent is too large'
    b'</h1><p class="govuk-body">Go back, shorten what you typed, and try again.</p>'
    b"</main></div></body></html>"
)


class BodyLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        allowances: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.allowances = tuple(allowances)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        allowance = next(
            (limit for pattern, limit in self.allowances if pattern.match(scope["path"])), None
        )
        if allowance is not None:
            length = int(declared) if declared is not None and declared.isdigit() else None
            await self.app(scope, _counted(receive, allowance, length), send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        # Without a (truthful) length, read up to the limit before handing the body on.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        err = PayloadTooLarge(f"The body may be at most {self.max_bytes} bytes.")
        problem = err.to_problem(scope.get("path"))
        problem["request_id"] = current_request_id()
        payload = json.dumps(problem).encode()
        media_type = b"application/problem+json"
        if str(scope.get("path", "")).startswith("/ui"):
            # A web page's form: a page a person can read (the body never reached the app).
            payload, media_type = PAGE_TOO_LARGE, b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _counted(receive: Receive, limit: int, declared: int | None) -> Receive:
    """`receive`, raising PayloadTooLarge as soon as the body is known to exceed `limit`: at
    once for a declared Content-Length over it (nothing is read), else when the count passes it."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        if declared is not None and declared > limit:
            raise PayloadTooLarge(f"The body may be at most {limit} bytes.")
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise PayloadTooLarge(f"The body may be at most {limit} bytes.")
        return message

    return counted


# -- a trigger's `data`: free-form at the API, bounded before any workflow looks at it ----------
#
# Each trigger declares its own fields (workflow YAML: text up to 100,000 characters, lists up
# to 1,000 items), and the engine checks them once the trigger is known. These bounds hold for
# every trigger alike, so an over-large `data` is refused with the request's other field
# errors, before any workflow rule looks at it.

MAX_DATA_FIELDS = 50  # a trigger declares a handful
MAX_DATA_KEY = 64  # a field name (workflow names are at most 64 characters)
MAX_DATA_TEXT = 100_000  # the most a workflow may declare for a text field
MAX_DATA_ITEMS = 1_000  # the most a workflow may declare for a list field
MAX_DATA_ITEM_TEXT = 200  # list items are values from the field's declared choices
MAX_DATA_NUMBER = 2**53 - 1  # exact in every JSON parser (and in JSONB)

_NUMBER_SCHEMA = {"minimum": -MAX_DATA_NUMBER, "maximum": MAX_DATA_NUMBER}
DATA_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "maxLength": MAX_DATA_TEXT},
        {"type": "integer", **_NUMBER_SCHEMA},
        {"type": "number", **_NUMBER_SCHEMA},
        {"type": "boolean"},
        {"type": "null"},
        {
            "type": "array",
            "maxItems": MAX_DATA_ITEMS,
            "items": {"type": "string", "maxLength": MAX_DATA_ITEM_TEXT},
        },
    ]
}
SHALLOW = (
    "a value in data is text, a number, true/false, null or a list of texts "
    "(it may not nest deeper)"
)


def _bounded_number(value: int | float) -> None:
    if not math.isfinite(value) or abs(value) > MAX_DATA_NUMBER:
        raise ValueError(f"must be a number between -{MAX_DATA_NUMBER} and {MAX_DATA_NUMBER}")


def bounded_data_value(value: Any) -> Any:
    """One value of a trigger's `data`, within the bounds every trigger shares (ValueError
    naming the bound otherwise); whether it suits the trigger is the workflow's call."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_DATA_TEXT:
            raise ValueError(f"must be at most {MAX_DATA_TEXT} characters")
    elif isinstance(value, int | float):
        _bounded_number(value)
    elif isinstance(value, list):
        if len(value) > MAX_DATA_ITEMS:
            raise ValueError(f"must have at most {MAX_DATA_ITEMS} items")
        for item in value:
            if not isinstance(item, str):
                raise ValueError(SHALLOW)
            if len(item) > MAX_DATA_ITEM_TEXT:
                raise ValueError(f"items must be at most {MAX_DATA_ITEM_TEXT} characters")
    else:
        raise ValueError(SHALLOW)
    return value


DataKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DATA_KEY)]
DataValue = Annotated[Any, AfterValidator(bounded_data_value), WithJsonSchema(DATA_VALUE_SCHEMA)]
TriggerData = Annotated[
    dict[DataKey, DataValue],
    Field(max_length=MAX_DATA_FIELDS, description="The trigger's fields (see its workflow)."),
]
