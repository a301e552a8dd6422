"""Every domain router, mounted under `/api/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from cspr_engine.access.router import router as access_router
from cspr_engine.accounts.router import router as accounts_router
from cspr_engine.actions.router import router as actions_router
from cspr_engine.alerts.router import router as alerts_router
from cspr_engine.cases.router import router as cases_router
from cspr_engine.deadlines.router import router as deadlines_router
from cspr_engine.documents.router import router as documents_router
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
api_router.include_router(access_router)
api_router.include_router(exports_router)  # issue #7: submission pack, record export
api_router.include_router(calendar_feeds_router)  # issue #7: calendar feeds
