"""Errors on web pages: an HTML page in the service's layout instead of a problem document,
and a browser without a session sent to sign in. The API's answers are untouched."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cspr_engine.errors import CsprError
from cspr_engine.web.auth import SignInRequired
from cspr_engine.web.templating import templates

log = logging.getLogger(__name__)

UI_PREFIX = "/ui"

TITLES = {
    400: "The request could not be read",
    403: "You cannot do that",
    404: "Page not found",
    405: "Page not found",
    409: "That could not be done",
    413: "What you sent is too large",
    422: "The request could not be read",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
    503: "Sorry, the service is unavailable",
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def error_page(request: Request, status: int, detail: str | None) -> Response:
    title = TITLES.get(status, "That could not be done")
    if status in (404, 405):
        detail = (
            "If you typed the web address, check it is correct. If you followed a link to a "
            "case, it may belong to another partnership, or you may not have access to it."
        )
    response = templates.TemplateResponse(
        request,
        "error.html",
        {
            "title": title,
            "detail": detail,
            "status": status,
            "request_id": getattr(request.state, "request_id", None),
            "user": None,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    # A 500 is answered outside the middleware that adds the security headers (kit.headers).
    for name, value in getattr(request.state, "security_headers", None) or []:
        response.headers.setdefault(name, value)
    return response


def install_page_errors(app: FastAPI) -> None:
    """Wrap every error handler the app has: on a page, the same error answers with HTML
    (the API's status and, where it is meant for people, its detail)."""
    api_handlers: dict[Any, Any] = dict(app.exception_handlers)

    def wrap(kind: Any) -> None:
        api_handler = api_handlers[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if not is_page(request):
                response: Response = await api_handler(request, exc)
                return response
            if isinstance(exc, SignInRequired):
                return RedirectResponse(exc.next_path, status_code=303)
            if isinstance(exc, CsprError):
                return error_page(request, exc.status, exc.detail)
            if isinstance(exc, StarletteHTTPException):
                return error_page(request, exc.status_code, None)
            if isinstance(exc, RequestValidationError):
                return error_page(request, 400, "Part of the web address is not valid.")
            if kind is not Exception:
                # A handler of the app's own (a database refusal, a busy database): its status,
                # and its detail, which says what to do.
                answer = await api_handler(request, exc)
                try:
                    detail = json.loads(answer.body).get("detail")
                except (ValueError, AttributeError):
                    detail = None
                return error_page(request, answer.status_code, detail)
            log.error(
                "unhandled error %s on page %s (request %s)",
                type(exc).__name__,
                request.url.path,
                getattr(request.state, "request_id", None),
            )
            return error_page(
                request, 500, "Try again later. If it happens again, quote the request id."
            )

        app.add_exception_handler(kind, handler)

    for kind in list(api_handlers):
        wrap(kind)
