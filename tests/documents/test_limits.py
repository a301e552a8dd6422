"""kit.limits with the upload allowance: an upload path's body passes unbuffered and counted
(refused at once when its declared length is over the allowance, before anything is read);
every other body keeps the usual limit."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from cspr_engine.config import Settings
from cspr_engine.documents.upload import MULTIPART_ENVELOPE, body_allowances
from cspr_engine.errors import PayloadTooLarge
from cspr_engine.kit.limits import BodyLimitMiddleware

UPLOAD = "/api/v1/cases/TW-2026-0001/documents"


def scope(path: str, length: int | None) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


class Body:
    """An ASGI receive of `chunks`, counting how many were asked for."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads = 0

    async def __call__(self) -> dict[str, Any]:
        self.reads += 1
        chunk = self.chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}


def run(path: str, length: int | None, chunks: list[bytes]) -> tuple[Body, list[Any], list[Any]]:
    """The middleware (1 KiB usual limit, 4 KiB on upload paths) before an app that reads the
    whole body; what the app read, what it raised, and what was sent."""
    seen: list[Any] = []
    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            while True:
                message = await receive()
                seen.append(message["body"])
                if not message.get("more_body"):
                    break
        except PayloadTooLarge as exc:
            seen.append(exc)

    async def send(message: Any) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(
        app, max_bytes=1024, allowances=[(re.compile(r"^/api/v1/cases/[^/]+/documents$"), 4096)]
    )
    body = Body(chunks)
    asyncio.run(middleware(scope(path, length), body, send))
    return body, seen, sent


def test_an_upload_path_takes_more_than_the_usual_limit_unbuffered() -> None:
    _, seen, sent = run(UPLOAD, 3000, [b"a" * 1500, b"b" * 1500])
    assert seen == [b"a" * 1500, b"b" * 1500]  # chunk by chunk, as they came
    assert sent == []


def test_a_declared_length_over_the_allowance_is_refused_before_reading() -> None:
    body, seen, _ = run(UPLOAD, 5000, [b"a" * 5000])
    assert body.reads == 0
    assert len(seen) == 1
    assert isinstance(seen[0], PayloadTooLarge)


def test_an_undeclared_body_is_refused_once_it_passes_the_allowance() -> None:
    body, seen, _ = run(UPLOAD, None, [b"a" * 3000, b"b" * 3000, b"c" * 3000])
    assert seen[0] == b"a" * 3000
    assert isinstance(seen[1], PayloadTooLarge)
    assert body.reads == 2  # the third chunk is never asked for


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/TW-2026-0001/transitions",
        "/api/v1/cases/TW-2026-0001/documents/x/withdraw",
        "/api/v1/cases/TW-2026-0001/documents/extra",
    ],
)
def test_every_other_path_keeps_the_usual_limit(path: str) -> None:
    _, seen, sent = run(path, 3000, [b"a" * 3000])
    assert seen == []  # the app never ran
    assert sent[0]["status"] == 413


def test_the_allowance_is_a_document_and_its_envelope() -> None:
    settings = Settings(max_document_bytes=5_000_000)
    allowances = body_allowances(settings)
    assert {limit for _, limit in allowances} == {5_000_000 + MULTIPART_ENVELOPE}
    assert [bool(p.match(UPLOAD)) for p, _ in allowances] == [True, False]
    assert [bool(p.match("/ui/cases/TW-2026-0001/documents")) for p, _ in allowances] == [
        False,
        True,
    ]
