"""HTTP for the administrative audit: who changed which account, token, password, webhook,
calendar day or workflow setting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.admin_audit.schemas import AdminEventList
from cspr_engine.db import SessionDep
from cspr_engine.errors import Forbidden, NotFound, error_responses
from cspr_engine.kit.pagination import CursorQuery, LimitQuery

router = APIRouter(tags=["administration"])


@router.get(
    "/admin-events",
    response_model=AdminEventList,
    summary="The administrative audit, newest first: account, role, token, password, webhook, "
    "calendar and configuration changes (the panel chair and scrutineer read their "
    "partnership's; platform admins every one)",
    responses=error_responses(Forbidden, NotFound),
)
def list_admin_events(
    session: SessionDep,
    actor: ActorDep,
    partnership: Annotated[
        str | None,
        Query(max_length=16, description="Platform admins: one partnership's code only."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> AdminEventList:
    return admin_audit.page(
        session, actor=actor, partnership=partnership, limit=limit, cursor=cursor
    )
