"""Every domain router, mounted under `/api/v1`, with the problems any route may answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from cspr_engine.access.router import router as access_router
from cspr_engine.accounts.dependencies import get_actor
from cspr_engine.accounts.exceptions import CsrfTokenInvalid
from cspr_engine.accounts.router import router as accounts_router
from cspr_engine.actions.router import router as actions_router
from cspr_engine.admin_audit.router import router as admin_audit_router
from cspr_engine.alerts.router import router as alerts_router
from cspr_engine.cases.router import router as cases_router
from cspr_engine.configuration.router import router as configuration_router
from cspr_engine.deadlines.router import router as deadlines_router
from cspr_engine.documents.router import router as documents_router
from cspr_engine.errors import (
    ConcurrentUpdate,
    CsprError,
    MalformedBody,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_responses,
)
from cspr_engine.exports.router import router as exports_router  # issue #7: exports
from cspr_engine.feeds.router import router as calendar_feeds_router  # issue #7: calendar feeds
from cspr_engine.information_requests.router import router as information_requests_router
from cspr_engine.links.router import router as links_router
from cspr_engine.reports.router import router as reports_router  # issue #7: reports
from cspr_engine.workflow.router import router as workflows_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(workflows_router)
# issue #7: reports; before cases, whose /cases/{case_id} would take /cases/export.csv
api_router.include_router(reports_router)
api_router.include_router(cases_router)
api_router.include_router(deadlines_router)
api_router.include_router(information_requests_router)
api_router.include_router(actions_router)
api_router.include_router(links_router)
api_router.include_router(documents_router)
api_router.include_router(alerts_router)
api_router.include_router(accounts_router)
api_router.include_router(configuration_router)
api_router.include_router(access_router)
api_router.include_router(admin_audit_router)
api_router.include_router(exports_router)  # issue #7: submission pack, record export
api_router.include_router(calendar_feeds_router)  # issue #7: calendar feeds


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def shared_problems(route: APIRoute) -> list[type[CsprError]]:
    """What a route may answer whatever it declares, because it is raised around it: the
    database unavailable (main's handler), a write that lost a race for the database, a body
    over the limit (kit.limits, before any route runs), a JSON body that is no JSON or none
    at all, and a write made with the session cookie but without its CSRF token."""
    shared: list[type[CsprError]] = [ServiceUnavailable]
    unsafe = bool((route.methods or set()) - {"GET", "HEAD"})
    if unsafe:
        shared += [ConcurrentUpdate, PayloadTooLarge]
        if _depends_on(route.dependant, get_actor):
            shared.append(CsrfTokenInvalid)
    if route.body_field is not None:
        shared += [MalformedBody, UnsupportedMediaType]
    return shared


def document_shared_problems(router: APIRouter) -> None:
    """Adds shared_problems to each route's documented responses, beside its own (a status it
    documents already gains the titles it lacks)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        # A new dict: routes may share the one their module declared.
        merged = dict(route.responses)
        for status, response in error_responses(*shared_problems(route)).items():
            documented = merged.get(status)
            if documented is None:
                merged[status] = response
                continue
            titles = str(documented.get("description", "")).split("; ")
            extra = [t for t in str(response["description"]).split("; ") if t not in titles]
            if extra:
                merged[status] = {**documented, "description": "; ".join([*titles, *extra])}
        route.responses = merged


for _domain_router in (
    workflows_router,
    reports_router,
    cases_router,
    deadlines_router,
    information_requests_router,
    actions_router,
    links_router,
    documents_router,
    alerts_router,
    accounts_router,
    configuration_router,
    access_router,
    admin_audit_router,
    exports_router,
    calendar_feeds_router,
):
    # The app builds its routes from these when it includes api_router (not before).
    document_shared_problems(_domain_router)
