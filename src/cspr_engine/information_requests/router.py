"""HTTP for information requests: a case's requests (list, ask, read, answer, withdraw) and an
agency's inbox of the requests addressed to it across cases."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse
from sqlmodel import Session

from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    SharedCaseReadOnly,
    StaleVersion,
)
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.errors import InvalidQuery, MalformedBody, error_responses
from cspr_engine.information_requests import repository
from cspr_engine.information_requests import service as request_service
from cspr_engine.information_requests.exceptions import (
    AnswerForbidden,
    InformationRequestNotFound,
    NoAgency,
    RequestForbidden,
    RequestNotOpen,
    RequestsNotOpen,
)
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.information_requests.schemas import (
    InformationRequestCreate,
    InformationRequestList,
    InformationRequestRead,
    InformationRequestWithdraw,
    InformationReturnCreate,
)
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_cursor, encode_cursor
from cspr_engine.workflow import service as workflow_service

router = APIRouter(tags=["information-requests"])

RequestId = Annotated[uuid.UUID, Path(description="The information request's id.")]
BASE = "/cases/{case_id}/information-requests"


def _shown(
    session: Session, case: Case, requests: list[InformationRequest], clock: ClockDep
) -> list[InformationRequestRead]:
    definitions = {case.id: workflow_service.definition_for(case)}
    return request_service.present(session, [(r, case) for r in requests], definitions, clock.now())


def _answer(body: object, case: Case, status_code: int = status.HTTP_200_OK) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={"ETag": etag(case.version)})


@router.get(
    BASE,
    response_model=InformationRequestList,
    summary="The case's information requests, with their clocks and returns",
    responses=error_responses(CaseNotFound, InvalidQuery),
)
def list_requests(
    case: CaseDep,
    session: SessionDep,
    clock: ClockDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> InformationRequestList:
    after = 0
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        if not isinstance(after, int) or not 0 <= after < 2**31:
            raise InvalidQuery("The cursor is not one this service issued.")
    rows = repository.for_case(session, case.id, after_number=after, limit=limit + 1)
    page = rows[:limit]
    return InformationRequestList(
        items=_shown(session, case, page, clock),
        next_cursor=encode_cursor([page[-1].number]) if len(rows) > limit else None,
    )


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    response_model=InformationRequestList,
    summary="Ask agencies for their information return (one request to each)",
    responses={
        **documented_headers(201, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            SharedCaseReadOnly,
            RequestForbidden,
            RequestsNotOpen,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def create_requests(
    body: InformationRequestCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    made = request_service.create(
        session,
        case=case,
        definition=workflow_service.definition_for(case),
        payload=body,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    shown = InformationRequestList(items=_shown(session, case, made, clock), next_cursor=None)
    session.commit()
    return _answer(shown.model_dump(mode="json"), case, status.HTTP_201_CREATED)


@router.get(
    BASE + "/{request_id}",
    response_model=InformationRequestRead,
    summary="One information request, with its clock and return",
    responses=error_responses(CaseNotFound, InformationRequestNotFound),
)
def read_request(
    request_id: RequestId, case: CaseDep, session: SessionDep, clock: ClockDep
) -> InformationRequestRead:
    found = request_service.get(session, case, request_id=request_id)
    return _shown(session, case, [found], clock)[0]


@router.post(
    BASE + "/{request_id}/response",
    response_model=InformationRequestRead,
    summary="Make your agency's information return (once)",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            InformationRequestNotFound,
            SharedCaseReadOnly,
            AnswerForbidden,
            RequestNotOpen,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def answer_request(
    request_id: RequestId,
    body: InformationReturnCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    found = request_service.get(session, case, request_id=request_id)
    request_service.answer(
        session,
        case=case,
        request=found,
        payload=body,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    shown = _shown(session, case, [found], clock)[0]
    session.commit()
    return _answer(shown.model_dump(mode="json"), case)


@router.post(
    BASE + "/{request_id}/withdraw",
    response_model=InformationRequestRead,
    summary="Withdraw a request still awaiting its return, with the reason",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            InformationRequestNotFound,
            SharedCaseReadOnly,
            RequestForbidden,
            RequestNotOpen,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def withdraw_request(
    request_id: RequestId,
    body: InformationRequestWithdraw,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    found = request_service.get(session, case, request_id=request_id)
    request_service.withdraw(
        session,
        case=case,
        request=found,
        reason=body.reason,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    shown = _shown(session, case, [found], clock)[0]
    session.commit()
    return _answer(shown.model_dump(mode="json"), case)


@router.get(
    "/information-requests",
    response_model=InformationRequestList,
    summary="Information requests addressed to your agency, across cases, soonest due first",
    responses=error_responses(NoAgency, InvalidQuery),
)
def agency_inbox(
    session: SessionDep,
    actor: LoggedActorDep,
    clock: ClockDep,
    status: Annotated[
        Literal["open", "answered", "withdrawn"] | None,
        Query(description="Only requests in this status (open: still awaiting the return)."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> InformationRequestList:
    if actor.agency is None or actor.partnership_id is None:
        raise NoAgency("Requests are addressed to agencies; your account acts for none.")
    after = _inbox_cursor(cursor)
    rows = repository.addressed_to(
        session, actor, actor.agency, status=status, after=after, limit=limit + 1
    )
    page = rows[:limit]
    definitions = {c.id: workflow_service.definition_for(c) for _, c in page}
    last = page[-1][0] if page else None
    return InformationRequestList(
        items=request_service.present(session, page, definitions, clock.now()),
        next_cursor=(
            encode_cursor([last.due_on.isoformat(), str(last.id)])
            if last is not None and len(rows) > limit
            else None
        ),
    )


def _inbox_cursor(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    if not cursor:
        return None
    due, row_id = decode_cursor(cursor, 2)
    try:
        return date.fromisoformat(due), uuid.UUID(row_id)
    except (TypeError, ValueError) as exc:
        raise InvalidQuery("The cursor is not one this service issued.") from exc
