"""Opening cases and presenting them. Changes of state go through workflow.service.fire."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
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
from cspr_engine.cases.schemas import OPENED_FROM, CaseCreate, CaseRead, TriggerOption
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.errors import FieldError, InvalidData, pydantic_errors
from cspr_engine.kit.clock import london_date
from cspr_engine.links import repository as links_repository
from cspr_engine.links.exceptions import DuplicateLink
from cspr_engine.links.models import CaseLink
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import TriggerDef, WorkflowDefinition


def create_case(*, session: Session, payload: CaseCreate, actor: Actor, now: datetime) -> Case:
    """Open a case in its workflow's initial state, with a reference unique in the partnership."""
    definition = workflow_service.latest(payload.workflow)
    if actor.partnership_id is None or actor.partnership_code is None:
        raise CreateForbidden("Cases belong to a partnership; this account has none.")
    if not definition.may_create(actor.roles, actor.agency):
        raise CreateForbidden(f"A case may be opened by: {', '.join(definition.create.roles)}.")
    return _open(
        session,
        definition=definition,
        payload=payload,
        partnership_id=actor.partnership_id,
        partnership_code=actor.partnership_code,
        actor=actor,
        now=now,
    )


def requirement_errors(definition: WorkflowDefinition, payload: CaseCreate) -> list[FieldError]:
    """The referral values the workflow does not take (`create.requires`), each on its field."""
    given = payload.model_dump(mode="json")
    errors = []
    for key, accepted in definition.create.requires.items():
        value: Any = given
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value not in accepted:
            errors.append(
                FieldError(
                    loc=key,
                    message=f"must be one of {', '.join(accepted)} for a {definition.name} case",
                    type="not_accepted",
                )
            )
    return errors


def _open(
    session: Session,
    *,
    definition: WorkflowDefinition,
    payload: CaseCreate,
    partnership_id: uuid.UUID,
    partnership_code: str,
    actor: Actor,
    now: datetime,
    opened_from: Case | None = None,
) -> Case:
    """Every case opens here: checks, reference, clocks, outbox event and audit event."""
    today = london_date(now)
    errors = requirement_errors(definition, payload)
    if payload.became_aware_on > today:
        errors.insert(
            0,
            FieldError(
                loc="became_aware_on",
                message=f"cannot be in the future (today is {today})",
                type="future_date",
            ),
        )
    if errors:
        raise InvalidData(errors)
    number = case_repository.next_reference_number(session, partnership_id, today.year)
    case = Case(
        partnership_id=partnership_id,
        reference=f"{partnership_code}-{today.year}-{number:04d}",
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
    data = payload.model_dump(mode="json", exclude={"comment"}, exclude_none=True)
    if opened_from is not None:
        data[OPENED_FROM] = opened_from.reference
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="case.created",
        now=now,
        to_state=case.state,
        data=data,
        comment=payload.comment,
    )
    session.flush()
    return case


def open_linked_case(
    session: Session,
    *,
    source: Case,
    trigger: TriggerDef,
    values: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> Case:
    """Open the case that `trigger`'s `opens` names, linked from `source`, in the caller's
    transaction (workflow.service.fire calls this once the transition is applied).

    The actor's right to fire the trigger is the authority: the workflow file grants the
    opening with the trigger's roles, so the opened workflow's own `create.roles` are not
    asked. The new case goes through the same opening as any other (its requirements, clocks,
    outbox and audit events); it copies the source case's incident, child and partner
    reference, takes what `opens.fields` maps from the trigger's data, and belongs to the
    source case's partnership. One link, from the source case to the new one, shows on both.
    Raises DuplicateLink if a case of that workflow is already linked so (from either side),
    InvalidData (on the trigger's fields) if the new case's workflow would refuse it."""
    opens = trigger.opens
    if opens is None:  # pragma: no cover - fire calls this only for a trigger that opens
        raise ValueError(f"trigger {trigger.name} opens no case")
    definition = workflow_service.latest(opens.workflow)
    linked = links_repository.linked_cases(session, source.id, opens.link)
    already = [c for c in linked if c.workflow == definition.name]
    if already:
        raise DuplicateLink(
            f"{already[0].reference} is already linked to this case as {opens.link}; "
            "remove that link first if another case is needed.",
            link_type=opens.link,
            linked_case=already[0].reference,
        )
    body: dict[str, Any] = {
        "workflow": definition.name,
        "became_aware_on": source.became_aware_on.isoformat(),
        "referring_agency": opens.referring_agency,
        "incident": dict(source.incident),
        "child": dict(source.child),
        "summary": source.summary,
    }
    if source.partner_reference is not None:
        body["partner_reference"] = source.partner_reference
    for target, field_name in opens.fields.items():
        value = values.get(field_name)
        if value in (None, "", []):
            continue  # left empty: the source case's value stands
        *parents, last = target.split(".")
        node = body
        for part in parents:
            node = node[part]
        node[last] = value.isoformat() if isinstance(value, date) else value
    back = {target: f"data.{name}" for target, name in opens.fields.items()}
    try:
        payload = CaseCreate.model_validate(body)
    except ValidationError as exc:
        raise InvalidData(_on_trigger_fields(pydantic_errors(exc.errors()), back)) from exc
    code = accounts_repository.partnership_code(session, source.partnership_id) or ""
    try:
        case = _open(
            session,
            definition=definition,
            payload=payload,
            partnership_id=source.partnership_id,
            partnership_code=code,
            actor=actor,
            now=now,
            opened_from=source,
        )
    except InvalidData as exc:
        raise InvalidData(_on_trigger_fields(exc.errors, back)) from exc
    session.add(
        CaseLink(
            case_id=source.id,
            type=opens.link,
            target_case_id=case.id,
            note=trigger.label,
            created_by=actor.user_id,
            created_at=now,
        )
    )
    session.flush()
    return case


def _on_trigger_fields(errors: list[FieldError], back: dict[str, str]) -> list[FieldError]:
    """The new case's field errors, placed on the trigger fields that carried the values (a
    copied value that does not fit stays on its own name, under `opens`)."""
    return [e.model_copy(update={"loc": back.get(e.loc, f"opens.{e.loc}")}) for e in errors]


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
