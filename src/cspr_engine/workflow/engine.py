"""The pure core of a transition: check, validate, guard, then let `transitions` move a cursor.

No I/O happens here. `transitions` moves a small CaseCursor (never the ORM row: pydantic models
refuse the attributes transitions sets), set to the case's state for the call. Each thread
keeps one Machine per workflow definition, with its own cursor: a Machine and its model are
mutable state, so neither is shared across threads, and building a Machine per call cost more
than the rest of the pure core.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from transitions import EventData, Machine

from cspr_engine.errors import FieldError, InvalidData, pydantic_errors
from cspr_engine.workflow.definitions import TriggerDef, WorkflowDefinition, check_fields
from cspr_engine.workflow.exceptions import (
    GuardRejected,
    InvalidTransition,
    TriggerForbidden,
    UnknownTrigger,
)
from cspr_engine.workflow.registry import GUARDS, GuardContext


@dataclass(frozen=True)
class Caller:
    """Who fires: the roles and agency that the workflow's role rules look at."""

    roles: frozenset[str]
    agency: str | None


@dataclass(frozen=True)
class Outcome:
    trigger: str
    from_state: str
    to_state: str
    data: dict[str, Any]  # validated, JSON-ready (dates as YYYY-MM-DD)
    values: dict[str, Any]  # validated, typed


class CaseCursor:
    """The only object `transitions` decorates: it holds a state name and nothing else."""

    def __init__(self, state: str) -> None:
        self.state = state


def _branch_condition(when: Mapping[str, str]) -> Callable[[EventData], bool]:
    def condition(event: EventData) -> bool:
        values: Mapping[str, Any] = event.kwargs["values"]
        return all(values.get(k) == v for k, v in when.items())

    return condition


_specs: dict[tuple[str, int], tuple[list[str], list[dict[str, Any]]]] = {}


def _machine_spec(definition: WorkflowDefinition) -> tuple[list[str], list[dict[str, Any]]]:
    key = (definition.name, definition.version)
    if key in _specs:
        return _specs[key]
    transitions: list[dict[str, Any]] = []
    for t in definition.triggers.values():
        for source in t.source:
            if t.branches:
                for branch in t.branches:
                    transitions.append(
                        {
                            "trigger": t.name,
                            "source": source,
                            "dest": branch.to,
                            "conditions": [_branch_condition(branch.when)],
                        }
                    )
            else:
                # dest None is an internal transition: the case stays where it is.
                transitions.append({"trigger": t.name, "source": source, "dest": t.to})
    _specs[key] = (list(definition.states), transitions)
    return _specs[key]


_local = threading.local()


def _machine(definition: WorkflowDefinition) -> tuple[Machine, CaseCursor]:
    """This thread's Machine for `definition` and the one cursor it moves (set to the case's
    state by each call)."""
    machines: dict[tuple[str, int], tuple[Machine, CaseCursor]] = _local.__dict__.setdefault(
        "machines", {}
    )
    key = (definition.name, definition.version)
    found = machines.get(key)
    if found is None:
        states, transitions = _machine_spec(definition)
        cursor = CaseCursor(states[0])
        machine = Machine(
            model=cursor,
            states=states,
            transitions=transitions,
            initial=states[0],
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=True,
            model_attribute="state",
        )
        found = machines[key] = (machine, cursor)
    return found


def validate_data(
    definition: WorkflowDefinition,
    trigger: TriggerDef,
    data: Mapping[str, Any],
    today: date,
    case_dates: dict[str, date] | None = None,
) -> dict[str, Any]:
    """The trigger's data, typed and checked against its declaration, or InvalidData."""
    model = definition.data_model(trigger.name)
    try:
        values = model.model_validate(dict(data)).model_dump()
    except ValidationError as exc:
        raise InvalidData(pydantic_errors(exc.errors(), prefix=("data",))) from exc
    for name, fd in trigger.fields.items():
        if fd.default_today and values.get(name) is None:
            values[name] = today
    faults = check_fields(trigger.fields, values, today, case_dates)
    if faults:
        raise InvalidData([FieldError(loc=f"data.{f}", message=m, type=t) for f, m, t in faults])
    return values


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored and shown: dates as YYYY-MM-DD, fields left empty omitted."""
    return {
        k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items() if v is not None
    }


def check_trigger(
    definition: WorkflowDefinition, *, state: str, trigger: str, caller: Caller
) -> TriggerDef:
    """The trigger exists, is allowed from `state`, and `caller` may fire it."""
    t = definition.triggers.get(trigger)
    if t is None:
        # The unknown name is not echoed back: it is free text from the caller.
        raise UnknownTrigger(
            f"The {definition.name} workflow has no such trigger; see known_triggers.",
            known_triggers=sorted(definition.triggers),
        )
    allowed = definition.allowed_triggers(state, caller.roles, caller.agency)
    if state not in t.source:
        raise InvalidTransition(
            f"{trigger} is not allowed from {state}."
            + (f" Allowed now: {', '.join(allowed)}." if allowed else ""),
            state=state,
            trigger=trigger,
            allowed_triggers=allowed,
        )
    if not t.admits(caller.roles, caller.agency):
        raise TriggerForbidden(
            f"{trigger} may be fired by: {', '.join(t.roles)}.",
            state=state,
            trigger=trigger,
            allowed_triggers=allowed,
        )
    return t


def fire(
    definition: WorkflowDefinition,
    *,
    state: str,
    trigger: str,
    data: Mapping[str, Any],
    caller: Caller,
    context: Callable[[dict[str, Any]], GuardContext],
    today: date,
    case_dates: dict[str, date] | None = None,
) -> Outcome:
    """Fire `trigger` from `state`; raise the matching CsprError if it may not happen.

    Order of checks: the trigger exists (422), is allowed from the state (409), the caller's role
    may fire it (403), its data is valid (422), its guards pass (409).
    """
    t = check_trigger(definition, state=state, trigger=trigger, caller=caller)
    values = validate_data(definition, t, data, today, case_dates)
    base = context(values)
    for use in t.guards:
        refusal = GUARDS[use.name](GuardContext(**{**base.__dict__, "params": use.params}))
        if refusal is not None:
            raise GuardRejected(
                refusal.detail,
                state=state,
                trigger=trigger,
                guard=use.name,
                basis=use.basis,
                **refusal.extensions,
            )
    machine, cursor = _machine(definition)
    machine.set_state(state, model=cursor)
    fired: Callable[..., bool] = cursor.trigger  # type: ignore[attr-defined]  # added by Machine
    if not fired(trigger, values=values):
        # Branches cover every value of their field (checked at load), so this is a bug.
        raise AssertionError(f"no branch of {trigger} matched")
    return Outcome(
        trigger=trigger,
        from_state=state,
        to_state=cursor.state,
        data=to_json(values),
        values=values,
    )
