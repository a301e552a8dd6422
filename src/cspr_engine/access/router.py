"""HTTP for the access log: who read a case, or tried to, and when."""

from __future__ import annotations

from fastapi import APIRouter

from cspr_engine.access import policy
from cspr_engine.access import repository as access_repository
from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.access.exceptions import AccessLogForbidden
from cspr_engine.access.schemas import AccessEventList, AccessEventRead
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import CaseNotFound
from cspr_engine.db import SessionDep
from cspr_engine.errors import error_responses
from cspr_engine.kit.pagination import (
    CursorQuery,
    LimitQuery,
    decode_keyset,
    encode_keyset,
)

router = APIRouter(tags=["access"])


@router.get(
    "/cases/{case_id}/access",
    response_model=AccessEventList,
    summary="Who reached for the case (read, changed, or was refused), newest first",
    responses=error_responses(CaseNotFound, AccessLogForbidden),
)
def list_access(
    case: CaseDep,
    session: SessionDep,
    actor: LoggedActorDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> AccessEventList:
    if not policy.may(actor, policy.Permission.read_access_log):
        raise AccessLogForbidden("The access log is read by the panel chair and the scrutineer.")
    if not policy.may_change(actor, case):
        # A partnership the case is shared with reads the case, not who in the owner
        # partnership read it.
        raise AccessLogForbidden("The access log of a shared case is its own partnership's.")
    before = decode_keyset(cursor)
    rows = access_repository.events_for_case(session, case.id, before=before, limit=limit + 1)
    page = rows[:limit]
    return AccessEventList(
        items=[AccessEventRead.model_validate(e, from_attributes=True) for e in page],
        next_cursor=(encode_keyset(page[-1].at, page[-1].id) if len(rows) > limit else None),
    )
