"""Every failure a caller can see, rendered once as RFC 9457 `application/problem+json`.

    CsprError (500: never raised as such)
     ├── BadRequest (400) ........ MalformedBody, MalformedUpload
     ├── Unauthenticated (401)
     ├── Forbidden (403) ......... TriggerForbidden, NotAGateParty, CreateForbidden,
     │                             ExtensionForbidden, AccessLogForbidden, SharedCaseReadOnly,
     │                             RequestForbidden, AnswerForbidden, NoAgency, ActionForbidden,
     │                             LinkForbidden, ShareForbidden, UploadForbidden,
     │                             WithdrawForbidden, ReportForbidden, ExportForbidden
     ├── NotFound (404) .......... CaseNotFound, WorkflowNotFound, GateNotFound, RouteNotFound,
     │                             InformationRequestNotFound, ActionNotFound, LinkNotFound,
     │                             LinkTargetNotFound, ShareNotFound, DocumentNotFound,
     │                             CalendarFeedNotFound, FeedUnavailable
     ├── MethodNotAllowed (405)
     ├── NotAcceptable (406)
     ├── Conflict (409) .......... InvalidTransition, GuardRejected, ConcurrentUpdate, GateClosed,
     │                             RequestsNotOpen, RequestNotOpen, ActionStatusConflict,
     │                             CaseClosedToActions, DuplicateLink, LinkAlreadyRemoved,
     │                             DuplicateShare, ShareAlreadyRevoked, DocumentAlreadyWithdrawn
     ├── DocumentWithdrawn (410)
     ├── PreconditionFailed (412)  StaleVersion, StaleActionVersion
     ├── PayloadTooLarge (413) ... DocumentTooLarge
     ├── UnsupportedMediaType (415) MultipartRequired, DocumentTypeRefused
     ├── Unprocessable (422) ..... InvalidData, UnknownTrigger, InvalidQuery (InvalidPeriod),
     │                             IdempotencyKeyReused
     ├── TooManyRequests (429) ... SignInBackoff, TokenRateLimited, FeedRateLimited
     └── ServiceUnavailable (503)  DocumentIntegrityFailed, DocumentStoreUnavailable

Domain packages raise these (or their own subclasses); the handlers below turn them into
problem documents. A problem never carries a stack trace or a child's data.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cspr_engine.kit.requestid import current_request_id

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One invalid field: where it is (`loc`, dotted) and what is wrong with it."""

    loc: str
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with this service's extension members."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI reference naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class CsprError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}

    @classmethod
    def type_uri(cls) -> str:
        return f"/problems/{cls.slug}"

    def to_problem(self, instance: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
            "request_id": current_request_id(),
        }
        body.update({k: v for k, v in self.extensions.items() if v is not None})
        return body


class BadRequest(CsprError):
    status, slug, title = 400, "bad-request", "Bad request"


class MalformedBody(BadRequest):
    slug, title = "malformed-body", "The request body is not valid JSON"


class Unauthenticated(CsprError):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.headers["WWW-Authenticate"] = 'Bearer realm="cspr_engine"'


class Forbidden(CsprError):
    status, slug, title = 403, "forbidden", "Not permitted for your role"


class NotFound(CsprError):
    status, slug, title = 404, "not-found", "Not found"


class RouteNotFound(NotFound):
    slug, title = "route-not-found", "No such endpoint"


class MethodNotAllowed(CsprError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(CsprError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class ConcurrentUpdate(Conflict):
    slug, title = "concurrent-update", "The case was changed by another request"


class PreconditionFailed(CsprError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(CsprError):
    status, slug, title = 413, "payload-too-large", "The request body is too large"


class UnsupportedMediaType(CsprError):
    status, slug, title = 415, "unsupported-media-type", "Send JSON"


class Unprocessable(CsprError):
    status, slug, title = 422, "unprocessable", "The request could not be processed"


class InvalidData(Unprocessable):
    slug, title = "invalid-data", "Some fields are invalid"

    def __init__(self, errors: list[FieldError], detail: str | None = None, **ext: Any) -> None:
        summary = detail or "; ".join(f"{e.loc}: {e.message}" for e in errors[:5])
        super().__init__(summary, **ext)
        self.errors = list(errors)
        self.extensions["errors"] = [e.model_dump() for e in errors]


class InvalidQuery(Unprocessable):
    slug, title = "invalid-query", "A query parameter is invalid"


class IdempotencyKeyReused(Unprocessable):
    slug, title = "idempotency-key-reused", "Idempotency-Key was used with another request"


class TooManyRequests(CsprError):
    """429 with `Retry-After` (seconds), also given as the `retry_after` member."""

    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extensions: Any) -> None:
        retry_after = max(1, retry_after)
        super().__init__(detail, retry_after=retry_after, **extensions)
        self.headers["Retry-After"] = str(retry_after)


class ServiceUnavailable(CsprError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content=body, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def error_responses(*errors: type[CsprError]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status it may answer with, documented as a Problem."""
    by_status: dict[int, list[str]] = {}
    documented: list[type[CsprError]] = [Unauthenticated, Unprocessable, *errors]
    for err in documented:
        by_status.setdefault(err.status, []).append(err.title)
    return {
        status: {
            "description": "; ".join(dict.fromkeys(titles)),
            # The one media type an error is sent as. No `model`: FastAPI would list the
            # route's own media type too (api.openapi adds the Problem schema).
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status, titles in sorted(by_status.items())
    }


def pydantic_errors(raw: list[Any], prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    """Field errors without the offending input: it may be long, or a child's data."""
    out: list[FieldError] = []
    for err in raw:
        loc = [*prefix, *(p for p in err.get("loc", ()) if p != "body")]
        message = str(err.get("msg", "invalid"))
        out.append(
            FieldError(
                loc=".".join(str(p) for p in loc) or "body",
                message=message.removeprefix("Value error, "),
                type=str(err.get("type", "invalid")),
            )
        )
    return out


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _methods_at(request: Request) -> list[str]:
    """The methods the app's routes answer at the request's path (HEAD wherever GET): each
    method tried against the app's routes (routers nest, so a route's own list is not all)."""
    routes = request.app.router.routes
    found = {
        method
        for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    }
    if "GET" in found:
        found.add("HEAD")
    return sorted(found)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(CsprError)
    async def _cspr_error(request: Request, exc: CsprError) -> JSONResponse:
        return problem_response(exc.status, exc.to_problem(request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = list(exc.errors())
        # The body as a whole is missing or not an object; a model-level rule that the body
        # breaks (a `value_error`, e.g. a child's identifier) is a field error like any other.
        whole_body = [
            e
            for e in raw
            if tuple(e.get("loc", ())) == ("body",) and e.get("type") != "value_error"
        ]
        content_type = request.headers.get("content-type", "")
        err: CsprError
        if any(e.get("type") == "json_invalid" for e in raw):
            err = MalformedBody("The body could not be parsed as JSON.")
        elif whole_body and "json" not in content_type:
            err = UnsupportedMediaType(
                "Send the body as a JSON object with `Content-Type: application/json`."
            )
        elif whole_body and whole_body[0].get("type") == "missing":
            err = MalformedBody("This request needs a JSON object as its body.")
        elif whole_body:
            err = InvalidData(
                [FieldError(loc="body", message="must be a JSON object", type="object")]
            )
        else:
            err = InvalidData(pydantic_errors(raw))
        return problem_response(err.status, err.to_problem(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {}) or None
        err: CsprError
        if exc.status_code == 404:
            err = RouteNotFound(f"There is no endpoint at {request.url.path}.")
        elif exc.status_code == 400:
            # FastAPI's own refusal of a body it cannot parse (e.g. JSON nested too deep).
            err = MalformedBody("The body could not be parsed as JSON.")
        elif exc.status_code == 405:
            allowed = _methods_at(request)
            if allowed:
                # Every method some route of this path answers, not only the first route's.
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            err = MethodNotAllowed(
                f"{request.method} is not allowed here"
                + (f"; this path answers {', '.join(allowed)}." if allowed else ".")
            )
        else:
            body = CsprError(str(exc.detail)).to_problem(request.url.path)
            body.update(type="about:blank", title=str(exc.detail), status=exc.status_code)
            return problem_response(exc.status_code, body, headers)
        return problem_response(err.status, err.to_problem(request.url.path), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one place a 500 may come from: log the class only, never the message (it may
        # quote case content), and answer with a problem that carries the request id.
        request_id = getattr(request.state, "request_id", None)
        log.error(
            "unhandled error %s on %s %s (request %s)",
            type(exc).__name__,
            request.method,
            request.url.path,
            request_id,
        )
        body = CsprError(
            "Something went wrong on our side; quote the request id if you report it."
        ).to_problem(request.url.path)
        body["request_id"] = request_id
        # Outside the middleware too: the security headers it meant to add (kit.headers).
        headers = dict(getattr(request.state, "security_headers", None) or [])
        if request_id:
            headers["x-request-id"] = request_id
        return problem_response(500, body, headers or None)
