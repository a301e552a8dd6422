"""Security headers on every response: no sniffing, no framing, no referrer, a Content-Security-
Policy (strict everywhere, relaxed only on the interactive API docs), `no-store` on the API
(case data must not linger in caches) and HSTS when the service is served over TLS."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# JSON never loads anything, so an API response allows nothing at all.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Pages of this origin (the web UI, error pages) load from this origin only.
PAGE_CSP = (
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# Swagger UI and ReDoc (api.docs): this origin only. Scripts are files (Swagger UI's start-up
# script too); both set style attributes and ReDoc writes <style> elements, hence inline
# styles; images are this origin's or data: URIs; the document (and Swagger's "Try it out")
# is fetched from here; ReDoc's search runs in a worker made from a blob.
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
HSTS = "max-age=31536000"
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), "
    "hid=(), display-capture=(), fullscreen=(self), interest-cohort=()"
)
API_PREFIX = "/api/"
# Where the last-resort 500 handler (which runs outside every middleware) finds them.
STATE_KEY = "security_headers"


def security_headers(path: str, *, docs_paths: Iterable[str], hsts: bool) -> list[tuple[str, str]]:
    """The headers a response to `path` carries (names lower-case)."""
    if path.startswith(API_PREFIX):
        csp = API_CSP
    elif path in docs_paths:
        csp = DOCS_CSP
    else:
        csp = PAGE_CSP
    headers = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", csp),
        # No powerful browser feature is used; no other origin's window shares this one's
        # context; nothing here is embedded by another origin.
        ("permissions-policy", PERMISSIONS_POLICY),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ]
    if path.startswith(API_PREFIX):
        headers.append(("cache-control", "no-store"))
    if hsts:
        headers.append(("strict-transport-security", HSTS))
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, docs_paths: Iterable[str], hsts: bool) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = security_headers(scope["path"], docs_paths=self.docs_paths, hsts=self.hsts)
        scope.setdefault("state", {})[STATE_KEY] = wanted

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                # A route's own choice (e.g. a Cache-Control of its own) stands.
                headers += [
                    (name.encode(), value.encode())
                    for name, value in wanted
                    if name.encode() not in present
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
