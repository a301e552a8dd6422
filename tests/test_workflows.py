"""Every workflow file under `workflows/`, checked the same way.

Generic on purpose: no test here names a state, trigger or field of any one workflow, so the
same checks hold for every file added to the directory.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cspr_engine.config import PROJECT_ROOT
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.errors import InvalidData
from cspr_engine.workflow import engine
from cspr_engine.workflow.definitions import (
    FieldDef,
    TriggerDef,
    WorkflowDefinition,
    load_definitions,
    parse_definition,
)
from cspr_engine.workflow.diagram import mermaid
from cspr_engine.workflow.exceptions import InvalidTransition, TriggerForbidden
from cspr_engine.workflow.registry import GUARDS, GuardContext

WORKFLOWS_DIR = PROJECT_ROOT / "workflows"
FILES = sorted(WORKFLOWS_DIR.glob("*.yaml"))
TODAY = date(2026, 6, 17)
PAST = date(2026, 1, 14)  # a past weekday: any "not in the future" rule holds


@pytest.fixture(params=FILES, ids=[p.stem for p in FILES])
def path(request: pytest.FixtureRequest) -> Path:
    found: Path = request.param
    return found


@pytest.fixture
def definition(path: Path) -> WorkflowDefinition:
    return parse_definition(path.read_text(encoding="utf-8"), path)


def test_there_are_workflow_files() -> None:
    # Without this, an empty directory would quietly turn every test below into a skip.
    assert FILES
    assert all(p.parent == WORKFLOWS_DIR for p in FILES)


def test_loads(path: Path, definition: WorkflowDefinition) -> None:
    assert definition.source_path == str(path)
    assert definition.states
    assert definition.triggers
    # ...and the app's loader, which reads the whole directory, sees it too.
    assert load_definitions(WORKFLOWS_DIR)[(definition.name, definition.version)] == definition


def test_every_guard_resolves(definition: WorkflowDefinition) -> None:
    named = [(t.name, g.name) for t in definition.triggers.values() for g in t.guards]
    assert [(t, g) for t, g in named if g not in GUARDS] == []


# -- the graph, computed here rather than trusted to the loader -----------------------------


def edges(d: WorkflowDefinition) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {s: set() for s in d.states}
    for t in d.triggers.values():
        for source in t.source:
            for dest in t.destinations:
                out[source].add(dest or source)
    return out


def closure(start: set[str], graph: dict[str, set[str]]) -> set[str]:
    seen, queue = set(start), deque(start)
    while queue:
        for nxt in graph[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_every_state_is_reachable_from_the_initial_state(definition: WorkflowDefinition) -> None:
    assert definition.initial in definition.states
    reached = closure({definition.initial}, edges(definition))
    assert sorted(set(definition.states) - reached) == []


def test_every_non_final_state_has_a_way_out(definition: WorkflowDefinition) -> None:
    stuck = [
        s.name
        for s in definition.states.values()
        if not s.final and not any(s.name in t.source for t in definition.triggers.values())
    ]
    assert stuck == []


def test_final_states_have_no_way_out(definition: WorkflowDefinition) -> None:
    finals = {s.name for s in definition.states.values() if s.final}
    assert finals
    leaving = [(t.name, s) for t in definition.triggers.values() for s in t.source if s in finals]
    assert leaving == []


def test_every_state_can_reach_a_final_state(definition: WorkflowDefinition) -> None:
    graph = edges(definition)
    finals = {s.name for s in definition.states.values() if s.final}
    stuck = [s for s in definition.states if not closure({s}, graph) & finals]
    assert stuck == []


# -- trigger data ---------------------------------------------------------------------------


def sample(fd: FieldDef) -> Any:
    """A valid value of the field's declared type."""
    values = fd.values or ()
    match fd.type:
        case "date":
            return PAST.isoformat()
        case "enum":
            return values[0]
        case "list":
            return list(values[: max(fd.min_items, 1)])
        case "boolean":
            return True
        case "url":
            return "https://example.org/x"
        case "integer":
            return 1
        case _:
            return "x"


def minimal_payload(t: TriggerDef, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The required fields, plus those the others make required (`required_when`, ...)."""
    payload: dict[str, Any] = {
        name: sample(fd) for name, fd in t.fields.items() if fd.required and not fd.default_today
    }
    payload.update(overrides or {})
    for _ in t.fields:  # conditions may chain; one pass per field is always enough
        for name, fd in t.fields.items():
            conditions = {**(fd.required_when or {}), **(fd.min_items_when or {})}
            met = conditions and all(payload.get(k) == v for k, v in conditions.items())
            if name not in payload and (met or fd.min_items):
                payload[name] = sample(fd)
    return payload


def triggers(d: WorkflowDefinition) -> list[TriggerDef]:
    return list(d.triggers.values())


def test_trigger_data_accepts_a_minimal_valid_payload(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        payload = minimal_payload(t)
        model = definition.data_model(t.name)
        model.model_validate(payload)  # types, required fields, enums, lengths
        values = engine.validate_data(definition, t, payload, TODAY)  # and cross-field rules
        for name, fd in t.fields.items():
            if fd.default_today and name not in payload:
                assert values[name] == TODAY, (t.name, name)
        for name in payload:
            assert values[name] is not None, (t.name, name)


def test_trigger_data_accepts_every_declared_field(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        payload = {name: sample(fd) for name, fd in t.fields.items()}
        values = engine.validate_data(definition, t, payload, TODAY)
        assert set(values) == set(t.fields), t.name


def test_trigger_data_rejects_unknown_fields(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        payload = {**minimal_payload(t), "no_such_field_anywhere": "x"}
        with pytest.raises(ValidationError) as caught:
            definition.data_model(t.name).model_validate(payload)
        errors = caught.value.errors()
        assert [(e["loc"], e["type"]) for e in errors] == [
            (("no_such_field_anywhere",), "extra_forbidden")
        ], t.name
        with pytest.raises(InvalidData) as refused:
            engine.validate_data(definition, t, payload, TODAY)
        assert refused.value.extensions["errors"][0]["loc"] == "data.no_such_field_anywhere"


def test_trigger_data_requires_each_required_field(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        full = minimal_payload(t)
        for name, fd in t.fields.items():
            if not fd.required or fd.default_today:
                continue
            payload = {k: v for k, v in full.items() if k != name}
            with pytest.raises(InvalidData) as refused:
                engine.validate_data(definition, t, payload, TODAY)
            locs = [e["loc"] for e in refused.value.extensions["errors"]]
            assert f"data.{name}" in locs, (t.name, name)


def test_trigger_data_rejects_a_value_outside_an_enum(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        for name, fd in t.fields.items():
            if fd.type not in ("enum", "list"):
                continue
            bad = "not-a-declared-value"
            assert bad not in (fd.values or ())
            payload = {**minimal_payload(t), name: [bad] if fd.type == "list" else bad}
            with pytest.raises(InvalidData):
                engine.validate_data(definition, t, payload, TODAY)


# -- the diagram ----------------------------------------------------------------------------


def test_the_diagram_has_an_edge_for_every_source_and_trigger(
    definition: WorkflowDefinition,
) -> None:
    lines = set(mermaid(definition).splitlines())
    missing = []
    for t in triggers(definition):
        for source in t.source:
            for dest in t.destinations:
                edge = re.compile(
                    rf"^\s*{re.escape(source)} --> {re.escape(dest or source)} : "
                    rf"{re.escape(t.name)}( \[.*\])?$"
                )
                if not any(edge.match(line) for line in lines):
                    missing.append((source, t.name, dest))
    assert missing == []
    assert f"    [*] --> {definition.initial}" in lines
    for state in definition.states.values():
        assert (f"    {state.name} --> [*]" in lines) is state.final, state.name


def test_the_diagram_marks_the_current_state(definition: WorkflowDefinition) -> None:
    for state in definition.states:
        assert mermaid(definition, current=state).endswith(f"    class {state} current\n")


# -- the engine -----------------------------------------------------------------------------


def caller_for(t: TriggerDef) -> engine.Caller:
    ref = t.role_refs[0]
    return engine.Caller(roles=frozenset({ref.role}), agency=ref.agency)


def fire(
    d: WorkflowDefinition,
    *,
    state: str,
    t: TriggerDef,
    data: dict[str, Any],
    caller: engine.Caller | None = None,
) -> engine.Outcome:
    calendar = get_calendar()

    def context(values: dict[str, Any]) -> GuardContext:
        return GuardContext(
            state=state,
            trigger=t.name,
            data=values,
            recorded={},
            gates={},
            today=TODAY,
            calendar=calendar,
            open_actions=0,
        )

    return engine.fire(
        d,
        state=state,
        trigger=t.name,
        data=data,
        caller=caller or caller_for(t),
        context=context,
        today=TODAY,
    )


def test_the_engine_moves_each_unguarded_trigger_to_its_destination(
    definition: WorkflowDefinition,
) -> None:
    fired = 0
    for t in triggers(definition):
        if t.guards:
            continue
        for source in t.source:
            if t.branches:
                for branch in t.branches:
                    data = minimal_payload(t, dict(branch.when))
                    outcome = fire(definition, state=source, t=t, data=data)
                    assert (outcome.from_state, outcome.to_state) == (source, branch.to), (
                        t.name,
                        branch.when,
                    )
                    fired += 1
            else:
                outcome = fire(definition, state=source, t=t, data=minimal_payload(t))
                assert outcome.from_state == source
                assert outcome.to_state == (t.to or source), t.name
                fired += 1
            assert outcome.trigger == t.name
            assert set(outcome.data) <= set(t.fields)
    assert fired > 0


def test_every_role_named_on_a_trigger_may_fire_it(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        if t.guards:
            continue
        for ref in t.role_refs:
            caller = engine.Caller(roles=frozenset({ref.role}), agency=ref.agency)
            source = t.source[0]
            fire(definition, state=source, t=t, data=minimal_payload(t), caller=caller)


def test_the_engine_refuses_a_trigger_from_any_other_state(definition: WorkflowDefinition) -> None:
    for t in triggers(definition):
        for state in set(definition.states) - set(t.source):
            with pytest.raises(InvalidTransition):
                fire(definition, state=state, t=t, data=minimal_payload(t))


def test_the_engine_refuses_a_caller_without_a_role(definition: WorkflowDefinition) -> None:
    nobody = engine.Caller(roles=frozenset(), agency=None)
    for t in triggers(definition):
        with pytest.raises(TriggerForbidden):
            fire(definition, state=t.source[0], t=t, data=minimal_payload(t), caller=nobody)


def test_every_guard_runs_with_the_params_it_is_given(definition: WorkflowDefinition) -> None:
    # A guard missing a parameter would raise (KeyError) at the first real transition.
    calendar = get_calendar()
    for t in triggers(definition):
        for use in t.guards:
            ctx = GuardContext(
                state=t.source[0],
                trigger=t.name,
                data={},
                recorded={},
                gates={},
                today=TODAY,
                calendar=calendar,
                open_actions=0,
                params=use.params,
            )
            GUARDS[use.name](ctx)
