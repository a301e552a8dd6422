"""Bounds on every connection `serve` accepts, in the HTTP protocol itself (uvicorn's httptools
protocol, which bounds none of these): the size of a request's head (request line and
headers), how long a client may take to send it, how long a body may stall, and how many
requests one connection may carry. A reverse proxy bounds the same again in front (see
docs/deployment.md); these hold when it is not there, or lets something through.

- A head larger than `max_head_bytes` is answered 431 and the connection closed, before the
  parser has buffered more than one read past the bound.
- A connection that sends no complete head within `head_timeout` seconds of opening, or of
  its last response, is answered 408 if it sent anything, and closed.
- A body that stalls for `body_idle_timeout` seconds is abandoned and the connection closed.
- After `max_requests` requests a connection is closed once its last response is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True)
class ConnectionLimits:
    max_head_bytes: int = 32 * 1024
    head_timeout: float = 10.0
    body_idle_timeout: float = 30.0
    max_requests: int = 1000


def bounded_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` that holds `limits`."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"limits": limits})


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._served = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- the connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        elif self._body_timer is not None:
            self._arm_body_timer()
        super().data_received(data)
        # Still inside the head after this read, and past the bound: refuse it now, so the
        # parser never holds more than one read beyond it.
        if self._in_head and self._head_bytes > self.limits.max_head_bytes:
            self._refuse(431, "The request's headers are too large.")

    # -- the parser's callbacks ----------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()
        self._served += 1
        if self._served >= self.limits.max_requests and self.cycle is not None:
            self.cycle.keep_alive = False  # answered with `connection: close`
        if self.cycle is not None and self.cycle.more_body:
            self._arm_body_timer()

    def on_message_complete(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_head()

    # -- timers ------------------------------------------------------------------------------

    def _await_head(self) -> None:
        """The next request's head is due within head_timeout seconds."""
        self._in_head, self._head_bytes = True, 0
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._head_bytes:
            self._refuse(408, "The request took too long to arrive.")
        else:
            self.transport.close()  # an idle connection: nothing to answer

    def _arm_body_timer(self) -> None:
        self._cancel(self._body_timer)
        self._body_timer = self.loop.call_later(self.limits.body_idle_timeout, self._body_stalled)

    def _body_stalled(self) -> None:
        self._body_timer = None
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _refuse(self, status: int, message: str) -> None:
        if self.transport.is_closing():
            return
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status])
            + b"content-type: text/plain; charset=utf-8\r\n"
            + b"content-length: %d\r\n" % len(body)
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()
        self._cancel_timers()
        self.parser = None  # type: ignore[assignment]  # what it buffered goes with it
