"""Writes the access log row of every request that noted one (see access.service).

The row is written in its own short transaction once the request is over: after its
transaction has committed or rolled back, so it survives a failed request, never waits for the
request's own locks (SQLite has one writer; a request may hold the write lock until its session
closes), and never holds locks the request needs. The response is held back until the row is
written: a read that cannot be recorded is not served (503); a refusal, or a change already
committed (and so in the case's audit chain), is answered as it was.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cspr_engine.access import service as access_service
from cspr_engine.audit.models import AccessEvent
from cspr_engine.db import get_engine, writer_bind
from cspr_engine.errors import PROBLEM_MEDIA_TYPE, ServiceUnavailable

log = logging.getLogger(__name__)

READS = frozenset({"GET", "HEAD"})


def _write(event: AccessEvent) -> bool:
    try:
        with Session(writer_bind(get_engine())) as session:
            session.add(event)
            session.commit()
    except SQLAlchemyError as exc:
        log.error("access log: no row for request %s (%s)", event.request_id, type(exc).__name__)
        return False
    return True


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] | None = None
        status = 500

        async def hold(message: Message) -> None:
            nonlocal held, status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # Dependencies have run by now: a request that reached for a case says so.
                if access_service.current_note(scope) is not None:
                    held = [message]
                    return
            elif held is not None:
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, hold)
        except Exception:
            # The last-resort handler outside this middleware answers 500; the attempt is
            # still recorded.
            await self._record(scope, 500)
            raise
        if held is None:
            return
        if not await self._record(scope, status) and scope["method"] in READS and status < 400:
            await self._refuse(scope, send)
            return
        for message in held:
            await send(message)

    async def _record(self, scope: Scope, status: int) -> bool:
        note = access_service.current_note(scope)
        if note is None:
            return True
        request_id = scope.get("state", {}).get("request_id")
        event = access_service.entry(note, scope=scope, status=status, request_id=request_id)
        return await run_in_threadpool(_write, event)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        err = ServiceUnavailable("The read could not be recorded in the access log; try again.")
        body = json.dumps(err.to_problem(scope.get("path"))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": err.status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
