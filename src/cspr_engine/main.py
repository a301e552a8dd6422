"""create_app(): routers, problem handlers, middleware, and what happens at start-up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session

from cspr_engine import __version__
from cspr_engine.access import policy
from cspr_engine.access.middleware import AccessLogMiddleware
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SESSION_COOKIE
from cspr_engine.accounts.exceptions import EmailTaken
from cspr_engine.api import docs as api_docs
from cspr_engine.api.openapi import install as install_openapi
from cspr_engine.api.openapi import operation_id
from cspr_engine.api.router import api_router
from cspr_engine.cases.exceptions import ConcurrentUpdate
from cspr_engine.config import ConfigurationError, Settings, get_settings
from cspr_engine.db import get_engine, is_write_conflict
from cspr_engine.documents import upload as document_upload
from cspr_engine.errors import (
    CsprError,
    ServiceUnavailable,
    Unprocessable,
    install_handlers,
    problem_response,
)
from cspr_engine.health.router import router as health_router
from cspr_engine.kit.clock import SystemClock
from cspr_engine.kit.head import HeadAsGetMiddleware
from cspr_engine.kit.headers import SecurityHeadersMiddleware
from cspr_engine.kit.limits import BodyLimitMiddleware
from cspr_engine.kit.logs import install_log_filters
from cspr_engine.kit.requestid import RequestIdMiddleware
from cspr_engine.kit.throttle import AnonymousBudgetMiddleware
from cspr_engine.workflow import service as workflow_service

log = logging.getLogger(__name__)

DESCRIPTION = """\
Statutory workflow engine for serious child safeguarding incidents in England: notification
to the Child Safeguarding Practice Review Panel, the rapid review and the safeguarding
partners' joint decision, local child safeguarding practice reviews, publication and the
monitoring of improvement actions. Every error is an RFC 9457 problem document.
"""


def _bootstrap(settings: Settings) -> None:
    if not settings.bootstrap_admin_token:
        return
    with Session(get_engine()) as session:
        try:
            created = accounts_service.ensure_bootstrap_admin(
                session=session, secret=settings.bootstrap_admin_token, now=SystemClock().now()
            )
            # Read before the commit: a committed row is expired, and is gone with the session.
            created_id = created.id if created is not None else None
            session.commit()
        except (IntegrityError, EmailTaken):
            # Another process starting at the same moment (the two web units of
            # docs/deployment.md) created it first, and its row met ours at the insert
            # (EmailTaken) or at the commit: that one stands.
            session.rollback()
            created_id = None
    if created_id is not None:
        log.info("bootstrap platform admin created (user %s)", created_id)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    _bootstrap(settings)
    scheduler = None
    if settings.scheduler_enabled:
        from cspr_engine.scheduler.runner import Scheduler

        scheduler = Scheduler(settings)
        scheduler.start()
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.shutdown()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Load every workflow file now: a bad file stops the service with its name and fault.
    workflow_service.get_definitions()
    workflow_service.check_clock_start_options(settings.clock_start_options)
    faults = [
        f for d in workflow_service.get_definitions().values() for f in policy.check_workflow(d)
    ]
    if faults:
        raise ConfigurationError("workflow grants a read-only role a change: " + "; ".join(faults))
    install_log_filters()
    app = FastAPI(
        title="cspr_engine",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # Served by api.docs from this origin's own copies (FastAPI's pages load a CDN's).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    install_openapi(app)
    app.state.settings = settings
    install_handlers(app)

    @app.exception_handler(OperationalError)
    async def _database_conflict(request: Request, exc: OperationalError) -> JSONResponse:
        # SQLite refuses a writer whose snapshot went stale; PostgreSQL may abort a
        # serialisation loser. Either way another request changed the case first.
        err: CsprError
        if is_write_conflict(exc):
            err = ConcurrentUpdate("Another request changed the case first; fetch it and retry.")
        else:
            log.error("database error %s on %s", type(exc.orig).__name__, request.url.path)
            err = ServiceUnavailable("The database is not available; try again shortly.")
        return problem_response(err.status, err.to_problem(request.url.path))

    @app.exception_handler(DataError)
    async def _unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (PostgreSQL: a NUL character in a query parameter, a
        # number out of range): the request is at fault, and no input may yield a 500.
        log.info("database refused a value (%s) on %s", type(exc.orig).__name__, request.url.path)
        err = Unprocessable(
            "A value in the request cannot be stored or searched for "
            "(for example a NUL character, or a number out of range)."
        )
        return problem_response(err.status, err.to_problem(request.url.path))

    # Outermost last: security headers on everything; the request id known to everything
    # inside; the access log row written once the request (and its transaction) is over.
    # Innermost, around the routes: HEAD runs as a GET wherever GET does (kit.head).
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # Document uploads may be as large as a document (documents.upload streams them).
        allowances=document_upload.body_allowances(settings),
    )
    app.add_middleware(AccessLogMiddleware)
    # Requests without credentials, a budget per address, spent before any database work.
    app.add_middleware(
        AnonymousBudgetMiddleware,
        per_minute=settings.anonymous_requests_per_minute,
        credential_cookies=[SESSION_COOKIE],
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(
        SecurityHeadersMiddleware,
        docs_paths=api_docs.PATHS,
        # Behind TLS (the session cookie is Secure): browsers are told to keep to HTTPS.
        hsts=settings.cookie_secure,
    )
    # Issue #7 (observability): request metrics and the log context around everything (the
    # outermost middleware), and GET /metrics.
    from cspr_engine.metrics import install as install_metrics

    install_metrics(app)
    app.include_router(health_router)
    app.include_router(api_router)
    app.include_router(api_docs.router)
    _mount_web(app)
    return app


def _mount_web(app: FastAPI) -> None:
    """The web UI at /ui, its styles and scripts at /ui/static; / leads to it."""
    from fastapi.responses import RedirectResponse
    from fastapi.staticfiles import StaticFiles

    from cspr_engine.feeds.router import feed_router  # issue #7: calendar feeds
    from cspr_engine.web.admin import router as admin_router
    from cspr_engine.web.administrative_record import router as administrative_record_router
    from cspr_engine.web.casework import router as casework_router
    from cspr_engine.web.errors import install_page_errors
    from cspr_engine.web.exports import router as exports_page_router  # issue #7: exports
    from cspr_engine.web.feeds import router as feeds_page_router  # issue #7: calendar feeds
    from cspr_engine.web.reports import router as reports_page_router  # issue #7: reports
    from cspr_engine.web.router import router as web_router
    from cspr_engine.web.templating import STATIC_DIR

    if not (STATIC_DIR / "build" / "app.css").is_file():
        log.warning("web UI styles not built: run `make assets` (pages will be unstyled)")
    app.include_router(web_router)
    app.include_router(admin_router)
    app.include_router(administrative_record_router)
    app.include_router(casework_router)
    app.include_router(reports_page_router)  # issue #7: the reports page, /ui/reports
    app.include_router(exports_page_router)  # issue #7: the pack and record downloads
    app.include_router(feed_router)  # issue #7: the calendar feed, /feeds/{secret}.ics
    app.include_router(feeds_page_router)  # issue #7: its page, /ui/calendar-feed
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui_static")

    @app.get("/", include_in_schema=False)
    def _home() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)

    install_page_errors(app)
