"""The one door: every change of a case's state goes through `fire`.

In the caller's transaction it runs the pure engine, claims the case's next version, writes the
new state and what the trigger recorded, and appends the audit event. It never commits.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from cspr_engine.accounts.schemas import Actor
from cspr_engine.actions import repository as action_repository
from cspr_engine.alerts import service as alert_service
from cspr_engine.approvals import service as approvals_service
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.config import ConfigurationError, get_settings
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.information_requests import repository as request_repository
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow import engine
from cspr_engine.workflow.definitions import (
    OPENED_CASE,
    WorkflowDefinition,
    load_definitions,
)
from cspr_engine.workflow.exceptions import WorkflowNotFound
from cspr_engine.workflow.registry import GUARD_FACTS, GuardContext


@lru_cache
def get_definitions() -> dict[tuple[str, int], WorkflowDefinition]:
    """Every workflow file, loaded and checked once; a bad file raises WorkflowFileError."""
    return load_definitions(get_settings().workflows_dir)


def check_clock_start_options(options: dict[str, str]) -> None:
    """Every configured clock start names a clock that offers that option (else the service
    would count a statutory deadline from a start nobody chose)."""
    for key, option in options.items():
        clocks = [d.clocks[key] for d in get_definitions().values() if key in d.clocks]
        configurable = [c for c in clocks if c.start_options]
        if not configurable:
            raise ConfigurationError(
                f"CSPR_CLOCK_START_OPTIONS: no workflow has a clock {key!r} with start options"
            )
        for clock in configurable:
            if option not in clock.start_options:
                raise ConfigurationError(
                    f"CSPR_CLOCK_START_OPTIONS: {key} may start from "
                    f"{', '.join(sorted(clock.start_options))}, not {option!r}"
                )


def latest(name: str) -> WorkflowDefinition:
    versions = [d for (n, _), d in get_definitions().items() if n == name]
    if not versions:
        raise WorkflowNotFound(f"There is no workflow {name!r}.", workflow=name)
    return max(versions, key=lambda d: d.version)


def get(name: str, version: int) -> WorkflowDefinition:
    definition = get_definitions().get((name, version))
    if definition is None:
        raise WorkflowNotFound(f"There is no workflow {name!r} version {version}.", workflow=name)
    return definition


def definition_for(case: Case) -> WorkflowDefinition:
    return get(case.workflow, case.workflow_version)


def typed_recorded(
    definition: WorkflowDefinition, recorded: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """What earlier triggers recorded, with their date fields as dates again."""
    typed: dict[str, dict[str, Any]] = {}
    for trigger, values in recorded.items():
        fields = definition.triggers[trigger].fields if trigger in definition.triggers else {}
        typed[trigger] = {
            k: date.fromisoformat(v) if k in fields and fields[k].type == "date" and v else v
            for k, v in values.items()
        }
    return typed


def fire(
    *,
    session: Session,
    case: Case,
    trigger: str,
    data: dict[str, Any],
    comment: str | None,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None = None,
) -> engine.Outcome:
    """Fire `trigger` on `case` as `actor`; raises UnknownTrigger, InvalidTransition,
    TriggerForbidden, InvalidData, GuardRejected, StaleVersion or ConcurrentUpdate."""
    case_repository.check_precondition(case, expected_version)
    definition = definition_for(case)
    today = london_date(now)
    recorded = typed_recorded(definition, case.recorded)
    calendar = deadline_service.current_calendar(session)

    def context(values: dict[str, Any]) -> GuardContext:
        # Called once the trigger is known to be allowed and its data valid: the case's facts
        # are read only if one of the trigger's guards needs them.
        needs = {f for use in definition.triggers[trigger].guards for f in GUARD_FACTS[use.name]}
        return GuardContext(
            state=case.state,
            trigger=trigger,
            data=values,
            recorded=recorded,
            gates=(
                approvals_service.gate_views(session, case, definition) if "gates" in needs else {}
            ),
            today=today,
            calendar=calendar,
            open_actions=(
                action_repository.open_count(session, case.id) if "open_actions" in needs else 0
            ),
            missing_returns=(
                request_repository.awaited_agencies(session, case.id)
                if "missing_returns" in needs
                else ()
            ),
        )

    outcome = engine.fire(
        definition,
        state=case.state,
        trigger=trigger,
        data=data,
        caller=actor.caller,
        context=context,
        today=today,
        case_dates={"became_aware_on": case.became_aware_on},
    )
    case_repository.claim_next_version(session, case, expected_version)
    case.state = outcome.to_state
    case.recorded = {**case.recorded, trigger: outcome.data}
    if outcome.to_state != outcome.from_state:
        case.state_entered_at = now
        case.state_entered_version = case.version
    if definition.states[outcome.to_state].final:
        case.closed_at = now
    case.updated_at = now
    t = definition.triggers[trigger]
    deadline_service.on_event(
        session,
        case=case,
        definition=definition,
        trigger=trigger,
        values=outcome.values,
        cancel_all=t.clocks.cancel == "all",
        now=now,
        gate_agreed_on=lambda gate: (
            approvals_service.gate_read(session, case, definition.gates[gate]).agreed_on
        ),
        actor=actor,
        calendar=calendar,
    )
    recorded_data = outcome.data
    if t.opens is not None:
        # The trigger also opens a linked case (same transaction); its reference goes into
        # what the trigger recorded, so this case's audit chain names it.
        from cspr_engine.cases import service as case_service

        opened = case_service.open_linked_case(
            session, source=case, trigger=t, values=outcome.values, actor=actor, now=now
        )
        recorded_data = {**outcome.data, OPENED_CASE: opened.reference}
        case.recorded = {**case.recorded, trigger: recorded_data}
    alert_service.enqueue(
        session,
        type="case.transitioned",
        dedupe_key=f"case:{case.id}:v{case.version}",
        fresh=True,  # this transaction claimed the version the key names
        case=case,
        data={
            "trigger": trigger,
            "from_state": outcome.from_state,
            "to_state": outcome.to_state,
            "version": case.version,
        },
        now=now,
    )
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="case.transitioned",
        now=now,
        trigger=trigger,
        from_state=outcome.from_state,
        to_state=outcome.to_state,
        data=recorded_data,
        comment=comment,
        basis=definition.triggers[trigger].basis,
    )
    session.flush()
    return outcome
