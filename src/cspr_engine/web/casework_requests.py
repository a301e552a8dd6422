"""The case's information requests page: the requests with their clocks and returns, the form
to ask agencies (business unit, panel chair), the return form (users of the agency asked) and
the withdraw form. Every rule is the API's (information_requests.service)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import User
from cspr_engine.cases.exceptions import ConcurrentUpdate, StaleVersion
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.documents.models import Document
from cspr_engine.errors import CsprError, InvalidData, pydantic_errors
from cspr_engine.information_requests import repository as request_repository
from cspr_engine.information_requests import service as request_service
from cspr_engine.information_requests.models import InformationRequest
from cspr_engine.information_requests.schemas import (
    DEFAULT_WORKING_DAYS,
    InformationRequestCreate,
    InformationRequestRead,
    InformationRequestWithdraw,
    InformationReturnCreate,
    ReturnClockRead,
)
from cspr_engine.kit.clock import ClockDep, london_date
from cspr_engine.web import forms
from cspr_engine.web.auth import LoggedWebUserDep, WebUser
from cspr_engine.web.casepages import AMBER_WORKING_DAYS
from cspr_engine.web.forms import Field, Form
from cspr_engine.web.router import CaseKey, _case_or_404, flash, posted_form, render, see_other
from cspr_engine.web.templating import humanise, long_date
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

router = APIRouter(prefix="/ui/cases", include_in_schema=False)

Number = Annotated[int, Path(ge=1, le=2**31 - 1)]
STALE = "Someone else changed this case while you had it open. Check what changed, then try again."
NO_DETAILS = (
    "Do not give the child's name, address, date of birth or NHS number: refer to your own "
    "records by their reference."
)
YES_NO = (("true", "Yes"), ("false", "No"))


@dataclass(frozen=True)
class ClockTag:
    """A request's clock as a tag (colour is never the only signal) and a line of words."""

    rag: str  # red, amber, green, done, met_late, cancelled
    tag: str
    tag_class: str
    words: str


def clock_tag(clock: ReturnClockRead | None) -> ClockTag | None:
    """The RAG of the case page's clocks: red past due, amber within 2 working days."""
    if clock is None:
        return None
    due = long_date(clock.due_on)
    left = clock.working_days_left
    match clock.status:
        case "cancelled":
            return ClockTag("cancelled", "Stopped", "govuk-tag--grey", f"was due {due}")
        case "breached":
            return ClockTag("red", "Overdue", "govuk-tag--red", f"was due {due}")
        case "met_late":
            return ClockTag("met_late", "Returned late", "govuk-tag--orange", f"was due {due}")
        case "met":
            return ClockTag("done", "Returned on time", "govuk-tag--grey", f"due {due}")
    if left is not None and left <= AMBER_WORKING_DAYS:
        rag, tag, cls = "amber", "Due soon", "govuk-tag--yellow"
    else:
        rag, tag, cls = "green", "On track", "govuk-tag--green"
    words = (
        f"due today ({due})"
        if left == 0
        else f"{left} working day{'s' if left != 1 else ''} left, due {due}"
    )
    return ClockTag(rag, tag, cls, words)


@dataclass
class RequestRow:
    read: InformationRequestRead
    tag: ClockTag | None
    requested_by: str
    answered_by: str | None
    document: str | None
    answer_form: Form | None = None  # shown to the agency asked, while the request is open
    withdraw_form: Form | None = None  # shown to those who ask, while the request is open
    open_form: str | None = None  # "answer" | "withdraw": posted with errors, shown expanded


@dataclass
class RequestsPage:
    case: Case
    state_label: str
    rows: list[RequestRow]
    ask_form: Form | None
    default_due_on: str
    problem: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)


# -- forms ------------------------------------------------------------------------------------


def ask_form(definition: WorkflowDefinition, default_due: str) -> Form:
    return Form(
        [
            Field(
                "agencies",
                "ask-agencies",
                "Which agencies do you ask?",
                "checkboxes",
                required=True,
                hint="Each agency gets its own request and its own due date clock.",
                options=tuple((a, humanise(a)) for a in definition.agencies),
                noun="the agencies to ask",
            ),
            Field(
                "asked",
                "ask-asked",
                "What do you ask them for?",
                "textarea",
                required=True,
                hint="For example, a summary of your involvement with the child and family and "
                f"a chronology. {NO_DETAILS}",
                max_length=20_000,
                noun="what you ask for",
            ),
            Field(
                "due_on",
                "ask-due-on",
                "When is the return due? (optional)",
                "date",
                hint=f"Leave empty for {default_due}, {DEFAULT_WORKING_DAYS} working days from "
                "today. For example, 27 3 2026",
                noun="the due date",
            ),
        ]
    )


def answer_form(number: int, documents: list[Document]) -> Form:
    prefix = f"answer-{number}"
    fields = [
        Field(
            "known_to_agency",
            f"{prefix}-known-to-agency",
            "Is the child or family known to your agency?",
            "radios",
            required=True,
            options=YES_NO,
            noun="whether the child or family is known to your agency",
        ),
        Field(
            "summary",
            f"{prefix}-summary",
            "Summary of your agency's involvement",
            "textarea",
            required=True,
            hint=NO_DETAILS,
            max_length=20_000,
            noun="the summary",
        ),
        Field(
            "involvement_from",
            f"{prefix}-involvement-from",
            "Involved from (optional)",
            "date",
            hint="For example, 27 3 2026",
            noun="the start of the involvement",
        ),
        Field(
            "involvement_to",
            f"{prefix}-involvement-to",
            "Involved until (optional)",
            "date",
            hint="Leave empty if your agency is still involved. For example, 27 3 2026",
            noun="the end of the involvement",
        ),
        Field(
            "chronology_included",
            f"{prefix}-chronology-included",
            "Chronology",
            "checkboxes",
            options=(("true", "The return includes a chronology"),),
        ),
    ]
    if documents:
        fields.append(
            Field(
                "document_id",
                f"{prefix}-document-id",
                "Document with the return (optional)",
                "select",
                options=(("", "No document"), *((str(d.id), d.title) for d in documents)),
                noun="the document",
            )
        )
    fields.append(
        Field(
            "answered_on",
            f"{prefix}-answered-on",
            "Date of the return (optional)",
            "date",
            hint="Leave empty for today. It cannot be in the future. For example, 27 3 2026",
            noun="the date of the return",
        )
    )
    return Form(fields)


def withdraw_form(number: int) -> Form:
    return Form(
        [
            Field(
                "reason",
                f"withdraw-{number}-reason",
                "Why is the request withdrawn?",
                "textarea",
                required=True,
                max_length=10_000,
                noun="the reason",
            )
        ]
    )


# -- the page ---------------------------------------------------------------------------------


def _names(session: Session, rows: list[InformationRequestRead]) -> dict[uuid.UUID, str]:
    ids = {r.requested_by for r in rows} | {r.response.answered_by for r in rows if r.response}
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(sorted(ids))))
    return {u.id: u.display_name for u in users}


def _documents(session: Session, case: Case) -> list[Document]:
    return request_repository.live_documents(session, case.id)


def build_page(session: Session, case: Case, user: WebUser, now: datetime) -> RequestsPage:
    """What the page shows this user: every request, and the forms the user may use."""
    definition = workflow_service.definition_for(case)
    stored = request_repository.for_case(session, case.id)
    shown = request_service.present(
        session, [(r, case) for r in stored], {case.id: definition}, now
    )
    names = _names(session, shown)
    documents = _documents(session, case)
    titles = {d.id: d.title for d in documents}
    rows = []
    for r, read in zip(stored, shown, strict=True):
        rows.append(
            RequestRow(
                read=read,
                tag=clock_tag(read.clock),
                requested_by=names.get(read.requested_by, "Unknown"),
                answered_by=names.get(read.response.answered_by) if read.response else None,
                document=(
                    titles.get(read.response.document_id, "A withdrawn document")
                    if read.response and read.response.document_id
                    else None
                ),
                answer_form=(
                    answer_form(r.number, documents)
                    if request_service.may_answer(user.actor, case, r)
                    else None
                ),
                withdraw_form=(
                    withdraw_form(r.number)
                    if request_service.may_withdraw(user.actor, case, r)
                    else None
                ),
            )
        )
    default_due = long_date(default_due_on(session, now))
    return RequestsPage(
        case=case,
        state_label=definition.states[case.state].label,
        rows=rows,
        ask_form=(
            ask_form(definition, default_due)
            if request_service.may_ask(user.actor, case, definition)
            else None
        ),
        default_due_on=default_due,
    )


def default_due_on(session: Session, now: datetime) -> date:
    return request_service.default_due_on(session, london_date(now))


def _render(
    request: Request, page: RequestsPage, user: WebUser, *, done: str | None, status_code: int
) -> HTMLResponse:
    return render(
        request,
        "casework/requests.html",
        {
            "page": page,
            "case": page.case,
            "case_reference": page.case.reference,
            "case_tab": "requests",
            "done": done,
            "problem": page.problem,
            "has_errors": bool(page.errors or page.problem),
        },
        user=user,
        status_code=status_code,
    )


def _url(case: Case) -> str:
    return f"/ui/cases/{case.reference}/information-requests"


@router.get("/{key}/information-requests", name="ui_information_requests")
def requests_page(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    page = build_page(session, case, user, clock.now())
    return _render(request, page, user, done=flash(request), status_code=200)


# -- posts: one shape for the three forms -------------------------------------------------------


def _validated(schema: type[BaseModel], data: dict[str, Any], form: Form) -> Any:
    """`data` as the API's request body, or None with its errors placed on `form`."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        form.add_api_errors(pydantic_errors(exc.errors()))
        return None


async def _post(
    request: Request,
    key: str,
    session: Session,
    user: WebUser,
    clock: ClockDep,
    *,
    number: int | None,
    which: str,
) -> Response:
    """Read the posted form, run the service, and answer with a redirect, or with the page
    showing the form's errors (422) or the problem (the API's status)."""
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    now = clock.now()
    definition = workflow_service.definition_for(case)
    target: InformationRequest | None = None
    if number is not None:
        target = request_service.get(session, case, number=number)
    form = _form_for(session, case, definition, which, number, now)
    data = forms.read(form, posted)
    problem: str | None = None
    problem_status = 409
    body = None
    try:
        # Refused outright (role, stage) before the data is looked at: no errors are shown
        # against a form this user is not offered.
        _check(case, definition, which, target, user)
    except CsprError as exc:
        form.errors.clear()
        problem, problem_status = exc.detail or exc.title, exc.status
    else:
        if not form.errors:
            body = _validated(_SCHEMAS[which], _as_api(which, data), form)
    if body is not None:
        if str(posted.get("version")) != str(case.version):
            problem = STALE
        else:
            try:
                done = _run(session, case, definition, which, target, body, user, now)
                session.commit()
                return see_other(f"{_url(case)}?" + urlencode({"done": done}))
            except InvalidData as exc:
                session.rollback()
                form.add_api_errors(exc.errors)
            except (ConcurrentUpdate, StaleVersion):
                session.rollback()
                problem = STALE
            except CsprError as exc:
                session.rollback()
                problem, problem_status = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    page = build_page(session, fresh, user, now)
    page.problem = problem
    page.errors = list(form.errors)
    _show_posted(page, which, number, form)
    return _render(request, page, user, done=None, status_code=problem_status if problem else 422)


_SCHEMAS: dict[str, type[BaseModel]] = {
    "ask": InformationRequestCreate,
    "answer": InformationReturnCreate,
    "withdraw": InformationRequestWithdraw,
}


def _form_for(
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    which: str,
    number: int | None,
    now: datetime,
) -> Form:
    if which == "ask":
        return ask_form(definition, long_date(default_due_on(session, now)))
    assert number is not None
    if which == "answer":
        return answer_form(number, _documents(session, case))
    return withdraw_form(number)


def _check(
    case: Case,
    definition: WorkflowDefinition,
    which: str,
    target: InformationRequest | None,
    user: WebUser,
) -> None:
    if which == "ask":
        request_service.check_may_ask(user.actor, case, definition)
        return
    assert target is not None
    if which == "answer":
        request_service.check_may_answer(user.actor, case, target)
    else:
        request_service.check_may_withdraw(user.actor, case, target)


def _as_api(which: str, data: dict[str, Any]) -> dict[str, Any]:
    """The browser's strings as the API's types: Yes/No and a ticked box as booleans."""
    if which != "answer":
        return data
    out = dict(data)
    if "known_to_agency" in out:
        out["known_to_agency"] = {"true": True, "false": False}.get(
            out["known_to_agency"], out["known_to_agency"]
        )
    out["chronology_included"] = "true" in out.get("chronology_included", [])
    return out


def _run(
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    which: str,
    target: InformationRequest | None,
    body: Any,
    user: WebUser,
    now: datetime,
) -> str:
    """Do what the form asks; returns the success message."""
    expected = frozenset({case.version})
    if which == "ask":
        made = request_service.create(
            session,
            case=case,
            definition=definition,
            payload=body,
            actor=user.actor,
            now=now,
            expected_version=expected,
        )
        asked = ", ".join(humanise(r.agency) for r in made)
        return f"Information requested from {asked}"
    assert target is not None
    if which == "answer":
        request_service.answer(
            session,
            case=case,
            request=target,
            payload=body,
            actor=user.actor,
            now=now,
            expected_version=expected,
        )
        return f"Your return to request {target.number} is recorded"
    request_service.withdraw(
        session,
        case=case,
        request=target,
        reason=body.reason,
        actor=user.actor,
        now=now,
        expected_version=expected,
    )
    return f"Request {target.number} is withdrawn"


def _show_posted(page: RequestsPage, which: str, number: int | None, form: Form) -> None:
    """The posted form, with what was typed and its errors, in place of the empty one."""
    if which == "ask":
        if page.ask_form is not None:
            page.ask_form = form
        return
    for row in page.rows:
        if row.read.number != number:
            continue
        if which == "answer" and row.answer_form is not None:
            row.answer_form, row.open_form = form, "answer"
        elif which == "withdraw" and row.withdraw_form is not None:
            row.withdraw_form, row.open_form = form, "withdraw"


@router.post("/{key}/information-requests", name="ui_ask_information")
async def ask(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    return await _post(request, key, session, user, clock, number=None, which="ask")


@router.post("/{key}/information-requests/{number}/response", name="ui_answer_information")
async def answer(
    request: Request,
    key: CaseKey,
    number: Number,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    return await _post(request, key, session, user, clock, number=number, which="answer")


@router.post("/{key}/information-requests/{number}/withdraw", name="ui_withdraw_information")
async def withdraw(
    request: Request,
    key: CaseKey,
    number: Number,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    return await _post(request, key, session, user, clock, number=number, which="withdraw")
