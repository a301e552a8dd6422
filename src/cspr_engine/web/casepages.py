"""What the dashboard and the case page show, built from the same services as the API."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, get_args

from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.approvals.schemas import GateRead
from cspr_engine.audit import repository as audit_repository
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.cases.schemas import (
    OPENED_FROM,
    CaseCreate,
    CaseRead,
    IncidentCategory,
    ReferringAgency,
)
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.schemas import DeadlineRead
from cspr_engine.kit.clock import london_date
from cspr_engine.web.forms import Field, Form, trigger_form
from cspr_engine.web.templating import humanise
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

# A running clock this close to its due date is amber: the first rung of the escalation ladder
# (the warning) goes out two working days before.
AMBER_WORKING_DAYS = 2
DASHBOARD_LIMIT = 500
TIMELINE_LIMIT = 500


@dataclass(frozen=True)
class ClockView:
    """One clock as a red/amber/green tag and a line of words."""

    label: str
    rag: str  # red, amber, green, done, met_late
    tag: str  # the words on the tag (colour is never the only signal)
    tag_class: str
    words: str  # e.g. "3 working days left", "due 17 June 2026"
    due_on: date
    statutory: bool
    deadline: DeadlineRead


def clock_view(d: DeadlineRead) -> ClockView | None:
    """How a clock shows; None for a cancelled one (no longer runs, nothing to do)."""
    due = f"{d.due_on.day} {d.due_on:%B %Y}"
    left = d.working_days_left
    match d.status:
        case "cancelled":
            return None
        case "breached":
            rag, tag, cls, words = "red", "Breached", "govuk-tag--red", f"was due {due}"
        case "met_late":
            rag, tag, cls, words = "met_late", "Met late", "govuk-tag--orange", f"was due {due}"
        case "met":
            rag, tag, cls = "done", "Met", "govuk-tag--grey"
            met = d.met_on
            words = f"met {met.day} {met:%B %Y}, due {due}" if met else f"due {due}"
        case _:
            if left is not None and left <= AMBER_WORKING_DAYS:
                rag, tag, cls = "amber", "Due soon", "govuk-tag--yellow"
            else:
                rag, tag, cls = "green", "On track", "govuk-tag--green"
            if left == 0:
                words = f"due today ({due})"
            else:
                words = f"{left} working day{'s' if left != 1 else ''} left, due {due}"
    label = d.label
    if d.subject_agency:
        label = f"{label} ({humanise(d.subject_agency).lower()})"
    return ClockView(
        label=label,
        rag=rag,
        tag=tag,
        tag_class=cls,
        words=words,
        due_on=d.due_on,
        statutory=d.statutory,
        deadline=d,
    )


RAG_ORDER = {"red": 0, "amber": 1, "green": 2, "met_late": 3, "done": 4}


@dataclass
class CaseRow:
    case: Case
    state_label: str
    clocks: list[ClockView]

    @property
    def breached(self) -> bool:
        """A statutory clock is breached, as the dashboard's filter and warning mean it: an
        advisory or local clock past its date alerts, but is no statutory breach."""
        return any(c.rag == "red" and c.statutory for c in self.clocks)

    @property
    def running(self) -> list[ClockView]:
        """The clocks to show on the dashboard: running and breached ones first."""
        return sorted(self.clocks, key=lambda c: (RAG_ORDER[c.rag], c.due_on))

    def sort_key(self) -> tuple[int, date, datetime]:
        worst = min((RAG_ORDER[c.rag] for c in self.clocks), default=9)
        soonest = min(
            (c.due_on for c in self.clocks if c.rag in ("red", "amber", "green")),
            default=date.max,
        )
        return (worst, soonest, self.case.created_at)


@dataclass(frozen=True)
class DashboardFilters:
    state: str | None = None
    agency: str | None = None
    clocks: str | None = None  # breached, due_soon
    closed: bool = False


def _in_order() -> list[WorkflowDefinition]:
    """Every loaded definition: the API's default workflow first, then the others by title;
    the newest version of each first."""
    default = CaseCreate.model_fields["workflow"].default
    return sorted(
        workflow_service.get_definitions().values(),
        key=lambda d: (d.name != default, d.title, d.name, -d.version),
    )


def state_options() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for d in _in_order():
        for name, s in d.states.items():
            seen.setdefault(name, s.label)
    return list(seen.items())


def agency_options() -> list[tuple[str, str]]:
    return [(a, humanise(a)) for a in get_args(ReferringAgency)]


def dashboard(
    session: Session, actor: Actor, filters: DashboardFilters, now: datetime
) -> tuple[list[CaseRow], bool]:
    """The user's cases, breaches first, then the soonest due; and whether the list was cut."""
    query = case_repository.CaseFilters(
        state=filters.state,
        agency=filters.agency,
        q=None,
        workflow=None,
        breached=True if filters.clocks == "breached" else None,
        due_before=None,
        now=now,
        open_only=not filters.closed and filters.state is None,
    )
    cases = case_repository.list_visible(
        session, actor, query, limit=DASHBOARD_LIMIT + 1, after=None
    )
    cut = len(cases) > DASHBOARD_LIMIT
    cases = cases[:DASHBOARD_LIMIT]
    definitions = {c.id: workflow_service.definition_for(c) for c in cases}
    clocks = deadline_service.present_many(session, cases, definitions, now)
    rows = []
    for c in cases:
        views = [v for d in clocks[c.id] if (v := clock_view(d)) is not None]
        row = CaseRow(case=c, state_label=definitions[c.id].states[c.state].label, clocks=views)
        if filters.clocks == "due_soon" and not any(v.rag in ("red", "amber") for v in views):
            continue
        rows.append(row)
    rows.sort(key=CaseRow.sort_key)
    return rows, cut


# -- what an agency owes: information returns and improvement actions ---------------------------


@dataclass(frozen=True)
class OwedItem:
    """An information return or improvement action addressed to the user's agency."""

    case_reference: str
    what: str  # "Information return 2", "Action A1"
    href: str
    due_on: date
    rag: str
    tag: str
    tag_class: str
    words: str


def _owed_tag(due_on: date, today: date, left: int) -> tuple[str, str, str, str]:
    due = f"{due_on.day} {due_on:%B %Y}"
    if due_on < today:
        return "red", "Overdue", "govuk-tag--red", f"was due {due}"
    if left <= AMBER_WORKING_DAYS:
        return "amber", "Due soon", "govuk-tag--yellow", f"due {due}"
    return "green", "On track", "govuk-tag--green", f"due {due}"


def owed_by_agency(session: Session, actor: Actor, now: datetime) -> list[OwedItem]:
    """Open information requests to the user's agency and open improvement actions it owns, on
    the cases the user may read, soonest due first (for users who answer or report for one)."""
    from cspr_engine.actions.models import ImprovementAction
    from cspr_engine.actions.repository import OPEN_STATUSES
    from cspr_engine.information_requests import repository as request_repository

    agency = actor.agency
    answers = policy.may_casework(actor, policy.Casework.answer_information)
    reports = policy.may_casework(actor, policy.Casework.update_own_action)
    if agency is None or actor.partnership_id is None or not (answers or reports):
        return []
    today = london_date(now)
    calendar = deadline_service.current_calendar(session)
    items: list[OwedItem] = []
    if answers:
        for request, case in request_repository.addressed_to(
            session, actor, agency, status="open", after=None, limit=100
        ):
            left = calendar.working_days_between(today, request.due_on)
            rag, tag, cls, words = _owed_tag(request.due_on, today, left)
            items.append(
                OwedItem(
                    case_reference=case.reference,
                    what=f"Information return {request.number}",
                    href=f"/ui/cases/{case.reference}/information-requests",
                    due_on=request.due_on,
                    rag=rag,
                    tag=tag,
                    tag_class=cls,
                    words=words,
                )
            )
    if reports:
        rows = session.exec(
            select(ImprovementAction, Case)
            .join(Case, col(Case.id) == col(ImprovementAction.case_id))
            .where(
                col(ImprovementAction.partnership_id) == actor.partnership_id,
                col(ImprovementAction.owner_agency) == agency,
                col(ImprovementAction.status).in_(OPEN_STATUSES),
                policy.readable_cases(actor),
            )
            .order_by(col(ImprovementAction.due_on))
            .limit(100)
        )
        for action, case in rows:
            left = calendar.working_days_between(today, action.due_on)
            rag, tag, cls, words = _owed_tag(action.due_on, today, left)
            items.append(
                OwedItem(
                    case_reference=case.reference,
                    what=f"Improvement action A{action.number}",
                    href=f"/ui/cases/{case.reference}/actions/A{action.number}",
                    due_on=action.due_on,
                    rag=rag,
                    tag=tag,
                    tag_class=cls,
                    words=words,
                )
            )
    items.sort(key=lambda i: (RAG_ORDER[i.rag], i.due_on))
    return items


# -- the case page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowStep:
    name: str
    label: str
    description: str | None
    status: str  # done, current, not_reached
    final: bool


def flow(definition: WorkflowDefinition, current: str, visited: set[str]) -> list[FlowStep]:
    """The workflow's states in the order the definition gives them, each marked as passed,
    current or not reached."""
    steps = []
    for name, s in definition.states.items():
        if name == current:
            status = "current"
        elif name in visited:
            status = "done"
        else:
            status = "not_reached"
        steps.append(
            FlowStep(
                name=name,
                label=s.label,
                description=s.description,
                status=status,
                final=bool(s.final),
            )
        )
    return steps


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    title: str
    who: str
    from_label: str | None
    to_label: str | None
    data: list[tuple[str, str]]
    comment: str | None
    basis: str | None


def _names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = session.exec(select(User).where(col(User.id).in_(sorted(wanted))))
    return {u.id: u.display_name for u in users}


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(_display(v) for v in value) or "None"
    if isinstance(value, dict):
        return "; ".join(f"{humanise(k)}: {_display(v)}" for k, v in value.items())
    text = str(value)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return text
    return f"{day.day} {day:%B %Y}"


def _labels_for(definition: WorkflowDefinition, trigger: str | None) -> dict[str, str]:
    t = definition.triggers.get(trigger or "")
    return {n: f.label or humanise(n) for n, f in t.fields.items()} if t else {}


def _coded_fields(definition: WorkflowDefinition, trigger: str | None) -> set[str]:
    t = definition.triggers.get(trigger or "")
    fields = {n for n, f in t.fields.items() if f.type in ("enum", "list")} if t else set()
    return fields | CODED


def _shown_value(key: str, value: Any, coded: set[str], gates: dict[str, str]) -> str:
    if key == "gate" and isinstance(value, str):
        return gates.get(value, humanise(value))
    if key in coded:
        if isinstance(value, list):
            return ", ".join(humanise(v) for v in value) or "None"
        return humanise(value)
    return _display(value)


EVENT_TITLES = {
    "case.created": "Referral recorded",
    "case.migrated": "Moved to a new version of the workflow",
    "deadline.extended": "Clock extended",
    "deadline.recomputed": "Clock recomputed for a new bank holiday",
    "approval.voted": "Decision recorded",
    "approval.disputed": "Decision recorded: a partner disagrees",
    "information_request.created": "Information requested",
    "information_request.answered": "Information return made",
    "information_request.withdrawn": "Information request withdrawn",
    "action.created": "Improvement action added",
    "action.updated": "Improvement action updated",
    "link.added": "Case linked",
    "link.removed": "Link removed",
    "case.shared": "Shared with another partnership",
    "case.share_revoked": "Share revoked",
    "document.added": "Document added",
    "document.withdrawn": "Document withdrawn",
}
# Stored codes shown as words in the timeline (enum and list values, parties, decisions).
CODED = frozenset(
    {
        "party",
        "decision",
        "gate",
        "agency",
        "agencies",
        "owner_agency",
        "source",
        "status",
        "type",
        "direction",
        "kind",
    }
)


def timeline(
    session: Session, case: Case, definition: WorkflowDefinition
) -> tuple[list[TimelineEntry], set[str]]:
    """The audit events, newest first, as sentences; and every state the case has been in."""
    events: list[AuditEvent] = audit_repository.events_for_case(
        session, case.id, limit=TIMELINE_LIMIT
    )
    names = _names(session, (e.actor_id for e in events))
    gates = {g.name: g.label for g in definition.gates.values()}
    visited = {s for e in events for s in (e.from_state, e.to_state) if s}
    entries = []
    for e in reversed(events):
        trigger = definition.triggers.get(e.trigger or "")
        title = trigger.label if trigger else EVENT_TITLES.get(e.kind, humanise(e.kind))
        labels = _labels_for(definition, e.trigger)
        coded = _coded_fields(definition, e.trigger)
        # A referral's own data is on the page already; a case another case's trigger opened
        # says which.
        shown = e.data if e.kind != "case.created" else _opened_from(e.data)
        who = names.get(e.actor_id, "The service") if e.actor_id else "The service"
        if e.actor_agency:
            who = f"{who} ({humanise(e.actor_agency)})"
        entries.append(
            TimelineEntry(
                at=e.at,
                title=title,
                who=who,
                from_label=_state_label(definition, e.from_state),
                to_label=_state_label(definition, e.to_state),
                data=[
                    (labels.get(k, humanise(k)), _shown_value(k, v, coded, gates))
                    for k, v in shown.items()
                ],
                comment=e.comment,
                basis=e.basis,
            )
        )
    return entries, visited


def _opened_from(data: dict[str, Any]) -> dict[str, Any]:
    return {OPENED_FROM: data[OPENED_FROM]} if OPENED_FROM in data else {}


def _state_label(definition: WorkflowDefinition, state: str | None) -> str | None:
    if state is None:
        return None
    found = definition.states.get(state)
    return found.label if found else state


@dataclass
class ActionForm:
    trigger: str
    label: str
    basis: str | None
    form: Form
    comment: str = ""
    open: bool = False  # shown expanded (it was just posted with errors)


def action_forms(definition: WorkflowDefinition, case: Case, actor: Actor) -> list[ActionForm]:
    """A form for each trigger this user may fire from the case's state."""
    return [
        ActionForm(
            trigger=t.name,
            label=t.label,
            basis=t.basis,
            form=trigger_form(t.name, t.fields),
        )
        for t in definition.triggers_from(case.state)
        if t.admits(actor.roles, actor.agency)
    ]


@dataclass
class VoteForm:
    gate: GateRead
    party: str | None  # the party this user decides for, None if not a party
    decisions: tuple[str, ...]
    form: Form


def vote_forms(
    definition: WorkflowDefinition, case: Case, read: CaseRead, actor: Actor
) -> list[VoteForm]:
    """The decision panel of each gate open in the case's state (and the votes of closed ones)."""
    out = []
    for gate in definition.gates.values():
        shown = read.approvals[gate.name]
        if shown.status == "not_open":
            continue
        party = next((p for p in gate.party_refs if p.admits(actor.roles, actor.agency)), None)
        if not policy.may_change(actor, case):
            party = None
        prefix = f"vote-{gate.name}".replace("_", "-")
        form = Form(
            [
                Field(
                    name="decision",
                    id=f"{prefix}-decision",
                    label="Your decision",
                    kind="radios",
                    required=True,
                    options=tuple((d, humanise(d)) for d in gate.decisions),
                ),
                Field(
                    name="rationale",
                    id=f"{prefix}-rationale",
                    label="Rationale",
                    kind="textarea",
                    required=True,
                    hint="What the decision rests on. Do not give the child's name, address, "
                    "date of birth or NHS number.",
                ),
                Field(
                    name="decided_on",
                    id=f"{prefix}-decided-on",
                    label="Date decided",
                    kind="date",
                    hint="Leave empty for today. For example, 27 3 2026",
                ),
            ]
        )
        out.append(
            VoteForm(
                gate=shown,
                party=str(party) if party is not None and case.state == gate.state else None,
                decisions=gate.decisions,
                form=form,
            )
        )
    return out


@dataclass
class CasePage:
    read: CaseRead
    definition: WorkflowDefinition
    clocks: list[ClockView]
    steps: list[FlowStep]
    entries: list[TimelineEntry]
    actions: list[ActionForm]
    votes: list[VoteForm]
    extra: dict[str, Any] = field(default_factory=dict)


def case_page(session: Session, case: Case, actor: Actor, now: datetime) -> CasePage:
    from cspr_engine.cases import service as case_service

    definition = workflow_service.definition_for(case)
    read = case_service.present(session, case, actor, now)
    entries, visited = timeline(session, case, definition)
    clocks = [v for d in read.deadlines if (v := clock_view(d)) is not None]
    clocks.sort(key=lambda c: (RAG_ORDER[c.rag], c.due_on))
    return CasePage(
        read=read,
        definition=definition,
        clocks=clocks,
        steps=flow(definition, case.state, visited),
        entries=entries,
        actions=(
            action_forms(definition, case, actor)
            if case.closed_at is None and policy.may_change(actor, case)
            else []
        ),
        votes=vote_forms(definition, case, read, actor),
    )


# -- the referral form -------------------------------------------------------------------------

CATEGORY_OPTIONS = tuple((c, humanise(c)) for c in get_args(IncidentCategory))
LEGAL_STATUS_LABELS = {
    "none": "None",
    "child_in_need": "Child in need",
    "cp_plan": "Child protection plan",
    "looked_after": "Looked after",
    "care_leaver": "Care leaver",
    "not_known": "Not known",
}


OUTCOME_LABELS = {"death": "The child died", "serious_harm": "Serious harm"}
ABUSE_LABELS = {"known": "Known", "suspected": "Suspected", "not_suspected": "Not suspected"}


def referral_workflows(actor: Actor) -> list[WorkflowDefinition]:
    """The workflows `actor` may open a case of (the latest version of each, as a new case
    takes): the API's default first, then the others by title."""
    latest: dict[str, WorkflowDefinition] = {}
    for d in _in_order():
        latest.setdefault(d.name, d)
    return [d for d in latest.values() if d.may_create(actor.roles, actor.agency)]


def only_workflow(workflows: Sequence[WorkflowDefinition]) -> WorkflowDefinition | None:
    """The one workflow the form records a case of, when it is not the API's default (the
    page names it; the default's form reads as it always has)."""
    default = CaseCreate.model_fields["workflow"].default
    return workflows[0] if len(workflows) == 1 and workflows[0].name != default else None


def _accepted(
    workflows: Sequence[WorkflowDefinition], key: str, labels: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    """The choices for a referral field that at least one of the workflows takes
    (`create.requires`), in the API's order."""
    if not workflows:
        return tuple(labels.items())
    taken = {v for d in workflows for v in d.create.requires.get(key, tuple(labels))}
    return tuple((v, text) for v, text in labels.items() if v in taken)


def referral_form(workflows: Sequence[WorkflowDefinition] = ()) -> Form:
    """The new referral form: the API's CaseCreate, field for field (no identifying data).
    With more than one workflow to choose from it asks which; its choices of outcome and of
    abuse or neglect are those one of `workflows` takes."""
    choose = len(workflows) > 1
    # The Panel's 5 working days are the default workflow's clock; another workflow's differ.
    default = CaseCreate.model_fields["workflow"].default
    own_clocks = choose or any(d.name != default for d in workflows)
    chooser = [
        Field(
            "workflow",
            "workflow",
            "What kind of case is this?",
            "radios",
            required=True,
            noun="the kind of case",
            options=tuple((d.name, d.title) for d in workflows),
        )
    ]
    return Form(
        [
            *(chooser if choose else []),
            Field(
                "became_aware_on",
                "became-aware-on",
                "When did the local authority become aware of the incident?",
                "date",
                required=True,
                hint=(
                    "The case's clocks count from this date. For example, 27 3 2026"
                    if own_clocks
                    else "The 5 working day clock to notify the Panel starts here. "
                    "For example, 27 3 2026"
                ),
                noun="the date the local authority became aware",
            ),
            Field(
                "referring_agency",
                "referring-agency",
                "Referring agency",
                "select",
                required=True,
                noun="the referring agency",
                options=(("", "Select an agency"), *agency_options()),
            ),
            Field(
                "partner_reference",
                "partner-reference",
                "Your case reference (optional)",
                "input",
                hint="The reference in your own case system. Never the child's name.",
                max_length=100,
                width="20",
            ),
            Field(
                "incident.outcome",
                "incident-outcome",
                "What happened to the child?",
                "radios",
                required=True,
                noun="what happened to the child",
                options=_accepted(workflows, "incident.outcome", OUTCOME_LABELS),
            ),
            Field(
                "incident.abuse_or_neglect",
                "incident-abuse-or-neglect",
                "Is abuse or neglect known or suspected?",
                "radios",
                required=True,
                noun="whether abuse or neglect is known or suspected",
                options=_accepted(workflows, "incident.abuse_or_neglect", ABUSE_LABELS),
            ),
            Field(
                "incident.occurred_on",
                "incident-occurred-on",
                "When did the incident happen? (optional)",
                "date",
                noun="the incident date",
                hint="For example, 27 3 2026",
            ),
            Field(
                "incident.categories",
                "incident-categories",
                "Categories of harm (optional)",
                "checkboxes",
                options=CATEGORY_OPTIONS,
            ),
            Field(
                "child.age_years",
                "child-age-years",
                "Child's age in years (optional)",
                "number",
                noun="the child's age",
                hint="Age only: the child's date of birth is never recorded here.",
                width="3",
            ),
            Field(
                "child.sex",
                "child-sex",
                "Sex (optional)",
                "radios",
                options=(
                    ("female", "Female"),
                    ("male", "Male"),
                    ("other", "Other"),
                    ("not_known", "Not known"),
                ),
            ),
            Field(
                "child.legal_status",
                "child-legal-status",
                "Legal status (optional)",
                "select",
                options=(("", "Not given"), *LEGAL_STATUS_LABELS.items()),
            ),
            Field(
                "summary",
                "summary",
                "Summary of the incident (optional)",
                "textarea",
                hint="What is known so far. Do not give the child's name, address, date of "
                "birth or NHS number: link to your own records by your case reference.",
                max_length=20_000,
            ),
        ]
    )
