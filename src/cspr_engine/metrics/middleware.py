"""Counts and times every HTTP request, labelled by its route's template."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cspr_engine.metrics.registry import UNMATCHED, RequestMetrics


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that served the request (`/api/v1/cases/{case_id}`), from
    what the router leaves on the scope; `unmatched` when no route took the request (a 404
    for an unknown path, a redirect to the path with or without its trailing slash).

    `root_path` is the scope's before routing: a mount (the web UI's static files) adds its
    own path to it, and is named `<its path>/{path}`.
    """
    # FastAPI >= 0.16x keeps included routers nested: the route on the scope is the one
    # declared (without the router's prefix) and the whole template is in its own entry.
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path_format", None)
    if not template:
        # Earlier FastAPI (and Starlette routes): the route carries the whole template.
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        mounted = scope.get("root_path", "")
        if isinstance(mounted, str) and mounted != root_path and mounted.startswith(root_path):
            template = mounted[len(root_path) :] + "/{path}"
    return template if isinstance(template, str) and template else UNMATCHED


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = scope.get("root_path", "")
        status = 500  # unless a response starts: an exception escaping is answered with 500

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            self.metrics.observe(
                method=scope["method"],
                route=route_template(scope, root_path),
                status=status,
                seconds=time.perf_counter() - started,
            )
