"""Web pages for a case's improvement actions: the list with its RAG tags and the form to add
one (with the rapid review's immediate actions and the final report's recommendations beside
it), and each action's page with its details, the update form and the update history. Every
rule is the API's (actions.service); a page places the API's own errors beside its fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import User
from cspr_engine.actions import repository as action_repository
from cspr_engine.actions import service as action_service
from cspr_engine.actions.exceptions import ActionNotFound, StaleActionVersion
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.actions.schemas import ActionCreate, ActionPatch, ActionRead, ActionUpdateRead
from cspr_engine.cases.exceptions import ConcurrentUpdate, StaleVersion
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.errors import CsprError, InvalidData, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.web.auth import LoggedWebUserDep, WebUser
from cspr_engine.web.casepages import AMBER_WORKING_DAYS
from cspr_engine.web.forms import Field, Form, read
from cspr_engine.web.router import _case_or_404, flash, posted_form, render, see_other
from cspr_engine.web.templating import humanise, long_date
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/ui/cases", include_in_schema=False)

CaseKey = Annotated[str, Path(max_length=64)]
# No max_length: an over-long key names no action, so it is a 404 like any other.
ActionKey = Annotated[str, Path()]

STALE = (
    "Someone else changed this action while you had it open. Check what changed, then try again."
)
SOURCE_LABELS = {
    "immediate_action": "An immediate action from the rapid review",
    "recommendation": "A recommendation of the review",
    "other": "Other",
}
STATUS_LABELS = {
    "open": "Open",
    "in_progress": "In progress",
    "completed": "Completed",
    "closed_with_rationale": "Closed with rationale",
}
STATUS_TAGS = {
    "open": "govuk-tag--blue",
    "in_progress": "govuk-tag--light-blue",
    "completed": "govuk-tag--green",
    "closed_with_rationale": "govuk-tag--grey",
}
FIELD_LABELS = {
    "source": "Source",
    "description": "Description",
    "owner_agency": "Owner agency",
    "due_on": "Due date",
    "status": "Status",
    "completed_on": "Completed on",
    "closure_rationale": "Closure rationale",
    "evidence_of_impact": "Evidence of impact",
}


# -- what a page shows --------------------------------------------------------------------------


@dataclass(frozen=True)
class DueTag:
    """The action's due date as a tag: red overdue, amber due soon, green on track; grey once
    the action is done (colour is never the only signal: the words say it)."""

    rag: str  # red, amber, green, done
    text: str
    css: str


def due_tag(action: ActionRead) -> DueTag:
    clock = action.clock
    if action.status in action_repository.DONE_STATUSES or clock is None:
        if clock is not None and clock.status == "met_late":
            return DueTag("done", "Done late", "govuk-tag--orange")
        return DueTag(
            "done", "Done" if action.status == "completed" else "Closed", "govuk-tag--grey"
        )
    if clock.status == "breached":
        return DueTag("red", "Overdue", "govuk-tag--red")
    if clock.working_days_left is not None and clock.working_days_left <= AMBER_WORKING_DAYS:
        return DueTag("amber", "Due soon", "govuk-tag--yellow")
    return DueTag("green", "On track", "govuk-tag--green")


@dataclass(frozen=True)
class ActionRow:
    action: ActionRead
    due: DueTag

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.action.status]

    @property
    def status_css(self) -> str:
        return STATUS_TAGS[self.action.status]


@dataclass(frozen=True)
class HistoryEntry:
    update: ActionUpdateRead
    who: str
    changes: list[tuple[str, str, str]]  # (field label, from, to) in words


def _shown(name: str, value: Any) -> str:
    if value is None or value == "":
        return "Not set"
    if name.endswith("_on"):
        return long_date(value)
    if name == "status":
        return STATUS_LABELS.get(str(value), humanise(value))
    if name in ("owner_agency", "source"):
        return humanise(value)
    return str(value)


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(sorted(ids))))
    return {u.id: u.display_name for u in users}


def history(session: Session, updates: list[ActionUpdateRead]) -> list[HistoryEntry]:
    """The update history, newest first, in words."""
    names = _names(session, {u.actor_id for u in updates})
    return [
        HistoryEntry(
            update=u,
            who=names.get(u.actor_id, "Unknown"),
            changes=[
                (FIELD_LABELS.get(name, humanise(name)), _shown(name, before), _shown(name, after))
                for name, (before, after) in u.changes.items()
            ],
        )
        for u in reversed(updates)
    ]


def _agency_options(case: Case) -> tuple[tuple[str, str], ...]:
    return tuple((a, humanise(a)) for a in workflow_service.definition_for(case).agencies)


def create_form(case: Case) -> Form:
    """The API's ActionCreate, field for field."""
    return Form(
        [
            Field(
                name="source",
                id="action-source",
                label="Where does the action come from?",
                kind="radios",
                required=True,
                options=tuple(SOURCE_LABELS.items()),
                noun="where the action comes from",
            ),
            Field(
                name="description",
                id="action-description",
                label="What will be done",
                kind="textarea",
                required=True,
                hint="One action at a time: copy its words from the texts above, or write them.",
                max_length=10_000,
                noun="what will be done",
            ),
            Field(
                name="owner_agency",
                id="action-owner-agency",
                label="Owner agency",
                kind="select",
                required=True,
                options=(("", "Choose an agency"), *_agency_options(case)),
            ),
            Field(
                name="due_on",
                id="action-due-on",
                label="Due date",
                kind="date",
                required=True,
                hint="For example, 31 7 2026. Not before the local authority became aware.",
                noun="the due date",
            ),
        ]
    )


def update_form(case: Case, action: ActionRead) -> Form:
    """The fields of ActionPatch this user may send (the owner agency's users report on
    progress; qpd and the panel chair change anything), prefilled with what is there now: a
    value left as it is changes nothing."""
    editable = set(action.editable_fields)
    fields: list[Field] = []
    if action.allowed_statuses:
        fields.append(
            Field(
                name="status",
                id="update-status",
                label="Move the action to",
                kind="radios",
                hint="Leave unselected to keep it "
                f"{STATUS_LABELS[action.status].lower()}. Reopening, or closing it without "
                "doing it, needs a note.",
                options=tuple((s, STATUS_LABELS[s]) for s in action.allowed_statuses),
                noun="the new status",
            )
        )
        if "completed" in action.allowed_statuses:
            fields.append(
                Field(
                    name="completed_on",
                    id="update-completed-on",
                    label="Date completed",
                    kind="date",
                    hint="When completing it. Leave empty for today.",
                    noun="the date completed",
                )
            )
        if "closed_with_rationale" in action.allowed_statuses:
            fields.append(
                Field(
                    name="closure_rationale",
                    id="update-closure-rationale",
                    label="Why it is closed without being done",
                    kind="textarea",
                    hint="When closing it with a rationale.",
                    noun="closure rationale",
                )
            )
    if "evidence_of_impact" in editable:
        fields.append(
            Field(
                name="evidence_of_impact",
                id="update-evidence-of-impact",
                label="Evidence of impact",
                kind="textarea",
                hint="What shows the change has made a difference.",
                value=action.evidence_of_impact or "",
            )
        )
    if "description" in editable:
        fields.append(
            Field(
                name="description",
                id="update-description",
                label="What will be done",
                kind="textarea",
                value=action.description,
                noun="what will be done",
            )
        )
    if "owner_agency" in editable:
        fields.append(
            Field(
                name="owner_agency",
                id="update-owner-agency",
                label="Owner agency",
                kind="select",
                options=_agency_options(case),
                value=action.owner_agency,
            )
        )
    if "due_on" in editable:
        due = action.due_on
        fields.append(
            Field(
                name="due_on",
                id="update-due-on",
                label="Due date",
                kind="date",
                hint="Moving it needs a note, which becomes the reason on its clock.",
                value={"day": str(due.day), "month": str(due.month), "year": str(due.year)},
                noun="the due date",
            )
        )
    fields.append(
        Field(
            name="note",
            id="update-note",
            label="Note for the update history",
            kind="textarea",
            hint="Progress, or why the change is made.",
            noun="note",
        )
    )
    return Form(fields)


TYPED = ("note", "evidence_of_impact", "closure_rationale")


def _carry(fresh: Form, old: Form, names: tuple[str, ...]) -> Form:
    """`fresh` with the values of `names` from `old` (what the user typed)."""
    typed = {f.name: f.value for f in old.fields if f.name in names}
    fresh.fields = [replace(f, value=typed[f.name]) if f.name in typed else f for f in fresh.fields]
    return fresh


def _read(form: Form, posted: Any) -> dict[str, Any]:
    """The posted values as API data; a browser sends a text area's line breaks as CRLF, which
    would make text posted back unchanged look changed."""
    data = read(form, posted)
    for f in form.fields:
        if f.kind == "textarea" and isinstance(data.get(f.name), str):
            data[f.name] = data[f.name].replace("\r\n", "\n")
    return data


def _heading(case: Case) -> dict[str, Any]:
    definition = workflow_service.definition_for(case)
    return {
        "case": case,
        "state_label": definition.states[case.state].label,
        "case_reference": case.reference,
        "case_tab": "actions",
    }


# -- the list and the add form ------------------------------------------------------------------


def _list_page(
    request: Request,
    session: Session,
    user: WebUser,
    case: Case,
    now: datetime,
    *,
    form: Form | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actions = action_service.present(
        session, case, action_repository.list_for_case(session, case.id), user.actor, now
    )
    may_create = action_service.may_create(user.actor, case)
    return render(
        request,
        "casework/actions.html",
        {
            **_heading(case),
            "rows": [ActionRow(a, due_tag(a)) for a in actions],
            "sources": action_service.sources(case),
            "may_create": may_create,
            "form": form or (create_form(case) if may_create else None),
            "problem": problem,
            "done": flash(request) if status_code == 200 else None,
        },
        user=user,
        status_code=status_code,
    )


@router.get("/{key}/actions", name="ui_actions")
def actions_page(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    return _list_page(request, session, user, case, clock.now())


@router.post("/{key}/actions", name="ui_add_action")
async def add_action(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    now = clock.now()
    form = create_form(case)
    data = _read(form, posted)
    problem, status_code = None, 422
    if not form.errors:
        try:
            payload = ActionCreate.model_validate(data)
            action = action_service.create_action(
                session=session,
                case=case,
                payload=payload,
                actor=user.actor,
                now=now,
                expected_version=None,
            )
            session.commit()
            reference = action_service.reference(action)
            return see_other(
                f"/ui/cases/{case.reference}/actions/{reference}?"
                + urlencode({"done": f"Action {reference} added"})
            )
        except ValidationError as exc:
            form.add_api_errors(pydantic_errors(exc.errors()))
        except InvalidData as exc:
            session.rollback()
            form.add_api_errors(exc.errors)
        except CsprError as exc:
            session.rollback()
            problem, status_code = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    return _list_page(
        request, session, user, fresh, now, form=form, problem=problem, status_code=status_code
    )


# -- one action: its details, the update form, the history ---------------------------------------


def _action_or_404(session: Session, case: Case, key: str) -> ImprovementAction:
    action = action_repository.get_for_case(session, case.id, key)
    if action is None:
        raise ActionNotFound("The case has no action with that reference.")
    return action


def _action_page(
    request: Request,
    session: Session,
    user: WebUser,
    case: Case,
    action: ImprovementAction,
    now: datetime,
    *,
    form: Form | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    detail = action_service.present_detail(session, case, action, user.actor, now)
    editable = bool(detail.editable_fields)
    return render(
        request,
        "casework/actions_detail.html",
        {
            **_heading(case),
            "action": detail,
            "row": ActionRow(detail, due_tag(detail)),
            "source_label": SOURCE_LABELS.get(detail.source, humanise(detail.source)),
            "history": history(session, detail.updates),
            "form": form or (update_form(case, detail) if editable else None),
            "problem": problem,
            "done": flash(request) if status_code == 200 else None,
        },
        user=user,
        status_code=status_code,
    )


@router.get("/{key}/actions/{number}", name="ui_action")
def action_page(
    request: Request,
    key: CaseKey,
    number: ActionKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    action = _action_or_404(session, case, number)
    return _action_page(request, session, user, case, action, clock.now())


# Not POST /{key}/actions/{number}: web.router's POST /ui/cases/{key}/actions/{trigger} (a
# workflow trigger) takes that path first.
@router.post("/{key}/actions/{number}/update", name="ui_update_action")
async def update_action(
    request: Request,
    key: CaseKey,
    number: ActionKey,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    action = _action_or_404(session, case, number)
    posted = await posted_form(request, user)
    now = clock.now()
    shown = action_service.present(session, case, [action], user.actor, now)[0]
    form = update_form(case, shown)
    data = _read(form, posted)
    problem, status_code = None, 422
    version = str(posted.get("version") or "")
    if not form.errors:
        if version != str(action.version):
            problem, status_code = STALE, 412
        else:
            try:
                patch = ActionPatch.model_validate(data)
                action_service.update_action(
                    session=session,
                    case=case,
                    action=action,
                    patch=patch,
                    actor=user.actor,
                    now=now,
                    expected_version=frozenset({action.version}),
                )
                session.commit()
                reference = action_service.reference(action)
                return see_other(
                    f"/ui/cases/{case.reference}/actions/{reference}?"
                    + urlencode({"done": f"Action {reference} updated"})
                )
            except ValidationError as exc:
                form.add_api_errors(pydantic_errors(exc.errors()))
            except InvalidData as exc:
                session.rollback()
                form.add_api_errors(exc.errors)
            except (StaleActionVersion, StaleVersion, ConcurrentUpdate):
                session.rollback()
                problem, status_code = STALE, 412
            except CsprError as exc:
                session.rollback()
                problem, status_code = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    fresh_action = _action_or_404(session, fresh, number)
    if problem is not None:
        # A refusal shows the action as it is now: a fresh form, keeping the words typed.
        shown = action_service.present(session, fresh, [fresh_action], user.actor, now)[0]
        kept = _carry(update_form(fresh, shown), form, TYPED) if shown.editable_fields else None
    else:
        kept = form
    return _action_page(
        request,
        session,
        user,
        fresh,
        fresh_action,
        now,
        form=kept,
        problem=problem,
        status_code=status_code,
    )
