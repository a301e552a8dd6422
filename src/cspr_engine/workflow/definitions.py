"""Workflow definitions: the YAML files under `workflows/`, parsed and checked at start-up.

A definition names its states, the triggers between them (who may fire each, the data each takes,
its guards), approval gates and clocks with their legal basis. The engine knows no state by name:
everything CSPR-specific lives in `workflows/cspr.yaml`.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from cspr_engine.kit.schemas import IsoDate

NAME = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, StringConstraints(pattern=NAME, max_length=64)]
FieldType = Literal["date", "string", "text", "enum", "list", "boolean", "url", "integer"]
CREATE = "create"
# In a clock's own ladder, `dsp:owner` is the DSP of the agency the clock's record is addressed
# to (an information request's agency, an improvement action's owner).
OWNER = "owner"
EXTERNAL = "external"
# Where a trigger that opens a linked case records the new case's reference (its `recorded`
# data and the transition's audit event), beside the trigger's own fields.
OPENED_CASE = "opened_case"
DEFAULT_MAX_LENGTH = {"string": 500, "text": 20_000, "url": 2_000}


class WorkflowFileError(Exception):
    """A workflow file that cannot be used; the message names the file and the fault."""

    def __init__(self, path: Path | str, fault: str) -> None:
        super().__init__(f"{path}: {fault}")
        self.path = str(path)
        self.fault = fault


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleRef(_Model):
    """A role, optionally narrowed to one agency (`dsp:police`)."""

    role: str
    agency: str | None = None

    @classmethod
    def parse(cls, text: str) -> RoleRef:
        role, _, agency = text.partition(":")
        return cls(role=role, agency=agency or None)

    def __str__(self) -> str:
        return f"{self.role}:{self.agency}" if self.agency else self.role

    def admits(self, roles: frozenset[str], agency: str | None) -> bool:
        return self.role in roles and (self.agency is None or self.agency == agency)


class FieldDef(_Model):
    type: FieldType
    label: str | None = None
    required: StrictBool = False
    values: tuple[str, ...] | None = None
    max_length: int | None = Field(default=None, ge=1, le=100_000)
    min_items: int = Field(default=0, ge=0)
    max_items: int = Field(default=50, ge=1, le=1_000)
    # Cross-field rules, checked after the types.
    past_or_today: StrictBool = False
    not_before: str | None = None
    required_when: dict[str, str] | None = None
    min_items_when: dict[str, str] | None = None
    default_today: StrictBool = False

    @model_validator(mode="after")
    def _values_fit_type(self) -> FieldDef:
        if self.type in ("enum", "list") and not self.values:
            raise ValueError(f"a field of type {self.type} needs `values`")
        if self.type not in ("enum", "list") and self.values:
            raise ValueError(f"`values` only goes with enum or list, not {self.type}")
        if (self.past_or_today or self.default_today or self.not_before) and self.type != "date":
            raise ValueError("past_or_today, default_today and not_before need a date field")
        return self

    def python_type(self) -> Any:
        match self.type:
            case "date":
                return IsoDate
            case "string" | "text":
                limit = self.max_length or DEFAULT_MAX_LENGTH[self.type]
                # A required rationale of blanks is no rationale: at least one character once
                # the whitespace is stripped.
                return Annotated[
                    str,
                    StringConstraints(
                        strip_whitespace=True,
                        min_length=1 if self.required else None,
                        max_length=limit,
                    ),
                ]
            case "url":
                limit = self.max_length or DEFAULT_MAX_LENGTH["url"]
                return Annotated[
                    str,
                    StringConstraints(
                        strip_whitespace=True,
                        max_length=limit,
                        pattern=r"^https?://[^\s/$.?#][^\s]*$",
                    ),
                ]
            case "enum":
                return _one_of(self.values or ())
            case "list":
                item = _one_of(self.values or ())
                return Annotated[list[item], Field(max_length=self.max_items)]  # type: ignore[valid-type]
            case "boolean":
                return StrictBool
            case "integer":
                return StrictInt
        raise AssertionError(self.type)  # pragma: no cover - Literal keeps this unreachable


def _one_of(values: tuple[str, ...]) -> Any:
    """`Literal[values]` for values known only at run time."""
    return cast(Any, Literal)[values]


class Branch(_Model):
    """One destination of a trigger, chosen by the value of a field."""

    when: dict[str, str] = Field(default_factory=dict)
    to: Name


class GuardUse(_Model):
    name: Name
    params: dict[str, Any] = Field(default_factory=dict)
    basis: str | None = None


class TriggerClocks(_Model):
    cancel: Literal["all"] | tuple[Name, ...] = ()


class OpensDef(_Model):
    """A trigger that also opens a case of another workflow, in the same partnership, linked
    to this one (e.g. a child death where abuse is suspected opens a serious incident
    referral). The new case copies this case's incident, child and partner reference; `fields`
    maps what it takes from the trigger's data: a create field (`became_aware_on`,
    `incident.abuse_or_neglect`, ...) to the trigger field that carries it. Firing the trigger
    is what authorises the opening: the workflow file grants it with the trigger's roles."""

    workflow: Name
    link: Name  # the type of the link from this case to the new one
    referring_agency: Name
    fields: dict[str, Name] = Field(default_factory=dict)


class TriggerDef(_Model):
    name: Name
    label: str
    description: str | None = None
    source: tuple[Name, ...] = Field(alias="from", min_length=1)
    to: Name | None = None  # None with no branches: stay in the state it is fired from
    branches: tuple[Branch, ...] = ()
    roles: tuple[str, ...] = Field(min_length=1)
    fields: dict[Name, FieldDef] = Field(default_factory=dict)
    guards: tuple[GuardUse, ...] = ()
    clocks: TriggerClocks = Field(default_factory=TriggerClocks)
    basis: str | None = None
    opens: OpensDef | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("guards", mode="before")
    @classmethod
    def _guard_shorthand(cls, value: Any) -> Any:
        # `guards: [name]` or `guards: [{name: ..., params: {...}}]`
        if isinstance(value, list):
            return [{"name": g} if isinstance(g, str) else g for g in value]
        return value

    @model_validator(mode="after")
    def _one_kind_of_destination(self) -> TriggerDef:
        if self.to is not None and self.branches:
            raise ValueError(f"trigger {self.name} has both `to` and `branches`")
        return self

    @property
    def role_refs(self) -> tuple[RoleRef, ...]:
        return tuple(RoleRef.parse(r) for r in self.roles)

    @property
    def destinations(self) -> tuple[str | None, ...]:
        return tuple(b.to for b in self.branches) if self.branches else (self.to,)

    def admits(self, roles: frozenset[str], agency: str | None) -> bool:
        return any(ref.admits(roles, agency) for ref in self.role_refs)


class StateDef(_Model):
    name: Name
    label: str
    description: str | None = None
    final: StrictBool = False


class GateDef(_Model):
    """An approval gate: each party casts a decision while the case is in `state`."""

    name: Name
    label: str
    basis: str | None = None
    state: Name
    parties: tuple[str, ...] = Field(min_length=1)
    decisions: tuple[Name, ...] = ("agree", "disagree")
    agree: Name = "agree"
    advisory: StrictBool = False
    escalate_disagreement_to: tuple[str, ...] = ()

    @property
    def party_refs(self) -> tuple[RoleRef, ...]:
        return tuple(RoleRef.parse(p) for p in self.parties)


class ClockEvent(_Model):
    """Where a clock's date comes from: a trigger (`create` for the referral itself, `external`
    for records such as actions) and the date field it carries.

    `date` is a field of that trigger's data, `gate:<name>.agreed_on` for a gate's agreement date,
    or omitted to use the day the event was recorded.
    """

    trigger: str
    date: str | None = None
    when: dict[str, str] = Field(default_factory=dict)
    unless: tuple[str, ...] = ()  # not when any of these fields has a value

    def matches(self, trigger: str, values: dict[str, Any]) -> bool:
        return (
            self.trigger == trigger
            and all(values.get(k) == v for k, v in self.when.items())
            and not any(values.get(f) not in (None, "", []) for f in self.unless)
        )


class Due(_Model):
    working_days: int | None = Field(default=None, ge=1, le=260)
    working_days_before: int | None = Field(default=None, ge=1, le=260)
    months: int | None = Field(default=None, ge=1, le=120)
    years: int | None = Field(default=None, ge=1, le=25)
    field: str | None = None  # a due date carried by the starting record (actions, requests)

    @model_validator(mode="after")
    def _exactly_one(self) -> Due:
        given = [
            v
            for v in (
                self.working_days,
                self.working_days_before,
                self.months,
                self.years,
                self.field,
            )
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a due rule needs exactly one of working_days, "
                "working_days_before, months, years, field"
            )
        return self


class Rung(_Model):
    """A step of an escalation ladder: `offset_working_days` from the due date (negative:
    before it), at the end of that day in England; `event` is the alert it raises."""

    name: Name
    offset_working_days: int = Field(ge=-30, le=60)
    to: tuple[str, ...] = Field(min_length=1)
    event: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    # `[offset_working_days]`: a partnership may move this rung (configuration/), on the same
    # side of the due date.
    configurable: tuple[Literal["offset_working_days"], ...] = ()


class ClockDef(_Model):
    key: Name
    label: str
    rule: str
    basis: str
    verification: Literal["V-P", "V-S", "U", "L"]
    kind: Literal["statutory", "advisory", "local"]
    recurring: StrictBool = False
    # Any of these events starts the clock; or, where the workflow lets a partnership choose,
    # the option named in `start_options` (`start_default` unless configured otherwise).
    start: tuple[ClockEvent, ...] = ()
    start_options: dict[Name, tuple[ClockEvent, ...]] = Field(default_factory=dict)
    start_default: Name | None = None
    # What a partnership may choose (configuration/): `start` among start_options, `due` the
    # number in the due rule (working days, months or years).
    configurable: tuple[Literal["start", "due"], ...] = ()
    extendable_by: tuple[str, ...] = ("panel_chair",)
    # A minimum period (e.g. keep a report published for a year): reaching the due date meets
    # the clock; nothing escalates.
    met_at_due: StrictBool = False
    due: Due
    stop: tuple[ClockEvent, ...] = ()
    extend: tuple[ClockEvent, ...] = ()
    cancel_on: tuple[Name, ...] = ()
    escalation: tuple[Rung, ...] | None = None
    notes: str | None = None


class CreateDef(_Model):
    roles: tuple[str, ...] = Field(min_length=1)
    # The referral values this workflow accepts, by dotted path (`incident.outcome: [death]`):
    # a referral with another value is refused, naming the field.
    requires: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @property
    def role_refs(self) -> tuple[RoleRef, ...]:
        return tuple(RoleRef.parse(r) for r in self.roles)


class WorkflowDefinition(_Model):
    name: Name
    version: int = Field(ge=1)
    title: str
    description: str | None = None
    edition: str | None = None
    roles: tuple[Name, ...]
    agencies: tuple[Name, ...]
    initial: Name
    create: CreateDef
    states: dict[Name, StateDef]
    triggers: dict[Name, TriggerDef]
    gates: dict[Name, GateDef] = Field(default_factory=dict)
    clocks: dict[Name, ClockDef] = Field(default_factory=dict)
    escalation: tuple[Rung, ...] = ()
    source_path: str = ""

    @model_validator(mode="before")
    @classmethod
    def _name_entries(cls, raw: Any) -> Any:
        # The YAML keys the maps by name; each entry also carries its own name.
        if isinstance(raw, dict):
            raw = dict(raw)
            for section, key in (
                ("states", "name"),
                ("triggers", "name"),
                ("gates", "name"),
                ("clocks", "key"),
            ):
                entries = raw.get(section)
                if isinstance(entries, dict):
                    raw[section] = {
                        n: ({key: n, **e} if isinstance(e, dict) else e) for n, e in entries.items()
                    }
        return raw

    # -- queries used by the engine and the API -------------------------------------------
    def triggers_from(self, state: str) -> list[TriggerDef]:
        return [t for t in self.triggers.values() if state in t.source]

    def allowed_triggers(self, state: str, roles: frozenset[str], agency: str | None) -> list[str]:
        return [t.name for t in self.triggers_from(state) if t.admits(roles, agency)]

    def may_create(self, roles: frozenset[str], agency: str | None) -> bool:
        return any(ref.admits(roles, agency) for ref in self.create.role_refs)

    def gates_in(self, state: str) -> list[GateDef]:
        return [g for g in self.gates.values() if g.state == state]

    @cached_property
    def data_models(self) -> dict[str, type[BaseModel]]:
        """A pydantic model per trigger for its `data` (built once, at load)."""
        return {
            t.name: build_data_model(f"{self.name}_v{self.version}_{t.name}", t.fields)
            for t in self.triggers.values()
        }

    def data_model(self, trigger: str) -> type[BaseModel]:
        return self.data_models[trigger]


def build_data_model(name: str, fields: dict[str, FieldDef]) -> type[BaseModel]:
    """A pydantic model for a trigger's `data`: types, required fields, enums, lengths."""
    spec: dict[str, Any] = {}
    for field_name, fd in fields.items():
        annotation = fd.python_type()
        if fd.required and not fd.default_today:
            spec[field_name] = (annotation, ...)
        else:
            spec[field_name] = (annotation | None, None)
    model: type[BaseModel] = create_model(
        f"{name}_data", __config__=ConfigDict(extra="forbid"), **spec
    )
    return model


CASE_PREFIX = "case."
CASE_DATES = frozenset({"became_aware_on"})  # case attributes a date field may be held against


def check_fields(
    fields: dict[str, FieldDef],
    data: dict[str, Any],
    today: date,
    case_dates: dict[str, date] | None = None,
) -> list[tuple[str, str, str]]:
    """Cross-field rules after type checks: (field, message, type) for each breach.

    `not_before` names another field of the same data, or `case.<attribute>` (e.g.
    `case.became_aware_on`: nothing on a case happens before anyone knew of the incident)."""
    faults: list[tuple[str, str, str]] = []
    for name, fd in fields.items():
        value = data.get(name)
        if fd.required_when and value in (None, "", []):
            if all(data.get(k) == v for k, v in fd.required_when.items()):
                cond = ", ".join(f"{k} is {v}" for k, v in fd.required_when.items())
                faults.append((name, f"is required when {cond}", "missing"))
        if fd.min_items_when and isinstance(value, list | type(None)):
            if all(data.get(k) == v for k, v in fd.min_items_when.items()):
                if len(value or []) < max(fd.min_items, 1):
                    cond = ", ".join(f"{k} is {v}" for k, v in fd.min_items_when.items())
                    faults.append((name, f"needs at least one value when {cond}", "too_short"))
        if fd.type == "list" and fd.min_items and value is not None and len(value) < fd.min_items:
            faults.append((name, f"needs at least {fd.min_items} values", "too_short"))
        if isinstance(value, date):
            if fd.past_or_today and value > today:
                faults.append((name, f"cannot be in the future (today is {today})", "future_date"))
            if fd.not_before:
                ref = fd.not_before
                if ref.startswith(CASE_PREFIX):
                    other = (case_dates or {}).get(ref.removeprefix(CASE_PREFIX))
                    label = ref.removeprefix(CASE_PREFIX)
                else:
                    other, label = data.get(ref), ref
                if isinstance(other, date) and value < other:
                    faults.append(
                        (name, f"cannot be before {label} ({other.isoformat()})", "date_order")
                    )
    return faults


# -- loading ---------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a workflow file must not say a thing twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


# YAML 1.1 reads on/off/yes/no as booleans; in a workflow file only true and false are.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def load_yaml(text: str) -> Any:
    """YAML as the workflow files are read: safe, a key written twice refused (yaml.YAMLError),
    dates left as text for pydantic."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def parse_definition(text: str, path: Path | str = "<string>") -> WorkflowDefinition:
    """Parse and check one workflow file; raise WorkflowFileError naming the fault."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        fault = str(exc).replace("\n", " ")
        if "duplicate key" in fault:
            match = re.search(r"duplicate key '([^']+)'", fault)
            name = match.group(1) if match else "?"
            fault = f"duplicate {name!r} (a state, trigger or field declared twice): {fault}"
        raise WorkflowFileError(path, fault) from exc
    if not isinstance(raw, dict):
        raise WorkflowFileError(path, "the file must be a mapping")
    try:
        definition = WorkflowDefinition.model_validate({**raw, "source_path": str(path)})
    except ValidationError as exc:
        raise WorkflowFileError(path, _describe(exc)) from exc
    for fault in semantic_faults(definition):
        raise WorkflowFileError(path, fault)
    definition.data_models  # noqa: B018  (built now, so a field that cannot be typed fails here)
    return definition


def semantic_faults(d: WorkflowDefinition) -> list[str]:
    """What a schema cannot see: names that point nowhere, unreachable states, dead ends."""
    from cspr_engine.workflow.registry import GUARDS

    faults: list[str] = []
    states = set(d.states)
    if d.initial not in states:
        faults.append(f"unknown state {d.initial!r} as initial")

    def check_roles(where: str, refs: tuple[RoleRef, ...], owner: bool = False) -> None:
        for ref in refs:
            if ref.role not in d.roles:
                faults.append(f"unknown role {ref.role!r} in {where}")
            if ref.agency == OWNER and owner:
                continue
            if ref.agency is not None and ref.agency not in d.agencies:
                faults.append(f"unknown agency {ref.agency!r} in {where}")

    check_roles("create", d.create.role_refs)
    faults.extend(_requires_faults(d))
    for t in d.triggers.values():
        where = f"trigger {t.name}"
        for s in t.source:
            if s not in states:
                faults.append(f"unknown state {s!r} in {where} (from)")
        for dest in t.destinations:
            if dest is not None and dest not in states:
                faults.append(f"unknown state {dest!r} in {where} (to)")
        if t.opens is not None:
            faults.extend(_opens_faults(t, where))
        check_roles(where, t.role_refs)
        for g in t.guards:
            if g.name not in GUARDS:
                faults.append(f"unknown guard {g.name!r} in {where}")
                continue
            faults.extend(_guard_param_faults(d, t, g, where))
        for b in t.branches:
            for field_name, value in b.when.items():
                fd = t.fields.get(field_name)
                if fd is None or fd.type != "enum" or not fd.required:
                    faults.append(f"{where} branches on {field_name!r}, not a required enum field")
                elif fd.values is not None and value not in fd.values:
                    faults.append(
                        f"{where} branches on {field_name}={value!r}, not one of its values"
                    )
        if t.branches:
            fields_used = {f for b in t.branches for f in b.when}
            for field_name in fields_used:
                values = t.fields[field_name].values if field_name in t.fields else None
                covered = {b.when.get(field_name) for b in t.branches}
                if values and not set(values) <= covered and None not in covered:
                    missing = sorted(set(values) - {c for c in covered if c})
                    faults.append(f"{where} has no branch for {field_name} in {missing}")
        for field_name, fd in t.fields.items():
            for ref in (fd.not_before, *(fd.required_when or {}), *(fd.min_items_when or {})):
                if ref is not None and ref.startswith(CASE_PREFIX):
                    if ref.removeprefix(CASE_PREFIX) not in CASE_DATES:
                        faults.append(f"{where}.{field_name} refers to unknown case date {ref!r}")
                elif ref is not None and ref not in t.fields:
                    faults.append(f"{where}.{field_name} refers to unknown field {ref!r}")
        if isinstance(t.clocks.cancel, tuple):
            for key in t.clocks.cancel:
                if key not in d.clocks:
                    faults.append(f"unknown clock {key!r} in {where}")
        if "comment" in t.fields:
            faults.append(f"{where} declares `comment`, which every trigger already takes")
    for state in d.states.values():
        outgoing = d.triggers_from(state.name)
        if state.final and outgoing:
            faults.append(f"final state {state.name!r} has outgoing triggers")
        if not state.final and not outgoing:
            faults.append(f"dead end: state {state.name!r} is not final and has no trigger out")
    if not any(s.final for s in d.states.values()):
        faults.append("no final state")
    for gate in d.gates.values():
        if gate.state not in states:
            faults.append(f"unknown state {gate.state!r} in gate {gate.name}")
        if gate.agree not in gate.decisions:
            faults.append(f"gate {gate.name}: {gate.agree!r} is not one of its decisions")
        check_roles(f"gate {gate.name}", gate.party_refs)
        escalation = tuple(map(RoleRef.parse, gate.escalate_disagreement_to))
        check_roles(f"gate {gate.name} escalation", escalation)
    for c in d.clocks.values():
        options = [ev for option in c.start_options.values() for ev in option]
        events = [*c.start, *options, *c.stop, *c.extend]
        if bool(c.start) == bool(c.start_options):
            faults.append(f"clock {c.key} needs either `start` or `start_options`, not both")
        if c.start_options and c.start_default not in c.start_options:
            faults.append(f"clock {c.key}: start_default must name one of its start_options")
        check_roles(f"clock {c.key} extendable_by", tuple(map(RoleRef.parse, c.extendable_by)))
        for ev in events:
            if ev.trigger not in (CREATE, "external") and ev.trigger not in d.triggers:
                faults.append(f"clock {c.key} refers to unknown trigger {ev.trigger!r}")
            elif ev.date and not ev.date.startswith("gate:") and ev.trigger in d.triggers:
                if ev.date not in d.triggers[ev.trigger].fields:
                    faults.append(f"clock {c.key}: trigger {ev.trigger} has no field {ev.date!r}")
            if ev.date and ev.date.startswith("gate:"):
                gate_name = ev.date.removeprefix("gate:").split(".")[0]
                if gate_name not in d.gates:
                    faults.append(f"clock {c.key} refers to unknown gate {gate_name!r}")
        for t_name in c.cancel_on:
            if t_name not in d.triggers:
                faults.append(f"clock {c.key} refers to unknown trigger {t_name!r}")
        if "start" in c.configurable and not c.start_options:
            faults.append(f"clock {c.key} is configurable by start but has no start_options")
        if "due" in c.configurable and c.due.field is not None:
            faults.append(f"clock {c.key}: a due date carried by a record is not configurable")
        # Only a clock of a record (started by `external`) has an owner agency to address.
        of_record = any(ev.trigger == EXTERNAL for ev in c.start)
        for rung in c.escalation or ():
            refs = tuple(map(RoleRef.parse, rung.to))
            check_roles(f"clock {c.key} rung {rung.name}", refs, owner=of_record)
            if rung.configurable:
                faults.append(
                    f"clock {c.key} rung {rung.name}: only the default ladder's rungs are "
                    "configurable"
                )
    for rung in d.escalation:
        check_roles(f"escalation rung {rung.name}", tuple(map(RoleRef.parse, rung.to)))
        if rung.configurable and rung.offset_working_days == 0:
            # The rung at the due instant is the breach itself; it does not move.
            faults.append(f"escalation rung {rung.name} at the due date is not configurable")
    if faults:
        return faults
    return _reachability_faults(d)


def _requires_faults(d: WorkflowDefinition) -> list[str]:
    """`create.requires` names referral values that exist (cases.schemas.REQUIRABLE)."""
    from cspr_engine.cases.schemas import REQUIRABLE

    faults = []
    for key, values in d.create.requires.items():
        known = REQUIRABLE.get(key)
        if known is None:
            faults.append(
                f"create requires unknown field {key!r} (known: {', '.join(sorted(REQUIRABLE))})"
            )
            continue
        if not values:
            faults.append(f"create requires {key} to be one of no values")
        unknown = [v for v in values if v not in known]
        if unknown:
            faults.append(f"create requires {key} in {unknown}, not among its values {list(known)}")
    return faults


def _opens_faults(t: TriggerDef, where: str) -> list[str]:
    """What a trigger's `opens` can be checked against in its own file: the link type, the
    referring agency and the fields it maps (cases.schemas.OPENS_FIELDS). The workflow it
    opens is checked with the whole directory (load_definitions)."""
    from cspr_engine.cases.schemas import OPENS_FIELDS, REFERRING_AGENCIES
    from cspr_engine.links.schemas import EXTERNAL_ONLY, LINK_TYPES

    opens = t.opens
    assert opens is not None
    faults = []
    if opens.link not in LINK_TYPES or opens.link in EXTERNAL_ONLY:
        known = [k for k in LINK_TYPES if k not in EXTERNAL_ONLY]
        faults.append(f"{where} opens a case linked as {opens.link!r}, not one of {known}")
    if opens.referring_agency not in REFERRING_AGENCIES:
        faults.append(f"{where} opens a case referred by unknown agency {opens.referring_agency!r}")
    if OPENED_CASE in t.fields:
        faults.append(f"{where} declares {OPENED_CASE!r}, where it records the case it opens")
    if "became_aware_on" not in opens.fields:
        faults.append(
            f"{where} opens a case without fields.became_aware_on (its clocks count from it)"
        )
    for target, source in opens.fields.items():
        allowed = OPENS_FIELDS.get(target)
        if allowed is None:
            faults.append(
                f"{where} opens a case with unknown field {target!r} "
                f"(known: {', '.join(sorted(OPENS_FIELDS))})"
            )
            continue
        types, values = allowed
        fd = t.fields.get(source)
        if fd is None:
            faults.append(f"{where} opens a case with {target} from unknown field {source!r}")
            continue
        if fd.type not in types:
            faults.append(
                f"{where} opens a case with {target} from {source}, a {fd.type} field "
                f"(needs {' or '.join(sorted(types))})"
            )
        elif values is not None and not set(fd.values or ()) <= set(values):
            extra = sorted(set(fd.values or ()) - set(values))
            faults.append(f"{where}: {source} has values {extra} that {target} does not take")
        if target == "became_aware_on" and not fd.required:
            faults.append(f"{where} opens a case with became_aware_on from {source}: required")
    return faults


def opens_faults_across(
    found: dict[tuple[str, int], WorkflowDefinition],
) -> list[tuple[str, str]]:
    """What a trigger's `opens` needs of the workflow it opens (its latest version, as a new
    case would be): the workflow exists, and whatever that workflow's `create.requires` asks
    of the new case holds of every case this trigger can open (a mapped field only has
    accepted values and is required; a copied value is one this workflow requires too).
    Each fault comes with the file it is in."""
    latest: dict[str, WorkflowDefinition] = {}
    for (name, _version), d in sorted(found.items()):
        latest[name] = d  # the versions of a name in order: the last one stays
    faults: list[tuple[str, str]] = []
    for d in found.values():
        for t in d.triggers.values():
            if t.opens is None:
                continue
            where = f"trigger {t.name}"
            target = latest.get(t.opens.workflow)
            if target is None:
                fault = f"{where} opens unknown workflow {t.opens.workflow!r}"
                faults.append((d.source_path, fault))
                continue
            for key, accepted in target.create.requires.items():
                source = t.opens.fields.get(key)
                if source is not None:
                    fd = t.fields[source]
                    if fd.required and set(fd.values or ()) <= set(accepted):
                        continue
                    faults.append(
                        (
                            d.source_path,
                            f"{where}: {target.name} requires {key} in {list(accepted)}; "
                            f"{source} must be required with values among those",
                        )
                    )
                elif not (
                    key in d.create.requires and set(d.create.requires[key]) <= set(accepted)
                ):
                    faults.append(
                        (
                            d.source_path,
                            f"{where}: {target.name} requires {key} in {list(accepted)}, and a "
                            f"value copied from a {d.name} case may not be one: map it in "
                            "opens.fields",
                        )
                    )
    return faults


def _guard_param_faults(d: WorkflowDefinition, t: TriggerDef, g: GuardUse, where: str) -> list[str]:
    from cspr_engine.workflow.registry import GUARD_PARAMS

    needed = GUARD_PARAMS[g.name]
    faults = [
        f"guard {g.name} in {where} needs parameter {p!r}" for p in sorted(needed - set(g.params))
    ]
    faults += [
        f"guard {g.name} in {where} has unknown parameter {p!r}"
        for p in sorted(set(g.params) - needed)
    ]
    gate = g.params.get("gate")
    if gate is not None and gate not in d.gates:
        faults.append(f"guard {g.name} in {where} names unknown gate {gate!r}")
    for key in ("from", "to"):
        ref = g.params.get(key)
        if ref is None:
            continue
        source, _, name = str(ref).rpartition(".")
        fields = (
            d.triggers[source].fields if source in d.triggers else t.fields if not source else None
        )
        if fields is None:
            faults.append(f"guard {g.name} in {where}: unknown trigger {source!r} in {ref!r}")
        elif name not in fields:
            faults.append(f"guard {g.name} in {where}: unknown field {ref!r}")
    return faults


def _reachability_faults(d: WorkflowDefinition) -> list[str]:
    edges: dict[str, set[str]] = {s: set() for s in d.states}
    for t in d.triggers.values():
        for s in t.source:
            for dest in t.destinations:
                edges[s].add(dest or s)
    reached = _closure({d.initial}, edges)
    faults = [f"unreachable state {s!r}" for s in d.states if s not in reached]
    reverse: dict[str, set[str]] = {s: set() for s in d.states}
    for s, dests in edges.items():
        for dest in dests:
            reverse[dest].add(s)
    can_finish = _closure({s.name for s in d.states.values() if s.final}, reverse)
    faults += [
        f"dead end: no final state can be reached from {s!r}"
        for s in d.states
        if s in reached and s not in can_finish
    ]
    return faults


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(start)
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def load_definitions(directory: Path) -> dict[tuple[str, int], WorkflowDefinition]:
    """Every `*.yaml` directly under `directory`; any bad file stops the whole load."""
    found: dict[tuple[str, int], WorkflowDefinition] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise WorkflowFileError(directory, "no workflow files (*.yaml) found")
    for path in files:
        definition = parse_definition(path.read_text(encoding="utf-8"), path)
        key = (definition.name, definition.version)
        if key in found:
            raise WorkflowFileError(
                path,
                f"workflow {definition.name} v{definition.version} is already defined in "
                f"{found[key].source_path}",
            )
        found[key] = definition
    for source, fault in opens_faults_across(found):
        raise WorkflowFileError(source, fault)
    return found
