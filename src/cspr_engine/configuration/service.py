"""A partnership's choices among the rules its workflows mark configurable.

A workflow file marks what a partnership may choose: a clock's start among its `start_options`
(`configurable: [start]`), the number in a clock's due rule (`configurable: [due]`), and when
the default ladder's warning and escalation fire (`configurable: [offset_working_days]` on a
rung). Each change is a new version (who, when, why); a case records the version in force when
it was opened and its clocks count by that version for the rest of its life, so a change
applies to new cases, never to the clocks of cases already running.

Precedence for a clock's start: the partnership's configuration, then the service-wide
CSPR_CLOCK_START_OPTIONS, then the workflow's `start_default`. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from cspr_engine.accounts.schemas import Actor
from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.config import get_settings
from cspr_engine.configuration import repository
from cspr_engine.configuration.models import WorkflowConfiguration
from cspr_engine.errors import FieldError, InvalidData
from cspr_engine.workflow.definitions import ClockDef, Due, Rung, WorkflowDefinition

DueUnit = Literal["working_days", "working_days_before", "months", "years"]
DUE_UNITS: tuple[DueUnit, ...] = ("working_days", "working_days_before", "months", "years")
# The bounds the workflow file itself allows for each unit (workflow.definitions.Due).
DUE_BOUNDS: Mapping[str, tuple[int, int]] = {
    "working_days": (1, 260),
    "working_days_before": (1, 260),
    "months": (1, 120),
    "years": (1, 25),
}
RUNG_BOUNDS = (-30, 60)


@dataclass(frozen=True)
class Setting:
    """One rule a partnership may set, as the workflow file defines it."""

    key: str  # clocks.<clock>.start | clocks.<clock>.due | escalation.<rung>.offset_working_days
    label: str
    basis: str
    type: Literal["choice", "integer"]
    default: str | int
    options: tuple[str, ...] = ()
    unit: str | None = None
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any) -> str | None:
        """Why `value` cannot be set (None: it can)."""
        if self.type == "choice":
            if not isinstance(value, str) or value not in self.options:
                return f"must be one of: {', '.join(self.options)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be a whole number"
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not low <= value <= high:
            return f"must be between {low} and {high}"
        return None


def _due_unit(due: Due) -> tuple[DueUnit, int] | None:
    for unit in DUE_UNITS:
        amount = getattr(due, unit)
        if amount is not None:
            return unit, int(amount)
    return None


def settings_of(definition: WorkflowDefinition) -> list[Setting]:
    """Every rule of `definition` a partnership may set, in the file's order."""
    out: list[Setting] = []
    for clock in definition.clocks.values():
        if "start" in clock.configurable and clock.start_options:
            out.append(
                Setting(
                    key=f"clocks.{clock.key}.start",
                    label=f"{clock.label}: counted from",
                    basis=clock.basis,
                    type="choice",
                    options=tuple(clock.start_options),
                    default=_service_start(clock),
                )
            )
        found = _due_unit(clock.due) if "due" in clock.configurable else None
        if found is not None:
            unit, amount = found
            low, high = DUE_BOUNDS[unit]
            out.append(
                Setting(
                    key=f"clocks.{clock.key}.due",
                    label=f"{clock.label}: due after ({unit.replace('_', ' ')})",
                    basis=clock.basis,
                    type="integer",
                    default=amount,
                    unit=unit,
                    minimum=low,
                    maximum=high,
                )
            )
    for rung in definition.escalation:
        if "offset_working_days" in rung.configurable:
            # A rung stays on its side of the due date: a warning moved past it would mark
            # the clock breached, an escalation moved before it would fire before the breach.
            before = rung.offset_working_days < 0
            low, high = (RUNG_BOUNDS[0], -1) if before else (1, RUNG_BOUNDS[1])
            out.append(
                Setting(
                    key=f"escalation.{rung.name}.offset_working_days",
                    label=f"Escalation ladder: {rung.name.replace('_', ' ')} "
                    "(working days from the due date)",
                    basis="The partnership's escalation arrangements (local practice)",
                    type="integer",
                    default=rung.offset_working_days,
                    unit="working_days",
                    minimum=low,
                    maximum=high,
                )
            )
    return out


def _service_start(clock: ClockDef) -> str:
    """The start the whole service counts from when a partnership has not chosen."""
    chosen = get_settings().clock_start_options.get(clock.key, clock.start_default)
    return str(chosen)


def check_values(definition: WorkflowDefinition, values: Mapping[str, Any]) -> None:
    """Raise InvalidData naming each value that is not a setting of `definition` or not one
    it may take."""
    settings = {s.key: s for s in settings_of(definition)}
    errors: list[FieldError] = []
    for key, value in values.items():
        setting = settings.get(key)
        if setting is None:
            known = ", ".join(settings) or "none"
            errors.append(
                FieldError(
                    loc=f"values.{key}",
                    message=f"is not a setting of {definition.name} (its settings: {known})",
                    type="unknown_setting",
                )
            )
            continue
        problem = setting.check(value)
        if problem is not None:
            errors.append(FieldError(loc=f"values.{key}", message=problem, type="invalid_value"))
    if errors:
        raise InvalidData(errors)


@dataclass(frozen=True)
class Rules:
    """The clock rules of one workflow as one version of a partnership's configuration sets
    them (version None: no configuration, the service's and the workflow's defaults)."""

    version: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def start_option(self, clock: ClockDef) -> str | None:
        if not clock.start_options:
            return None
        chosen = self.values.get(f"clocks.{clock.key}.start")
        if isinstance(chosen, str) and chosen in clock.start_options:
            return chosen
        # Checked at start-up (workflow.service.check_clock_start_options): a service-wide
        # option is one the clock offers.
        return _service_start(clock)

    def due(self, clock: ClockDef) -> Due:
        found = _due_unit(clock.due)
        amount = self.values.get(f"clocks.{clock.key}.due")
        if found is None or not isinstance(amount, int):
            return clock.due
        return Due.model_validate({found[0]: amount})

    def ladder(self, definition: WorkflowDefinition, clock: ClockDef) -> tuple[Rung, ...]:
        if clock.met_at_due:
            return ()
        if clock.escalation is not None:
            return clock.escalation
        return tuple(self._rung(rung) for rung in definition.escalation)

    def _rung(self, rung: Rung) -> Rung:
        offset = self.values.get(f"escalation.{rung.name}.offset_working_days")
        if not isinstance(offset, int) or "offset_working_days" not in rung.configurable:
            return rung
        return rung.model_copy(update={"offset_working_days": offset})


DEFAULTS = Rules()

# Versions never change once written: the process keeps what it has read.
_known: dict[tuple[uuid.UUID, str, int], Rules] = {}
_MAX_KNOWN = 10_000


def rules(session: Session, partnership_id: uuid.UUID, workflow: str, version: int | None) -> Rules:
    """The rules a case (or clock) recorded as `version` counts by."""
    if version is None:
        return DEFAULTS
    key = (partnership_id, workflow, version)
    if (known := _known.get(key)) is not None:
        return known
    row = repository.version(session, partnership_id, workflow, version)
    found = Rules(version=version, values=dict(row.values)) if row is not None else DEFAULTS
    if len(_known) >= _MAX_KNOWN:
        _known.clear()
    _known[key] = found
    return found


def current_version(session: Session, partnership_id: uuid.UUID, workflow: str) -> int | None:
    row = repository.current(session, partnership_id, workflow)
    return row.version if row is not None else None


def configure(
    session: Session,
    *,
    partnership_id: uuid.UUID,
    definition: WorkflowDefinition,
    values: Mapping[str, Any],
    reason: str,
    actor: Actor,
    now: datetime,
) -> WorkflowConfiguration:
    """Write the partnership's next configuration version for the workflow: exactly `values`
    (a setting not named goes back to its default). Cases opened from now on count by it."""
    check_values(definition, values)
    latest = repository.current(session, partnership_id, definition.name)
    row = WorkflowConfiguration(
        partnership_id=partnership_id,
        workflow=definition.name,
        version=(latest.version if latest is not None else 0) + 1,
        values=dict(values),
        reason=reason,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    admin_audit.record(
        session,
        kind="configuration.changed",
        partnership_id=partnership_id,
        actor_id=actor.user_id,
        subject_type="configuration",
        subject_id=f"{definition.name}:{row.version}",
        now=now,
        before={"version": latest.version, "values": latest.values} if latest else None,
        after={"version": row.version, "values": row.values, "reason": reason},
    )
    return row
