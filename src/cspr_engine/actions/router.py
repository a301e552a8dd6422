"""HTTP for a case's improvement actions: list (with the recorded texts they come from), add,
read one with its update history, change one (If-Match on the action's own version)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Header, Path, Query, status
from fastapi.responses import JSONResponse
from sqlmodel import Session

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.accounts.schemas import Actor
from cspr_engine.actions import repository
from cspr_engine.actions import service as action_service
from cspr_engine.actions.exceptions import (
    ActionForbidden,
    ActionNotFound,
    ActionStatusConflict,
    CaseClosedToActions,
    StaleActionVersion,
)
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.actions.schemas import (
    ActionCreate,
    ActionDetail,
    ActionList,
    ActionPatch,
    Status,
)
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    SharedCaseReadOnly,
    StaleVersion,
)
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.errors import InvalidQuery, MalformedBody, PayloadTooLarge, error_responses
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.http import MAX_IF_MATCH, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_cursor, encode_cursor
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/cases", tags=["actions"])

ActionKey = Annotated[
    str,
    # The bound is documented, not enforced as a 422: an over-long key names no action (it is
    # neither a UUID nor A<number>), so it is a 404 like any other.
    Path(
        description="The action's id (UUID) or its reference in the case (A1).",
        json_schema_extra={"maxLength": 64},
    ),
]


def _action_or_404(session: Session, case: Case, key: str) -> ImprovementAction:
    action = repository.get_for_case(session, case.id, key)
    if action is None:
        raise ActionNotFound("The case has no action with that id or reference.")
    return action


def _detail_response(
    session: Session, case: Case, action: ImprovementAction, actor: Actor, now: datetime
) -> tuple[dict[str, Any], dict[str, str]]:
    body = action_service.present_detail(session, case, action, actor, now)
    return body.model_dump(mode="json"), {"ETag": etag(action.version)}


@router.get(
    "/{case_id}/actions",
    response_model=ActionList,
    summary="The case's improvement actions, A1 first, with the texts they come from",
    responses=error_responses(CaseNotFound),
)
def list_actions(
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    status_: Annotated[
        str | None, Query(alias="status", max_length=32, description="Only actions with it.")
    ] = None,
    owner_agency: Annotated[
        str | None, Query(max_length=32, description="Only actions this agency owns.")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ActionList:
    after = 0
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**31:
            raise InvalidQuery("The cursor is not one this service issued.")
    statuses = get_args(Status)
    if status_ is not None and status_ not in statuses:
        raise InvalidQuery(f"status must be one of: {', '.join(statuses)}.", parameter="status")
    agencies = workflow_service.definition_for(case).agencies
    if owner_agency is not None and owner_agency not in agencies:
        raise InvalidQuery(
            f"owner_agency must be one of: {', '.join(agencies)}.", parameter="owner_agency"
        )
    rows = repository.list_for_case(
        session,
        case.id,
        status=status_,
        owner_agency=owner_agency,
        after_number=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    return ActionList(
        items=action_service.present(session, case, page, actor, clock.now()),
        next_cursor=encode_cursor([page[-1].number]) if len(rows) > limit else None,
        sources=action_service.sources(case),
        may_create=action_service.may_create(actor, case),
    )


@router.post(
    "/{case_id}/actions",
    response_model=ActionDetail,
    status_code=status.HTTP_201_CREATED,
    summary="Add an improvement action (qpd, panel chair); its action_due clock starts",
    responses={
        **documented_headers(201, "ETag", "Location"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            SharedCaseReadOnly,
            ActionForbidden,
            CaseClosedToActions,
            StaleVersion,
            ConcurrentUpdate,
            PayloadTooLarge,
        ),
    },
)
def create_action(
    payload: ActionCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: Annotated[
        str | None,
        Header(
            description='Conditional on the CASE version (its ETag, e.g. "4").',
            json_schema_extra={"maxLength": MAX_IF_MATCH},
        ),
    ] = None,
) -> JSONResponse:
    now = clock.now()
    action = action_service.create_action(
        session=session,
        case=case,
        payload=payload,
        actor=actor,
        now=now,
        expected_version=parse_if_match(if_match),
    )
    body, headers = _detail_response(session, case, action, actor, now)
    headers["Location"] = f"/api/v1/cases/{case.id}/actions/{action.id}"
    session.commit()
    return JSONResponse(body, status_code=status.HTTP_201_CREATED, headers=headers)


@router.get(
    "/{case_id}/actions/{action_id}",
    response_model=ActionDetail,
    summary="An improvement action with its full update history",
    responses={**documented_headers(200, "ETag"), **error_responses(CaseNotFound, ActionNotFound)},
)
def read_action(
    action_id: ActionKey, case: CaseDep, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> JSONResponse:
    action = _action_or_404(session, case, action_id)
    body, headers = _detail_response(session, case, action, actor, clock.now())
    return JSONResponse(body, headers=headers)


@router.patch(
    "/{case_id}/actions/{action_id}",
    response_model=ActionDetail,
    summary="Change an improvement action: status, evidence of impact, due date, owner ...",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            ActionNotFound,
            SharedCaseReadOnly,
            ActionForbidden,
            ActionStatusConflict,
            CaseClosedToActions,
            StaleActionVersion,
            ConcurrentUpdate,
            PayloadTooLarge,
        ),
    },
)
def update_action(
    action_id: ActionKey,
    patch: ActionPatch,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: Annotated[
        str | None,
        Header(
            description='Conditional on the ACTION version (its ETag, e.g. "2").',
            json_schema_extra={"maxLength": MAX_IF_MATCH},
        ),
    ] = None,
) -> JSONResponse:
    expected = parse_if_match(if_match)
    action = _action_or_404(session, case, action_id)
    now = clock.now()
    action_service.update_action(
        session=session,
        case=case,
        action=action,
        patch=patch,
        actor=actor,
        now=now,
        expected_version=expected,
    )
    body, headers = _detail_response(session, case, action, actor, now)
    session.commit()
    return JSONResponse(body, headers=headers)
