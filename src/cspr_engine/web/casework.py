"""The case page's casework pages (information requests, improvement actions, links and
shares, documents): each package's pages are on its own router, mounted here."""

from __future__ import annotations

from fastapi import APIRouter

from cspr_engine.web.casework_actions import router as actions_router
from cspr_engine.web.casework_documents import router as documents_router
from cspr_engine.web.casework_links import router as links_router
from cspr_engine.web.casework_requests import router as requests_router

router = APIRouter()
router.include_router(requests_router)
router.include_router(actions_router)
router.include_router(links_router)
router.include_router(documents_router)
