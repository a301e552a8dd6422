"""CaseDep: the case named in the path, if the caller may see it (404 otherwise, never 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.exceptions import CaseNotFound
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep

CaseKey = Annotated[
    str,
    # No max_length: an over-long key names no case, so it is a 404 like any other unknown key.
    Path(description="The case's id (UUID) or its reference (e.g. TW-2026-0007)."),
]


def get_case_or_404(case_id: CaseKey, session: SessionDep, actor: ActorDep) -> Case:
    case = case_repository.get_visible(session, actor, case_id)
    if case is None:
        raise CaseNotFound("No case with that id or reference is visible to you.")
    return case


CaseDep = Annotated[Case, Depends(get_case_or_404)]
