"""Improvement actions: what the partners will change, each with an owner agency, a due date
(its `action_due` clock, whose overdue alert goes to the owner agency's DSP and the QPD group)
and a status; every change kept in the action's update history and in the case's audit.

Who may change what (`access.policy.Casework`):

- qpd and the panel chair (`create_action`, `update_action`) add actions and change any field;
- the owner agency's users (`update_own_action`: referrer, dsp, of `owner_agency`) report on
  their own action: `status` to in_progress or completed, `completed_on`,
  `evidence_of_impact`, and a `note`. Its wording, owner and due date, closing it without doing
  it (closed_with_rationale) and reopening it are the monitoring group's decisions.

Status moves: open -> in_progress -> completed; open -> completed (found done when first
reviewed); open or in_progress -> closed_with_rationale (with `closure_rationale`); completed or
closed_with_rationale -> in_progress (reopened: its clock starts again). `completed_on` and
`closure_rationale` go with their move. A `note` is required to move the due date, to close
with a rationale and to reopen. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal

from sqlmodel import Session

from cspr_engine.access import policy
from cspr_engine.access.policy import Casework
from cspr_engine.accounts.schemas import Actor
from cspr_engine.actions import repository
from cspr_engine.actions.exceptions import (
    ActionForbidden,
    ActionStatusConflict,
    CaseClosedToActions,
    StaleActionVersion,
)
from cspr_engine.actions.models import ActionUpdate, ImprovementAction
from cspr_engine.actions.schemas import (
    ActionClockRead,
    ActionCreate,
    ActionDetail,
    ActionPatch,
    ActionRead,
    ActionSources,
    ActionUpdateRead,
)
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import WorkingCalendar, add_months
from cspr_engine.deadlines.models import Deadline
from cspr_engine.deadlines.schemas import ExtensionRead
from cspr_engine.errors import ConcurrentUpdate, FieldError, InvalidData
from cspr_engine.kit.clock import london_date
from cspr_engine.kit.http import stale_detail
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

CLOCK_KEY = "action_due"
# A due date further ahead than this is a typo, not a plan (and no calendar reaches it).
MAX_MONTHS_AHEAD = 120

STATUS_MOVES: Mapping[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "completed", "closed_with_rationale"}),
    "in_progress": frozenset({"completed", "closed_with_rationale"}),
    "completed": frozenset({"in_progress"}),
    "closed_with_rationale": frozenset({"in_progress"}),
}
OWNER_FIELDS = frozenset({"status", "completed_on", "evidence_of_impact", "note"})
OWNER_STATUSES = frozenset({"in_progress", "completed"})
ALL_FIELDS = frozenset(ActionPatch.model_fields)
# Fields whose change is stored as text in the history (dates as YYYY-MM-DD).
SIMPLE_FIELDS = ("description", "owner_agency", "due_on", "evidence_of_impact")

Standing = Literal["manager", "owner"]


# -- who may do what ------------------------------------------------------------------------------


def standing(actor: Actor, case: Case, action: ImprovementAction) -> Standing | None:
    """`manager` (changes anything), `owner` (reports on its agency's own action) or None."""
    if not policy.may_change(actor, case):
        return None
    if policy.may_casework(actor, Casework.update_action):
        return "manager"
    if (
        policy.may_casework(actor, Casework.update_own_action)
        and actor.agency is not None
        and actor.agency == action.owner_agency
    ):
        return "owner"
    return None


def may_create(actor: Actor, case: Case) -> bool:
    return (
        case.closed_at is None
        and policy.may_change(actor, case)
        and policy.may_casework(actor, Casework.create_action)
    )


def allowed_statuses(actor: Actor, case: Case, action: ImprovementAction) -> list[str]:
    """The statuses `actor` may move the action to now."""
    who = standing(actor, case, action)
    if who is None or case.closed_at is not None:
        return []
    moves = STATUS_MOVES[action.status]
    if who == "owner":
        moves = moves & OWNER_STATUSES if action.status in repository.OPEN_STATUSES else frozenset()
    return [s for s in repository.STATUSES if s in moves]


def editable_fields(actor: Actor, case: Case, action: ImprovementAction) -> list[str]:
    """The PATCH fields `actor` may send for the action now."""
    who = standing(actor, case, action)
    if who is None or case.closed_at is not None:
        return []
    return sorted(ALL_FIELDS if who == "manager" else OWNER_FIELDS)


# -- creating -------------------------------------------------------------------------------------


def create_action(
    *,
    session: Session,
    case: Case,
    payload: ActionCreate,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> ImprovementAction:
    """Add an action to the case (numbered A1, A2 ... in the case), `open`, and start its
    `action_due` clock for the owner agency. `expected_version` is If-Match on the case."""
    case_repository.check_precondition(case, expected_version)
    if not (policy.may_change(actor, case) and policy.may_casework(actor, Casework.create_action)):
        raise ActionForbidden("Improvement actions are added by the QPD group or the panel chair.")
    _check_case_open(case)
    definition = workflow_service.definition_for(case)
    today = london_date(now)
    errors = _agency_errors("owner_agency", payload.owner_agency, definition)
    errors += _due_errors("due_on", payload.due_on, case, today)
    if errors:
        raise InvalidData(errors)
    case_repository.claim_next_version(session, case, expected_version)
    action = ImprovementAction(
        case_id=case.id,
        partnership_id=case.partnership_id,
        number=repository.next_number(session, case.id),
        source=payload.source,
        description=payload.description,
        owner_agency=payload.owner_agency,
        due_on=payload.due_on,
        status="open",
        created_by=actor.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(action)
    session.flush()
    _start_clock(session, case, definition, action, today, now)
    changes: dict[str, list[Any]] = {
        "source": [None, action.source],
        "description": [None, action.description],
        "owner_agency": [None, action.owner_agency],
        "due_on": [None, action.due_on.isoformat()],
        "status": [None, action.status],
    }
    _record(session, case, action, actor, now, "action.created", changes, None)
    return action


# -- changing -------------------------------------------------------------------------------------


def update_action(
    *,
    session: Session,
    case: Case,
    action: ImprovementAction,
    patch: ActionPatch,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> ImprovementAction:
    """Apply `patch` to the action, with its history row and the case's audit event; its
    clock follows (moved, met, cancelled, restarted, readdressed). `expected_version` is
    If-Match on the action's own version.

    Order of checks: If-Match (412), who may change which fields (403), the case is not closed
    (409), the status move (409), the values (422); nothing is written until all pass."""
    if expected_version is not None and action.version not in expected_version:
        raise StaleActionVersion(
            stale_detail(expected_version, action.version, "action"),
            action_id=str(action.id),
            current_version=action.version,
        )
    who = standing(actor, case, action)
    sent = {name for name in patch.model_fields_set if getattr(patch, name) is not None}
    if who is None:
        raise ActionForbidden(
            "This action may be changed by the QPD group, the panel chair and, on their own "
            "action, the owner agency's users."
        )
    if who == "owner" and (refused := sorted(sent - OWNER_FIELDS)):
        raise ActionForbidden(
            f"The owner agency reports on its action ({', '.join(sorted(OWNER_FIELDS))}); "
            f"{', '.join(refused)} are the QPD group's and the panel chair's to change.",
            fields=refused,
        )
    _check_case_open(case)
    moving_to = patch.status if patch.status not in (None, action.status) else None
    if moving_to is not None:
        allowed = allowed_statuses(actor, case, action)
        if moving_to not in STATUS_MOVES[action.status]:
            raise ActionStatusConflict(
                f"An action that is {action.status} may move to: "
                f"{', '.join(s for s in repository.STATUSES if s in STATUS_MOVES[action.status])}.",
                action_status=action.status,
                allowed_statuses=allowed,
            )
        if moving_to not in allowed:
            raise ActionForbidden(
                "Closing an action without doing it, or reopening it, is the QPD group's and "
                "the panel chair's decision.",
                action_status=action.status,
                allowed_statuses=allowed,
            )
    definition = workflow_service.definition_for(case)
    today = london_date(now)
    changes = _changes(action, patch, moving_to, case, definition, today)
    if not changes and patch.note is None:
        raise InvalidData(
            [
                FieldError(
                    loc="body",
                    message="changes nothing: send a field to change, or a note",
                    type="no_change",
                )
            ]
        )

    case_repository.claim_next_version(session, case, None)
    if not repository.claim_next_version(session, action):
        err = StaleActionVersion if expected_version is not None else ConcurrentUpdate
        raise err("Another request changed the action first; fetch it and try again.")
    _apply(session, case, definition, action, changes, patch.note, actor, today, now)
    _record(session, case, action, actor, now, "action.updated", changes, patch.note)
    return action


def _changes(
    action: ImprovementAction,
    patch: ActionPatch,
    moving_to: str | None,
    case: Case,
    definition: WorkflowDefinition,
    today: date,
) -> dict[str, list[Any]]:
    """What the patch changes, {field: [from, to]}; every invalid value at once as a 422."""
    errors: list[FieldError] = []
    completing = moving_to == "completed"
    closing = moving_to == "closed_with_rationale"
    reopening = moving_to is not None and action.status in repository.DONE_STATUSES

    if patch.owner_agency is not None:
        errors += _agency_errors("owner_agency", patch.owner_agency, definition)
    if patch.due_on is not None:
        errors += _due_errors("due_on", patch.due_on, case, today)
    # Each is part of its move: to correct one, reopen the action (with a note) and move again.
    if patch.completed_on is not None:
        if not completing:
            errors.append(
                _error("completed_on", "is given only when completing the action", "not_allowed")
            )
        elif patch.completed_on > today:
            errors.append(
                _error("completed_on", f"cannot be in the future (today is {today})", "future_date")
            )
        elif patch.completed_on < case.became_aware_on:
            errors.append(
                _error(
                    "completed_on",
                    f"cannot be before the case's became_aware_on ({case.became_aware_on})",
                    "date_order",
                )
            )
    if patch.closure_rationale is not None and not closing:
        errors.append(
            _error(
                "closure_rationale",
                "is given only when closing the action with a rationale",
                "not_allowed",
            )
        )
    if closing and patch.closure_rationale is None:
        errors.append(
            _error(
                "closure_rationale",
                "is required when closing the action with a rationale",
                "missing",
            )
        )
    due_moves = patch.due_on is not None and patch.due_on != action.due_on
    if patch.note is None and (due_moves or closing or reopening):
        why = "the due date moves" if due_moves else "closing with a rationale"
        if reopening and not due_moves:
            why = "reopening the action"
        errors.append(_error("note", f"is required when {why}", "missing"))
    if errors:
        raise InvalidData(errors)

    changes: dict[str, list[Any]] = {}

    def change(name: str, before: Any, after: Any) -> None:
        if before != after:
            changes[name] = [_plain(before), _plain(after)]

    if moving_to is not None:
        change("status", action.status, moving_to)
    if completing:
        change("completed_on", action.completed_on, patch.completed_on or today)
    elif reopening:
        change("completed_on", action.completed_on, None)
        change("closure_rationale", action.closure_rationale, None)
    if patch.closure_rationale is not None:
        change("closure_rationale", action.closure_rationale, patch.closure_rationale)
    for name in SIMPLE_FIELDS:
        if (value := getattr(patch, name)) is not None:
            change(name, getattr(action, name), value)
    return changes


def _apply(
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    action: ImprovementAction,
    changes: dict[str, list[Any]],
    note: str | None,
    actor: Actor,
    today: date,
    now: datetime,
) -> None:
    before = action.status
    for name, (_, after) in changes.items():
        is_date = name.endswith("_on") and after is not None
        setattr(action, name, date.fromisoformat(after) if is_date else after)
    action.updated_at = now
    if "owner_agency" in changes:
        follow_owner(session, action)
    if "due_on" in changes and before in repository.OPEN_STATUSES:
        # The running clock follows, with the note as the reason in its extension history.
        deadline_service.move_for_subject(
            session,
            case=case,
            definition=definition,
            subject_id=action.id,
            new_due_on=action.due_on,
            reason=note or "",
            actor=actor,
            now=now,
        )
    if "status" not in changes:
        return
    if action.status == "completed" and action.completed_on is not None:
        deadline_service.stop_for_subject(
            session, subject_id=action.id, met_on=action.completed_on, now=now
        )
    elif action.status == "closed_with_rationale":
        deadline_service.cancel_for_subject(session, subject_id=action.id, now=now)
    elif before in repository.DONE_STATUSES:
        # Reopened: a new clock to the (possibly new) due date; the old one keeps its outcome.
        _start_clock(session, case, definition, action, today, now)


def follow_owner(session: Session, action: ImprovementAction) -> None:
    """The action's clock is addressed to its owner agency: its overdue alert goes to that
    agency's DSP (`dsp:owner`), so a new owner takes the clock over."""
    current = deadline_service.subject_clock(session, action.id)
    if current is not None:
        current.subject_agency = action.owner_agency


# -- shared steps -------------------------------------------------------------------------------


def _check_case_open(case: Case) -> None:
    if case.closed_at is not None:
        raise CaseClosedToActions(
            "The case is closed; its improvement actions are a closed record.",
            case_id=str(case.id),
            state=case.state,
        )


def _start_clock(
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    action: ImprovementAction,
    today: date,
    now: datetime,
) -> None:
    if CLOCK_KEY not in definition.clocks:
        return  # a workflow without action clocks monitors no due dates
    deadline_service.start_for_subject(
        session,
        case=case,
        definition=definition,
        key=CLOCK_KEY,
        subject_type=repository.SUBJECT_TYPE,
        subject_id=action.id,
        agency=action.owner_agency,
        starts_on=today,
        due_on=action.due_on,
        now=now,
    )


def _record(
    session: Session,
    case: Case,
    action: ImprovementAction,
    actor: Actor,
    now: datetime,
    kind: str,
    changes: dict[str, list[Any]],
    note: str | None,
) -> None:
    """The history row and the case's audit event (the case holds its next version)."""
    session.add(
        ActionUpdate(
            action_id=action.id,
            seq=repository.next_update_seq(session, action.id),
            at=now,
            actor_id=actor.user_id,
            changes=changes,
            note=note,
        )
    )
    case.updated_at = now
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind=kind,
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={"action": reference(action), "action_id": str(action.id), "changes": changes},
        comment=note,
    )
    session.flush()


def _agency_errors(loc: str, agency: str, definition: WorkflowDefinition) -> list[FieldError]:
    if agency in definition.agencies:
        return []
    return [_error(loc, f"must be one of: {', '.join(definition.agencies)}", "enum")]


def _due_errors(loc: str, due_on: date, case: Case, today: date) -> list[FieldError]:
    if due_on < case.became_aware_on:
        return [
            _error(
                loc,
                f"cannot be before the case's became_aware_on ({case.became_aware_on})",
                "date_order",
            )
        ]
    latest = add_months(today, MAX_MONTHS_AHEAD)
    if due_on > latest:
        return [_error(loc, f"cannot be later than {latest}", "date_range")]
    return []


def _error(loc: str, message: str, type_: str) -> FieldError:
    return FieldError(loc=loc, message=message, type=type_)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# -- reading ------------------------------------------------------------------------------------


def reference(action: ImprovementAction) -> str:
    return f"A{action.number}"


def sources(case: Case) -> ActionSources:
    """The recorded texts actions are made from: the rapid review's immediate actions and the
    final report's recommendations (None until recorded)."""

    def text(trigger: str, name: str) -> str | None:
        value = (case.recorded.get(trigger) or {}).get(name)
        return value if isinstance(value, str) and value.strip() else None

    return ActionSources(
        immediate_actions=text("complete_rapid_review", "immediate_actions"),
        recommendations=text("receive_final_report", "recommendations"),
    )


def present(
    session: Session, case: Case, actions: list[ImprovementAction], actor: Actor, now: datetime
) -> list[ActionRead]:
    """The actions as `actor` sees them at `now` (what it may change is per caller)."""
    definition = workflow_service.definition_for(case)
    clocks = repository.clocks_for(session, [a.id for a in actions])
    extensions = deadline_service.extensions_for(session, list(clocks.values()))
    calendar = deadline_service.current_calendar(session)
    out = []
    for action in actions:
        deadline = clocks.get(action.id)
        out.append(
            ActionRead(
                id=action.id,
                case_id=action.case_id,
                reference=reference(action),
                number=action.number,
                source=action.source,  # type: ignore[arg-type]
                description=action.description,
                owner_agency=action.owner_agency,
                due_on=action.due_on,
                status=action.status,  # type: ignore[arg-type]
                completed_on=action.completed_on,
                closure_rationale=action.closure_rationale,
                evidence_of_impact=action.evidence_of_impact,
                version=action.version,
                created_by=action.created_by,
                created_at=action.created_at,
                updated_at=action.updated_at,
                clock=(
                    _clock_read(deadline, definition, calendar, now, extensions[deadline.id])
                    if deadline is not None
                    else None
                ),
                allowed_statuses=allowed_statuses(actor, case, action),  # type: ignore[arg-type]
                editable_fields=editable_fields(actor, case, action),
            )
        )
    return out


def present_detail(
    session: Session, case: Case, action: ImprovementAction, actor: Actor, now: datetime
) -> ActionDetail:
    """The action with its full update history, oldest first."""
    [read] = present(session, case, [action], actor, now)
    return ActionDetail(
        **read.model_dump(),
        updates=[
            ActionUpdateRead.model_validate(u, from_attributes=True)
            for u in repository.updates_for(session, action.id)
        ],
    )


def _clock_read(
    deadline: Deadline,
    definition: WorkflowDefinition,
    calendar: WorkingCalendar,
    now: datetime,
    extensions: list[Any],
) -> ActionClockRead:
    status = deadline_service.effective_status(deadline, definition.clocks.get(deadline.key), now)
    running = status in deadline_service.OPEN
    return ActionClockRead(
        status=status,  # type: ignore[arg-type]
        starts_on=deadline.starts_on,
        due_on=deadline.due_on,
        due_at=deadline.due_at,
        working_days_left=(
            calendar.working_days_between(london_date(now), deadline.due_on) if running else None
        ),
        met_on=deadline.met_on,
        breached_at=deadline.breached_at or (deadline.due_at if status == "breached" else None),
        cancelled_at=deadline.cancelled_at,
        next_alert_at=deadline.next_rung_at,
        extensions=[ExtensionRead.model_validate(e, from_attributes=True) for e in extensions],
    )
