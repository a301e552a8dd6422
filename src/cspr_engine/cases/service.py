"""Opening cases and presenting them. Changes of state go through workflow.service.fire."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.schemas import Actor
from cspr_engine.alerts import service as alert_service
from cspr_engine.approvals import service as approvals_service
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.exceptions import CreateForbidden
from cspr_engine.cases.models import Case
from cspr_engine.cases.schemas import CaseCreate, CaseRead, TriggerOption
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.errors import FieldError, InvalidData
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow import service as workflow_service


def create_case(*, session: Session, payload: CaseCreate, actor: Actor, now: datetime) -> Case:
    """Open a case in its workflow's initial state, with a reference unique in the partnership."""
    definition = workflow_service.latest(payload.workflow)
    if actor.partnership_id is None or actor.partnership_code is None:
        raise CreateForbidden("Cases belong to a partnership; this account has none.")
    if not definition.may_create(actor.roles, actor.agency):
        raise CreateForbidden(f"A case may be opened by: {', '.join(definition.create.roles)}.")
    today = london_date(now)
    if payload.became_aware_on > today:
        raise InvalidData(
            [
                FieldError(
                    loc="became_aware_on",
                    message=f"cannot be in the future (today is {today})",
                    type="future_date",
                )
            ]
        )
    number = case_repository.next_reference_number(session, actor.partnership_id, today.year)
    case = Case(
        partnership_id=actor.partnership_id,
        reference=f"{actor.partnership_code}-{today.year}-{number:04d}",
        workflow=definition.name,
        workflow_version=definition.version,
        state=definition.initial,
        partner_reference=payload.partner_reference,
        referring_agency=payload.referring_agency,
        became_aware_on=payload.became_aware_on,
        incident=payload.incident.model_dump(mode="json"),
        child=payload.child.model_dump(mode="json", exclude_none=True),
        summary=payload.summary,
        recorded={},
        created_by=actor.user_id,
        state_entered_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    deadline_service.on_created(session, case=case, definition=definition, now=now)
    alert_service.enqueue(
        session,
        type="case.created",
        dedupe_key=f"case:{case.id}:v1",
        fresh=True,  # the case is new in this transaction
        case=case,
        data={"state": case.state, "referring_agency": case.referring_agency},
        now=now,
    )
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="case.created",
        now=now,
        to_state=case.state,
        data=payload.model_dump(mode="json", exclude={"comment"}, exclude_none=True),
        comment=payload.comment,
    )
    session.flush()
    return case


def present(session: Session, case: Case, actor: Actor, now: datetime) -> CaseRead:
    """The case resource as `actor` sees it at `now` (allowed_triggers is per caller)."""
    definition = workflow_service.definition_for(case)
    return CaseRead(
        id=case.id,
        reference=case.reference,
        workflow=case.workflow,
        workflow_version=case.workflow_version,
        partnership=accounts_repository.partnership_code(session, case.partnership_id) or "",
        state=case.state,
        state_label=definition.states[case.state].label,
        version=case.version,
        partner_reference=case.partner_reference,
        referring_agency=case.referring_agency,
        became_aware_on=case.became_aware_on,
        incident=case.incident,
        child=case.child,
        summary=case.summary,
        recorded=case.recorded,
        deadlines=deadline_service.present(session, case, definition, now),
        allowed_triggers=(
            definition.allowed_triggers(case.state, actor.roles, actor.agency)
            if policy.may_change(actor, case)
            else []
        ),
        approvals=approvals_service.gate_reads(session, case, definition.gates.values()),
        state_entered_at=case.state_entered_at,
        closed_at=case.closed_at,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def trigger_options(case: Case, actor: Actor) -> list[TriggerOption]:
    """The triggers `actor` may fire now, each with the data it takes."""
    definition = workflow_service.definition_for(case)
    return [
        TriggerOption(
            trigger=t.name,
            label=t.label,
            to=sorted({d or case.state for d in t.destinations}),
            fields={n: f.model_dump(exclude_defaults=True) for n, f in t.fields.items()},
            guards=[g.name for g in t.guards],
        )
        for t in definition.triggers_from(case.state)
        if t.admits(actor.roles, actor.agency) and policy.may_change(actor, case)
    ]
