"""HEAD answered wherever GET is (RFC 9110 §9.3.2): the request runs as a GET and its body is
dropped, its headers (Content-Length included) kept. FastAPI's routes list GET only, so the
OpenAPI document gains no HEAD operations; a 405's `Allow` names HEAD wherever it names GET."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW = b"allow"


def allow_with_head(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with HEAD added to an `Allow` that names GET (methods sorted)."""
    out = []
    for name, value in headers:
        if name.lower() == ALLOW:
            methods = {m.strip().upper() for m in value.decode("latin-1").split(",") if m.strip()}
            if "GET" in methods:
                methods.add("HEAD")
            value = ", ".join(sorted(methods)).encode("latin-1")
        out.append((name, value))
    return out


class HeadAsGetMiddleware:
    """Innermost but for the routes: the middleware around it see the request as the HEAD it
    is (the access log, the metrics) and the router's findings (which route) as for a GET."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        inner = {**scope, "method": "GET"} if head else scope

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                message = {**message, "headers": allow_with_head(list(message["headers"]))}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # a streamed body's chunks: none is sent
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(inner, receive, send_without_body)
        finally:
            if head:
                # What routing left on the copy (the route, its template, a mount's root path)
                # is what the outer middleware read, as they would for a GET.
                scope.update({k: v for k, v in inner.items() if k != "method"})
