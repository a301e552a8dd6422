"""The case page's downloads: the rapid review submission pack (Markdown or Word) and the
case's record as JSON, served to the signed-in user as the API serves them (a browser without a
session is sent to sign in first; a refusal is an error page). Every rule is exports.service's.

`may_export_record(user, case)` is the case page's question whether to offer the record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from cspr_engine.cases.schemas import CaseRead
from cspr_engine.db import SessionDep
from cspr_engine.exports import service as export_service
from cspr_engine.exports.schemas import PackFormat
from cspr_engine.kit.clock import ClockDep
from cspr_engine.web.auth import LoggedWebUserDep, WebUser
from cspr_engine.web.router import NO_STORE, _case_or_404
from cspr_engine.web.templating import templates
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/ui/cases", include_in_schema=False)

CaseKey = Annotated[str, Path(max_length=64)]


def may_export_record(user: WebUser | None, case: CaseRead) -> bool:
    """Whether the case page offers `user` the record's download: the roles that may export,
    of the case's own partnership (exports.service.may_export, on the page's view of the case)."""
    return (
        user is not None
        and user.actor.partnership_code == case.partnership
        and export_service.exporting_role(user.actor)
    )


def has_submission_pack(case: CaseRead) -> bool:
    """Whether the case page offers the rapid review submission pack (its workflow has one)."""
    return export_service.has_pack(workflow_service.get(case.workflow, case.workflow_version))


templates.env.globals["may_export_record"] = may_export_record
templates.env.globals["has_submission_pack"] = has_submission_pack


# Named as the API's routes are, so the access log names the same actions.
@router.get("/{key}/submission-pack", name="submission_pack")
def submission_pack(
    request: Request,
    key: CaseKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
    fmt: Annotated[PackFormat, Query(alias="format")] = PackFormat.md,
) -> Response:
    case = _case_or_404(request, session, user, key)
    built = export_service.pack_of(session, case=case, actor=user.actor, now=clock.now())
    return Response(
        export_service.render_pack(built, fmt),
        media_type=export_service.media_type(fmt),
        headers={
            **NO_STORE,
            "Content-Disposition": export_service.attachment(
                export_service.pack_filename(case, fmt)
            ),
        },
    )


@router.get("/{key}/export", name="export")
def export(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    case = _case_or_404(request, session, user, key)
    record = export_service.record_of(session, case=case, actor=user.actor, now=clock.now())
    return JSONResponse(
        record.model_dump(mode="json"),
        headers={
            **NO_STORE,
            "Content-Disposition": export_service.attachment(export_service.record_filename(case)),
        },
    )
