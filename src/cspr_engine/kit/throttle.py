"""A budget of requests per client address for requests that carry no credentials (sign-in,
its page, anything probed without a token or a session cookie), kept in memory and checked
before anything reaches the database, so a flood from one address costs no reads and no
writes once its budget is spent, and other addresses are not touched.

Each address has a bucket of `per_minute` requests that refills evenly over a minute. Health
and readiness probes, metrics and static files are outside it. Requests with credentials are
outside it too: they are checked (and rate limited where it matters) by what they reach.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from cspr_engine.errors import TooManyRequests

EXEMPT_PREFIXES = ("/healthz", "/readyz", "/metrics", "/ui/static/")
MAX_ADDRESSES = 10_000  # the buckets kept; the least recently seen go first beyond this


class AddressBudget:
    """Buckets by address: `take(address)` is 0 when a request may go ahead, else the seconds
    until one may."""

    def __init__(self, per_minute: int, now: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.now = now
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, address: str) -> int:
        now = self.now()
        tokens, at = self.buckets.pop(address, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.per_second)
        wait = 0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = max(1, math.ceil((1 - tokens) / self.per_second))
        self.buckets[address] = (tokens, now)
        while len(self.buckets) > MAX_ADDRESSES:
            self.buckets.popitem(last=False)
        return wait


class AnonymousBudgetMiddleware:
    def __init__(self, app: ASGIApp, *, per_minute: int, credential_cookies: Iterable[str]) -> None:
        self.app = app
        self.budget = AddressBudget(per_minute)
        self.cookies = tuple(f"{name}=".encode() for name in credential_cookies)

    def _anonymous(self, scope: Scope) -> bool:
        if str(scope.get("path", "")).startswith(EXEMPT_PREFIXES):
            return False
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return False
            if name == b"cookie" and any(c in value for c in self.cookies):
                return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._anonymous(scope):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.budget.take(str(client[0]) if client else "")
        if not wait:
            await self.app(scope, receive, send)
            return
        err = TooManyRequests(
            "Too many requests without credentials from this address; wait before trying again.",
            retry_after=wait,
        )
        payload = json.dumps(err.to_problem(scope.get("path"))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"retry-after", str(wait).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
