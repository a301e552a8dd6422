"""HTTP for clocks (a case's deadlines, extensions) and the working-day calendar."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse

from cspr_engine.accounts.dependencies import ActorDep
from cspr_engine.cases.dependencies import CaseDep
from cspr_engine.cases.exceptions import CaseNotFound, ConcurrentUpdate, StaleVersion
from cspr_engine.db import SessionDep
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.deadlines.exceptions import (
    ClockNotFound,
    ClockNotOpen,
    ExtensionForbidden,
    HolidayNotAdded,
    HolidayRefused,
)
from cspr_engine.deadlines.schemas import (
    DeadlineList,
    DeadlineRead,
    ExtensionCreate,
    HolidayCreate,
    HolidayList,
    HolidayRead,
    HolidayWithdrawal,
    HolidayWithdrawn,
)
from cspr_engine.errors import Forbidden, MalformedBody, error_responses
from cspr_engine.kit.clock import ClockDep, london_date
from cspr_engine.kit.http import IfMatch, documented_headers, etag, parse_if_match
from cspr_engine.kit.schemas import IsoDate
from cspr_engine.workflow import service as workflow_service

router = APIRouter(tags=["deadlines"])


@router.get(
    "/cases/{case_id}/deadlines",
    response_model=DeadlineList,
    summary="The case's clocks: due dates, status, basis and extension history",
    responses=error_responses(CaseNotFound),
)
def list_deadlines(case: CaseDep, session: SessionDep, clock: ClockDep) -> DeadlineList:
    definition = workflow_service.definition_for(case)
    items = deadline_service.present(session, case, definition, clock.now())
    return DeadlineList(items=items, next_cursor=None)


@router.post(
    "/cases/{case_id}/deadlines/{key}/extensions",
    response_model=DeadlineRead,
    status_code=status.HTTP_201_CREATED,
    summary="Extend a running clock, with the reason",
    responses={
        **documented_headers(201, "ETag"),
        **error_responses(
            MalformedBody,
            CaseNotFound,
            ClockNotFound,
            ClockNotOpen,
            ExtensionForbidden,
            StaleVersion,
            ConcurrentUpdate,
        ),
    },
)
def extend_deadline(
    key: Annotated[str, Path(max_length=64, description="The clock's key, e.g. rapid_review.")],
    body: ExtensionCreate,
    case: CaseDep,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    if_match: IfMatch = None,
) -> JSONResponse:
    now = clock.now()
    definition = workflow_service.definition_for(case)
    deadline_service.extend(
        session,
        case=case,
        definition=definition,
        key=key,
        new_due_on=body.new_due_on,
        reason=body.reason,
        agreed_with=body.agreed_with,
        actor=actor,
        now=now,
        expected_version=parse_if_match(if_match),
    )
    shown = next(
        d
        for d in reversed(deadline_service.present(session, case, definition, now))
        if d.key == key
    )
    payload = shown.model_dump(mode="json")
    session.commit()
    return JSONResponse(payload, status_code=201, headers={"ETag": etag(case.version)})


@router.get(
    "/calendar/holidays",
    response_model=HolidayList,
    summary="The non-working days (England & Wales) used to count working days",
    responses=error_responses(),
)
def list_holidays(
    session: SessionDep,
    _actor: ActorDep,
    clock: ClockDep,
    year: Annotated[int | None, Query(ge=2012, le=2100, description="Default: this year.")] = None,
) -> HolidayList:
    calendar = deadline_service.current_calendar(session)
    year = year or london_date(clock.now()).year
    shipped = get_calendar()
    holidays = []
    for day, title in calendar.non_working_days(year):
        source: Literal["gov.uk", "computed", "added"]
        if day in calendar.additions:
            source = "added"
        elif day <= shipped.covers_to:
            source = "gov.uk"
        else:
            source = "computed"
        holidays.append(HolidayRead(date=day, title=title, source=source))
    return HolidayList(
        year=year,
        calendar_version=calendar.version,
        jurisdiction="england-and-wales",
        holidays=holidays,
    )


@router.post(
    "/calendar/holidays",
    response_model=HolidayRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a newly proclaimed bank holiday (admins); running clocks are recomputed",
    responses=error_responses(MalformedBody, Forbidden, HolidayRefused),
)
def add_holiday(
    body: HolidayCreate, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HolidayRead:
    now = clock.now()
    deadline_service.add_holiday(
        session, day=body.date, title=body.title, reason=body.reason, actor=actor, now=now
    )
    session.commit()
    return HolidayRead(date=body.date, title=body.title, source="added")


@router.post(
    "/calendar/holidays/{day}/withdrawal",
    response_model=HolidayWithdrawn,
    summary="Withdraw a day added to the calendar (platform admins), with the reason; running "
    "clocks are counted again without it",
    responses=error_responses(MalformedBody, Forbidden, HolidayNotAdded),
)
def withdraw_holiday(
    day: Annotated[IsoDate, Path(description="The added day, YYYY-MM-DD.")],
    body: HolidayWithdrawal,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> HolidayWithdrawn:
    addition = deadline_service.withdraw_holiday(
        session, day=day, reason=body.reason, actor=actor, now=clock.now()
    )
    shown = HolidayWithdrawn(
        date=addition.day,
        title=addition.title,
        withdrawn_at=addition.withdrawn_at or clock.now(),
        reason=body.reason,
    )
    session.commit()
    return shown
