"""Request body size limit, enforced before the body reaches a route.

A few paths (document uploads) are allowed more, by pattern: their bodies are not buffered
here but handed on as they arrive and counted; once one outgrows its allowance, reading it
raises PayloadTooLarge in the route, which cleans up what it wrote and answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

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
