"""Every domain router, mounted under `/api/v1`."""

from __future__ import annotations

from fastapi import APIRouter

from cspr_engine.cases.router import router as cases_router
from cspr_engine.workflow.router import router as workflows_router

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(workflows_router)
api_router.include_router(cases_router)
