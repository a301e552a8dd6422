"""Information requests: the business unit (or the panel chair) asks named agencies for an
information return for the rapid review, each with a due date and its own `information_return`
clock; a user of the agency asked (a person or its case system) makes the return, which stops
the clock; an unanswered request may be withdrawn, which cancels it.

Every change is a new version of the case with its audit event. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import WorkingCalendar
from cspr_engine.deadlines.models import Deadline
from cspr_engine.errors import CsprError, FieldError, InvalidData
from cspr_engine.information_requests import repository
from cspr_engine.information_requests.exceptions import (
    AnswerForbidden,
    InformationRequestNotFound,
    RequestForbidden,
    RequestNotOpen,
    RequestsNotOpen,
)
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.information_requests.schemas import (
    DEFAULT_WORKING_DAYS,
    InformationRequestCreate,
    InformationRequestRead,
    InformationReturnCreate,
    InformationReturnRead,
    ReturnClockRead,
)
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow.definitions import WorkflowDefinition

CLOCK = "information_return"
SUBJECT = "information_request"
# The guard that holds the rapid review until the returns are in (workflow.registry).
RETURNS_GUARD = "information_returns_in"
# A return is for a review that runs in weeks: a due date further off than this is a typo.
MAX_DUE_DAYS = 366


def open_states(definition: WorkflowDefinition) -> frozenset[str]:
    """The states in which agencies may be asked: those from which a trigger that waits for
    the returns (guard `information_returns_in`) can still be reached. For the CSPR workflow:
    from the referral until the Panel has answered (it may send the case back to the rapid
    review for more information). A workflow without that guard or the clock takes none."""
    if CLOCK not in definition.clocks:
        return frozenset()
    waiting = {
        source
        for t in definition.triggers.values()
        if any(g.name == RETURNS_GUARD for g in t.guards)
        for source in t.source
    }
    leads_to: dict[str, set[str]] = {s: set() for s in definition.states}
    for t in definition.triggers.values():
        for source in t.source:
            for dest in t.destinations:
                leads_to.setdefault(dest or source, set()).add(source)
    seen, queue = set(waiting), deque(waiting)
    while queue:
        for earlier in leads_to.get(queue.popleft(), ()):
            if earlier not in seen:
                seen.add(earlier)
                queue.append(earlier)
    return frozenset(s for s in seen if s in definition.states and not definition.states[s].final)


def default_due_on(session: Session, today: date) -> date:
    """The default due date: the fifth working day after today (local practice)."""
    return deadline_service.current_calendar(session).add_working_days(today, DEFAULT_WORKING_DAYS)


# -- who may do what, now (the service's own checks; pages ask them before offering a form) --


def check_may_ask(actor: Actor, case: Case, definition: WorkflowDefinition) -> None:
    """Raises RequestForbidden (role, or another partnership's case) or RequestsNotOpen."""
    if not (
        policy.may_casework(actor, policy.Casework.request_information)
        and policy.may_change(actor, case)
    ):
        raise RequestForbidden("Only the business unit or the panel chair asks for returns.")
    allowed = open_states(definition)
    if case.closed_at is not None or case.state not in allowed:
        raise RequestsNotOpen(
            "Agencies are asked for returns while the case is in: "
            f"{', '.join(sorted(allowed)) or 'no state'}; it is {case.state}.",
            state=case.state,
            allowed_states=sorted(allowed),
        )


def check_may_answer(actor: Actor, case: Case, request: InformationRequest) -> None:
    """Raises AnswerForbidden unless `actor` is a user of the agency asked in a role that
    answers (a referrer or DSP, person or case system); RequestNotOpen unless the request
    still awaits its return."""
    if not (
        policy.may_casework(actor, policy.Casework.answer_information)
        and actor.agency == request.agency
        and policy.may_change(actor, case)
    ):
        raise AnswerForbidden(
            f"Request {request.number} is addressed to {request.agency}: only its users "
            "(referrers, DSPs and their case systems) make the return."
        )
    _check_open(case, request)


def check_may_withdraw(actor: Actor, case: Case, request: InformationRequest) -> None:
    """Raises RequestForbidden or RequestNotOpen."""
    if not (
        policy.may_casework(actor, policy.Casework.request_information)
        and policy.may_change(actor, case)
    ):
        raise RequestForbidden("Only the business unit or the panel chair withdraws a request.")
    _check_open(case, request)


def _check_open(case: Case, request: InformationRequest) -> None:
    if request.status != "open":
        raise RequestNotOpen(
            f"Request {request.number} is {request.status}.",
            request_status=request.status,
            number=request.number,
        )
    if case.closed_at is not None:
        raise RequestNotOpen("The case is closed: its requests take no more returns.")


def may_ask(actor: Actor, case: Case, definition: WorkflowDefinition) -> bool:
    """Whether `check_may_ask` passes (a page offers the form only then)."""
    return _passes(check_may_ask, actor, case, definition)


def may_answer(actor: Actor, case: Case, request: InformationRequest) -> bool:
    """Whether `check_may_answer` passes."""
    return _passes(check_may_answer, actor, case, request)


def may_withdraw(actor: Actor, case: Case, request: InformationRequest) -> bool:
    """Whether `check_may_withdraw` passes."""
    return _passes(check_may_withdraw, actor, case, request)


def _passes(check: Callable[..., None], *args: Any) -> bool:
    try:
        check(*args)
    except CsprError:
        return False
    return True


def get(
    session: Session, case: Case, *, request_id: uuid.UUID | None = None, number: int = 0
) -> InformationRequest:
    """One request of the case (by id or number); InformationRequestNotFound otherwise."""
    found = repository.get_on_case(session, case.id, request_id=request_id, number=number)
    if found is None:
        raise InformationRequestNotFound(
            "The case has no such information request.", case_id=str(case.id)
        )
    return found


def _bump(session: Session, case: Case, expected: frozenset[int] | None, now: datetime) -> None:
    case_repository.claim_next_version(session, case, expected)
    case.updated_at = now


def create(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    payload: InformationRequestCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None = None,
) -> list[InformationRequest]:
    """One request to each agency named, numbered on from the case's last, each with its
    running `information_return` clock; raises RequestForbidden, RequestsNotOpen or
    InvalidData (an agency the workflow does not know, a due date in the past)."""
    case_repository.check_precondition(case, expected_version)
    check_may_ask(actor, case, definition)
    today = london_date(now)
    due_on = payload.due_on or default_due_on(session, today)
    errors = [
        FieldError(
            loc=f"agencies.{i}",
            message=f"{agency} is not an agency of the {definition.name} workflow",
            type="agency",
        )
        for i, agency in enumerate(payload.agencies)
        if agency not in definition.agencies
    ]
    if due_on < today:
        errors.append(FieldError(loc="due_on", message="cannot be in the past", type="date_past"))
    elif due_on > today + timedelta(days=MAX_DUE_DAYS):
        errors.append(
            FieldError(
                loc="due_on",
                message=f"must be within {MAX_DUE_DAYS} days of today",
                type="date_too_far",
            )
        )
    if errors:
        raise InvalidData(errors)

    _bump(session, case, expected_version, now)
    number = repository.last_number(session, case.id)
    made = []
    for agency in payload.agencies:
        number += 1
        request = InformationRequest(
            case_id=case.id,
            partnership_id=case.partnership_id,
            number=number,
            agency=str(agency),
            asked=payload.asked,
            due_on=due_on,
            status="open",
            requested_by=actor.user_id,
            requested_at=now,
        )
        session.add(request)
        session.flush()
        deadline_service.start_for_subject(
            session,
            case=case,
            definition=definition,
            key=CLOCK,
            subject_type=SUBJECT,
            subject_id=request.id,
            agency=request.agency,
            starts_on=today,
            due_on=due_on,
            now=now,
        )
        made.append(request)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="information_request.created",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={
            "numbers": [r.number for r in made],
            "agencies": [r.agency for r in made],
            "asked": payload.asked,
            "due_on": due_on.isoformat(),
        },
        basis=definition.clocks[CLOCK].basis,
    )
    session.flush()
    return made


def answer(
    session: Session,
    *,
    case: Case,
    request: InformationRequest,
    payload: InformationReturnCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None = None,
) -> InformationRequest:
    """Record the agency's return; its clock is met, or met late if `answered_on` is after the
    due date. Raises AnswerForbidden (not the agency asked), RequestNotOpen (answered,
    withdrawn, or the case closed) or InvalidData."""
    case_repository.check_precondition(case, expected_version)
    check_may_answer(actor, case, request)
    today = london_date(now)
    answered_on = payload.answered_on or today
    asked_on = london_date(request.requested_at)
    errors = []
    if answered_on > today:
        errors.append(
            FieldError(loc="answered_on", message="cannot be in the future", type="date_future")
        )
    elif answered_on < asked_on:
        errors.append(
            FieldError(
                loc="answered_on",
                message=f"cannot be before the request was made ({asked_on.isoformat()})",
                type="date_order",
            )
        )
    for name in ("involvement_from", "involvement_to"):
        value = getattr(payload, name)
        if value is not None and value > today:
            errors.append(
                FieldError(loc=name, message="cannot be in the future", type="date_future")
            )
    if (
        payload.involvement_from is not None
        and payload.involvement_to is not None
        and payload.involvement_to < payload.involvement_from
    ):
        errors.append(
            FieldError(
                loc="involvement_to",
                message="cannot be before the start of the involvement",
                type="date_order",
            )
        )
    if payload.document_id is not None and (
        repository.live_document(session, case.id, payload.document_id) is None
    ):
        errors.append(
            FieldError(
                loc="document_id",
                message="is not a document of this case (or it was withdrawn)",
                type="document",
            )
        )
    if errors:
        raise InvalidData(errors)

    _bump(session, case, expected_version, now)
    request.status = "answered"
    request.answered_by = actor.user_id
    request.answered_at = now
    request.answered_on = answered_on
    request.document_id = payload.document_id
    request.response = {
        "known_to_agency": payload.known_to_agency,
        "summary": payload.summary,
        "involvement_from": _iso(payload.involvement_from),
        "involvement_to": _iso(payload.involvement_to),
        "chronology_included": payload.chronology_included,
    }
    request.version += 1
    stopped = deadline_service.stop_for_subject(
        session, subject_id=request.id, met_on=answered_on, now=now
    )
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="information_request.answered",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={
            "number": request.number,
            "agency": request.agency,
            "answered_on": answered_on.isoformat(),
            "known_to_agency": payload.known_to_agency,
            "chronology_included": payload.chronology_included,
            **({"document_id": str(payload.document_id)} if payload.document_id else {}),
            **({"clock": stopped.status} if stopped is not None else {}),
        },
    )
    session.flush()
    return request


def withdraw(
    session: Session,
    *,
    case: Case,
    request: InformationRequest,
    reason: str,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None = None,
) -> InformationRequest:
    """Withdraw a request still awaiting its return; its clock is cancelled and the rapid
    review no longer waits for it. Raises RequestForbidden or RequestNotOpen."""
    case_repository.check_precondition(case, expected_version)
    check_may_withdraw(actor, case, request)
    _bump(session, case, expected_version, now)
    request.status = "withdrawn"
    request.withdrawn_at = now
    request.withdrawn_reason = reason
    request.version += 1
    deadline_service.cancel_for_subject(session, subject_id=request.id, now=now)
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="information_request.withdrawn",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={"number": request.number, "agency": request.agency, "reason": reason},
    )
    session.flush()
    return request


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


# -- reading ----------------------------------------------------------------------------------


def present(
    session: Session,
    pairs: list[tuple[InformationRequest, Case]],
    definitions: dict[uuid.UUID, WorkflowDefinition],
    now: datetime,
) -> list[InformationRequestRead]:
    """Requests as the API shows them, each with its clock as of `now` (two queries in all).
    `definitions` maps each case id to its workflow."""
    clocks = repository.clocks_of(session, [r.id for r, _ in pairs])
    calendar = deadline_service.current_calendar(session)
    today = london_date(now)
    return [
        _read(r, c, clocks.get(r.id), definitions[c.id], calendar, today, now) for r, c in pairs
    ]


def _read(
    r: InformationRequest,
    case: Case,
    clock: Deadline | None,
    definition: WorkflowDefinition,
    calendar: WorkingCalendar,
    today: date,
    now: datetime,
) -> InformationRequestRead:
    clock_read = None
    if clock is not None:
        status = deadline_service.effective_status(clock, definition.clocks.get(clock.key), now)
        running = status in deadline_service.OPEN
        clock_read = ReturnClockRead(
            key=clock.key,
            status=status,  # type: ignore[arg-type]
            overdue=status == "breached",
            starts_on=clock.starts_on,
            due_on=clock.due_on,
            due_at=clock.due_at,
            working_days_left=calendar.working_days_between(today, clock.due_on)
            if running
            else None,
            met_on=clock.met_on,
            breached_at=clock.breached_at or (clock.due_at if status == "breached" else None),
            cancelled_at=clock.cancelled_at,
        )
    response = None
    if r.status == "answered" and r.answered_on and r.answered_by and r.answered_at:
        given = r.response
        response = InformationReturnRead(
            known_to_agency=bool(given.get("known_to_agency")),
            summary=str(given.get("summary", "")),
            involvement_from=given.get("involvement_from"),
            involvement_to=given.get("involvement_to"),
            chronology_included=bool(given.get("chronology_included")),
            document_id=r.document_id,
            answered_on=r.answered_on,
            answered_by=r.answered_by,
            answered_at=r.answered_at,
        )
    return InformationRequestRead(
        id=r.id,
        case_id=r.case_id,
        case_reference=case.reference,
        number=r.number,
        agency=r.agency,
        asked=r.asked,
        due_on=r.due_on,
        status=r.status,  # type: ignore[arg-type]
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        clock=clock_read,
        response=response,
        withdrawn_at=r.withdrawn_at,
        withdrawn_reason=r.withdrawn_reason,
        version=r.version,
    )
