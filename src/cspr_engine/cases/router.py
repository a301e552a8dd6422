"""HTTP for cases: open, read, list, fire triggers, read the audit timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.types import Scope

from cspr_engine.access import service as access_service
from cspr_engine.access.dependencies import LoggedActorDep
from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.accounts.schemas import Actor
from cspr_engine.approvals import service as approvals_service
from cspr_engine.approvals.exceptions import GateClosed, GateNotFound, NotAGateParty
from cspr_engine.approvals.schemas import GateRead, VoteCreate
from cspr_engine.audit import repository as audit_repository
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases import service as case_service
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    CreateForbidden,
    StaleVersion,
)
from cspr_engine.cases.models import Case
from cspr_engine.cases.schemas import (
    AuditEventRead,
    CaseCreate,
    CaseList,
    CaseRead,
    CaseSummary,
    EventList,
    ReferringAgency,
    TransitionRequest,
    TriggerOptionList,
)
from cspr_engine.db import SessionDep
from cspr_engine.errors import InvalidQuery, MalformedBody, PayloadTooLarge, error_responses
from cspr_engine.idempotency import service as idempotency
from cspr_engine.kit.clock import Clock, ClockDep
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.pagination import (
    CursorQuery,
    LimitQuery,
    decode_cursor,
    decode_keyset,
    encode_cursor,
    encode_keyset,
)
from cspr_engine.kit.schemas import IsoDate
from cspr_engine.links.exceptions import DuplicateLink
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.exceptions import (
    GuardRejected,
    InvalidTransition,
    TriggerForbidden,
    UnknownTrigger,
    WorkflowNotFound,
)

router = APIRouter(prefix="/cases", tags=["cases"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Retry-safe key: a replay with the same body returns the first response.",
        # Enforced by idempotency.check_key, as a field error naming the header.
        json_schema_extra={"maxLength": idempotency.MAX_KEY_LENGTH},
    ),
]


def _case_response(
    session: Session, case: Case, actor: Actor, now: datetime, location: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    body = case_service.present(session, case, actor, now).model_dump(mode="json")
    headers = {"ETag": etag(case.version)}
    if location:
        headers["Location"] = f"/api/v1/cases/{case.id}"
    return body, headers


def _commit_once(session: Session, retry: Callable[[], JSONResponse | None]) -> JSONResponse | None:
    """Commit; if a racing request with the same Idempotency-Key won, answer with its response."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        replayed = retry()
        if replayed is not None:
            return replayed
        raise ConcurrentUpdate("Another request changed the case first; try again.") from exc
    return None


def _check_filters(*, state: str | None, agency: str | None, workflow: str | None) -> None:
    """A filter on a value that cannot exist is a typo to report, not an empty page."""
    definitions = workflow_service.get_definitions().values()
    states = sorted({s for d in definitions for s in d.states})
    workflows = sorted({d.name for d in definitions})
    agencies = sorted(get_args(ReferringAgency))
    for name, value, known in (
        ("state", state, states),
        ("agency", agency, agencies),
        ("workflow", workflow, workflows),
    ):
        if value is not None and value not in known:
            raise InvalidQuery(f"{name} must be one of: {', '.join(known)}.", parameter=name)


def _run_command(
    session: Session,
    *,
    http_scope: Scope,
    actor: Actor,
    clock: Clock,
    scope: str,
    idempotency_key: str | None,
    request_body: dict[str, Any],
    command: Callable[[datetime], Case],
    created: bool = False,
) -> JSONResponse:
    """Run a command that changes a case, once per Idempotency-Key, and commit it (with the
    request's access row) before answering with the case."""
    key = idempotency.check_key(idempotency_key)
    body_hash = idempotency.request_hash(request_body)

    def replay() -> JSONResponse | None:
        return idempotency.replay(session, actor=actor, scope=scope, key=key, body_hash=body_hash)

    if (earlier := replay()) is not None:
        return earlier
    now = clock.now()
    try:
        case = command(now)
    except (ConcurrentUpdate, StaleVersion):
        # Lost the race for the case's next version (PostgreSQL: both read the same version):
        # if the winner was this request's own twin (same Idempotency-Key), answer as it did.
        session.rollback()
        if (winner := replay()) is not None:
            return winner
        raise
    status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    body, headers = _case_response(session, case, actor, now, location=created)
    idempotency.remember(
        session,
        actor=actor,
        scope=scope,
        key=key,
        body_hash=body_hash,
        status_code=status_code,
        body=body,
        headers=headers,
        now=now,
    )
    access_service.add_to(session, http_scope, status_code)
    if (winner := _commit_once(session, replay)) is not None:
        return winner
    access_service.committed(http_scope)
    return JSONResponse(body, status_code=status_code, headers=headers)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseRead,
    summary="Open a case (a referral)",
    responses={
        **documented_headers(201, "ETag", "Location"),
        **error_responses(
            MalformedBody, CreateForbidden, WorkflowNotFound, PayloadTooLarge, ConcurrentUpdate
        ),
    },
)
def create_case(
    request: Request,
    payload: CaseCreate,
    session: SessionDep,
    actor: LoggedActorDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def create(now: datetime) -> Case:
        case = case_service.create_case(session=session, payload=payload, actor=actor, now=now)
        access_service.note_case(request.scope, case.id)
        return case

    return _run_command(
        session,
        http_scope=request.scope,
        actor=actor,
        clock=clock,
        scope="POST /cases",
        idempotency_key=idempotency_key,
        request_body=payload.model_dump(mode="json"),
        command=create,
        created=True,
    )


@router.get(
    "",
    response_model=CaseList,
    summary="List the cases you can see, newest first",
    responses=error_responses(),
)
def list_cases(
    session: SessionDep,
    actor: LoggedActorDep,
    state: Annotated[
        str | None, Query(max_length=64, description="Only cases in this state.")
    ] = None,
    agency: Annotated[
        str | None, Query(max_length=32, description="Only cases referred by this agency.")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="Partner reference, exact.")] = None,
    workflow: Annotated[str | None, Query(max_length=64)] = None,
    breached: Annotated[
        bool | None,
        Query(description="Only cases with (true) or without (false) a breached statutory clock."),
    ] = None,
    due_before: Annotated[
        IsoDate | None,
        Query(description="Only cases with a running clock due before this date, YYYY-MM-DD."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    *,
    clock: ClockDep,
) -> CaseList:
    after = decode_keyset(cursor)
    _check_filters(state=state, agency=agency, workflow=workflow)
    filters = case_repository.CaseFilters(
        state=state,
        agency=agency,
        q=q,
        workflow=workflow,
        breached=breached,
        due_before=due_before,
        now=clock.now(),
    )
    rows = case_repository.list_visible(session, actor, filters, limit=limit + 1, after=after)
    page = rows[:limit]
    next_cursor = encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return CaseList(
        items=[CaseSummary.model_validate(c, from_attributes=True) for c in page],
        next_cursor=next_cursor,
    )


@router.get(
    "/{case_id}",
    response_model=CaseRead,
    summary="Read a case",
    responses={**documented_headers(200, "ETag"), **error_responses(CaseNotFound)},
)
def read_case(case: CaseDep, session: SessionDep, actor: ActorDep, clock: ClockDep) -> JSONResponse:
    body, headers = _case_response(session, case, actor, clock.now())
    return JSONResponse(body, headers=headers)


@router.get(
    "/{case_id}/transitions",
    response_model=TriggerOptionList,
    summary="The triggers you may fire now, with the data each takes",
    responses=error_responses(CaseNotFound),
)
def list_transitions(case: CaseDep, actor: ActorDep) -> TriggerOptionList:
    return TriggerOptionList(items=case_service.trigger_options(case, actor), next_cursor=None)


@router.post(
    "/{case_id}/transitions",
    response_model=CaseRead,
    summary="Fire a trigger on a case",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            TriggerForbidden,
            InvalidTransition,
            GuardRejected,
            ConcurrentUpdate,
            StaleVersion,
            PayloadTooLarge,
            UnknownTrigger,
            DuplicateLink,
        ),
    },
)
def fire_transition(
    http: Request,
    request: TransitionRequest,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    expected = parse_if_match(if_match)

    def transition(now: datetime) -> Case:
        workflow_service.fire(
            session=session,
            case=case,
            trigger=request.trigger,
            data=request.data,
            comment=request.comment,
            actor=actor,
            now=now,
            expected_version=expected,
        )
        return case

    return _run_command(
        session,
        http_scope=http.scope,
        actor=actor,
        clock=clock,
        scope=f"POST /cases/{case.id}/transitions",
        idempotency_key=idempotency_key,
        request_body=request.model_dump(mode="json"),
        command=transition,
    )


@router.post(
    "/{case_id}/approvals/{gate}",
    response_model=GateRead,
    summary="Cast (or change) your decision on an approval gate",
    responses={
        **documented_headers(200, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            GateNotFound,
            GateClosed,
            NotAGateParty,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def cast_vote(
    http: Request,
    gate: Annotated[str, Path(max_length=64, description="The gate's name.")],
    vote: VoteCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    result = approvals_service.cast_vote(
        session=session,
        case=case,
        definition=workflow_service.definition_for(case),
        gate_name=gate,
        vote=vote,
        actor=actor,
        now=clock.now(),
        expected_version=parse_if_match(if_match),
    )
    body = result.model_dump(mode="json")
    access_service.add_to(session, http.scope, 200)
    session.commit()
    access_service.committed(http.scope)
    return JSONResponse(body, headers={"ETag": etag(case.version)})


@router.get(
    "/{case_id}/events",
    response_model=EventList,
    summary="The case's audit timeline, oldest first",
    responses=error_responses(CaseNotFound),
)
def list_events(
    case: CaseDep, session: SessionDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> EventList:
    after = 0
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        # seq is an INTEGER column: a larger number cannot be bound (SQLite overflows, PostgreSQL
        # refuses it), so it is no cursor this service issued.
        if not isinstance(after, int) or not 0 <= after < 2**31:
            raise InvalidQuery("The cursor is not one this service issued.")
    rows = audit_repository.events_for_case(session, case.id, after_seq=after, limit=limit + 1)
    page = rows[:limit]
    return EventList(
        items=[AuditEventRead.model_validate(e, from_attributes=True) for e in page],
        next_cursor=encode_cursor([page[-1].seq]) if len(rows) > limit else None,
    )
