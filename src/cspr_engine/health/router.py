"""`/healthz` (the process is up) and `/readyz` (the database answers and is migrated)."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from cspr_engine.db import get_engine
from cspr_engine.errors import ServiceUnavailable, error_responses
from cspr_engine.migrations import current_revision, head_revision

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]
    migration: str


@lru_cache
def _head() -> str | None:
    return head_revision()


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database answers and its schema is at the latest migration",
    responses={k: v for k, v in error_responses(ServiceUnavailable).items() if k == 503},
)
def readyz() -> Readiness | JSONResponse:
    try:
        current = current_revision(get_engine())
    except SQLAlchemyError as exc:
        log.warning("readiness: database unreachable (%s)", type(exc).__name__)
        raise ServiceUnavailable("The database does not answer.") from exc
    if current != _head():
        raise ServiceUnavailable(
            f"The database schema is at {current or 'nothing'}, not {_head()}: "
            "run `cspr-engine migrate`.",
        )
    return Readiness(status="ready", database="ok", migration=current or "")
