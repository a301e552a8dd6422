"""CaseDep: the case named in the path, if the caller may read it (404 otherwise, never 403).

Whether it may is access.policy's call; the attempt, allowed or refused, goes to the access log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from cspr_engine.access import policy
from cspr_engine.access import service as access_service
from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.exceptions import CaseNotFound, SharedCaseReadOnly
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep

READS = frozenset({"GET", "HEAD"})
MAX_KEY = 64  # cases.repository never looks a longer key up

CaseKey = Annotated[
    str,
    # The bound is documented, not enforced as a 422: an over-long key names no case, so it is
    # a 404 like any other unknown key (and the attempt is logged); it is never looked up.
    Path(
        description="The case's id (UUID) or its reference (e.g. TW-2026-0007).",
        json_schema_extra={"maxLength": MAX_KEY},
    ),
]


def get_case_or_404(
    request: Request, case_id: CaseKey, session: SessionDep, actor: LoggedActorDep
) -> Case:
    case = case_repository.get_visible(session, actor, case_id)
    if case is None:
        attempted = case_repository.attempted_case_id(session, case_id)
        access_service.note_case(request.scope, attempted, denied=True)
        raise CaseNotFound("No case with that id or reference is visible to you.")
    access_service.note_case(request.scope, case.id)
    if request.method not in READS and not policy.may_change(actor, case):
        access_service.note_case(request.scope, case.id, denied=True)
        raise SharedCaseReadOnly(
            "This case is shared with your partnership to read; only its own partnership "
            "changes it."
        )
    return case


CaseDep = Annotated[Case, Depends(get_case_or_404)]
