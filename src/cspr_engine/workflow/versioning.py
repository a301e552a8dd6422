"""Moving running cases from one version of a workflow to the next.

A case keeps the workflow version it started on. A migration file (`workflows/migrations/
<name>-<from>-to-<to>.yaml`, read only by `cspr-engine admin migrate-workflow`) says where each
state and clock of the old version goes in the new one; `plan` works out, without writing,
what that does to each case; `apply_case` does exactly that to one case, through the same
rules as any change (its next version, one audit event, one outbox event). Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.alerts import service as alert_service
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.configuration import service as configuration_service
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import WorkingCalendar
from cspr_engine.deadlines.models import Deadline, DeadlineExtension
from cspr_engine.kit.clock import london_date
from cspr_engine.workflow.definitions import Name, WorkflowDefinition, load_yaml

CANCEL = "cancel"
KIND = "case.migrated"
OPEN = deadline_service.OPEN


class MigrationFileError(Exception):
    """A migration file that cannot be used; the message names the file and the entry."""

    def __init__(self, path: Path | str, fault: str) -> None:
        super().__init__(f"{path}: {fault}")
        self.path = str(path)
        self.fault = fault


class MigrationConflict(Exception):
    """A case the migration cannot move as written (two clock instances would share a key)."""


class MigrationFile(BaseModel):
    """The file as written: `states` and `clocks` list only what does not keep its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow: Name
    from_version: StrictInt = Field(ge=1)
    to_version: StrictInt = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2_000)
    description: str | None = Field(default=None, max_length=20_000)
    states: dict[Name, Name] = Field(default_factory=dict)
    # A v2 clock's key, or `cancel`: the clock is gone; a running instance stops.
    clocks: dict[Name, Name] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _forward(self) -> MigrationFile:
        if self.to_version <= self.from_version:
            raise ValueError("to_version must be later than from_version")
        return self


@dataclass(frozen=True)
class Migration:
    """A migration file checked against both definitions, with every state and clock of the
    old version mapped (a clock to None: cancelled)."""

    name: str  # the file's name, recorded on each migrated case's audit event
    reason: str
    source: WorkflowDefinition
    target: WorkflowDefinition
    states: Mapping[str, str]
    clocks: Mapping[str, str | None]

    @property
    def workflow(self) -> str:
        return self.source.name


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(parts)


def parse_migration(
    text: str,
    path: Path | str,
    definitions: Mapping[tuple[str, int], WorkflowDefinition],
) -> Migration:
    """Parse one migration file and check it against the loaded definitions; raise
    MigrationFileError naming the file and every entry at fault."""
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        raise MigrationFileError(path, " ".join(str(exc).split())) from exc
    if not isinstance(raw, dict):
        raise MigrationFileError(path, "the file must be a mapping")
    try:
        written = MigrationFile.model_validate(raw)
    except ValidationError as exc:
        raise MigrationFileError(path, _describe(exc)) from exc
    name = written.workflow
    source = definitions.get((name, written.from_version))
    target = definitions.get((name, written.to_version))
    if source is None or target is None:
        missing = [
            f"{name} v{v} is not among the workflow files"
            for v, d in ((written.from_version, source), (written.to_version, target))
            if d is None
        ]
        raise MigrationFileError(path, "; ".join(missing))
    faults, states, clocks = _resolve(written, source, target)
    if faults:
        raise MigrationFileError(path, "; ".join(faults))
    return Migration(
        name=Path(path).name,
        reason=" ".join(written.reason.split()),
        source=source,
        target=target,
        states=states,
        clocks=clocks,
    )


def load_migration(
    path: Path, definitions: Mapping[tuple[str, int], WorkflowDefinition]
) -> Migration:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationFileError(path, f"cannot be read ({type(exc).__name__})") from exc
    return parse_migration(text, path, definitions)


def _resolve(
    written: MigrationFile, source: WorkflowDefinition, target: WorkflowDefinition
) -> tuple[list[str], dict[str, str], dict[str, str | None]]:
    """Every old state and clock mapped, and what is wrong with the mapping."""
    v1, v2 = f"{source.name} v{source.version}", f"v{target.version}"
    faults: list[str] = []
    for old, new in written.states.items():
        if old not in source.states:
            faults.append(f"states.{old}: {old!r} is not a state of {v1}")
        elif new not in target.states:
            faults.append(f"states.{old}: {new!r} is not a state of {v2}")
        elif source.states[old].final != target.states[new].final:
            # A final state closes the case (closed_at, every clock stopped): a migration
            # renames and regroups stages, it does not close or reopen cases.
            faults.append(
                f"states.{old}: {old!r} is {_final(source, old)} in {v1}, {new!r} is "
                f"{_final(target, new)} in {v2}"
            )
    states = {s: written.states.get(s, s) for s in source.states}
    for old, new in states.items():
        if old in written.states:
            continue
        if new not in target.states:
            faults.append(f"state {old!r} of {v1} is not in {v2}: map it under `states`")
        elif source.states[old].final != target.states[new].final:
            faults.append(
                f"state {old!r} is {_final(source, old)} in {v1} and {_final(target, old)} "
                f"in {v2}: a migration neither closes nor reopens cases"
            )
    for old, new in written.clocks.items():
        if old not in source.clocks:
            faults.append(f"clocks.{old}: {old!r} is not a clock of {v1}")
        elif new != CANCEL and new not in target.clocks:
            faults.append(f"clocks.{old}: {new!r} is not a clock of {v2} (nor `{CANCEL}`)")
    clocks: dict[str, str | None] = {}
    for key, clock in source.clocks.items():
        new = written.clocks.get(key, key)
        if new == CANCEL:
            clocks[key] = None
            continue
        clocks[key] = new
        if new not in target.clocks:
            if key not in written.clocks:
                faults.append(
                    f"clock {key!r} of {v1} is not in {v2}: map it under `clocks` to a "
                    f"{v2} clock or to `{CANCEL}`"
                )
            continue
        if (clock.due.field is None) != (target.clocks[new].due.field is None):
            # A record's clock (an action, a request) is due on the record's own date; a
            # case's clock is counted by a rule. One cannot stand for the other.
            faults.append(
                f"clocks.{key}: {key} and {new} are not alike (one is due on its record's own "
                "date, the other by a rule)"
            )
    # After the migration each key names one clock: a cancelled clock keeps its key on the
    # instances already kept, so no renamed clock may take it.
    kept_as: dict[str, str] = {}
    for key, maps_to in clocks.items():
        final = maps_to if maps_to is not None else key
        if final in kept_as:
            faults.append(f"clocks: {kept_as[final]} and {key} would both be kept as {final}")
        kept_as.setdefault(final, key)
    return faults, states, clocks


def _final(definition: WorkflowDefinition, state: str) -> str:
    return "final" if definition.states[state].final else "not final"


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    """The columns of one clock instance a migration may change."""

    key: str
    kind: str
    status: str
    due_on: date
    anchor_on: date | None
    rungs_fired: int
    next_rung_at: datetime | None
    breached_at: datetime | None
    cancelled_at: datetime | None


@dataclass(frozen=True)
class ClockChange:
    deadline_id: uuid.UUID
    sequence: int
    subject_type: str | None
    before: ClockState
    after: ClockState
    # A running clock whose due date stands although the new rule counts otherwise: why, and
    # the date the new rule would give.
    kept: str | None = None
    rule_gives: date | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class CasePlan:
    case_id: uuid.UUID
    reference: str
    version: int  # the case's version when planned; applying makes it version + 1
    from_state: str
    to_state: str
    clocks: tuple[ClockChange, ...]

    @property
    def changes_state(self) -> bool:
        return self.from_state != self.to_state


@dataclass(frozen=True)
class Plan:
    migration: Migration
    partnership: str | None
    cases: tuple[CasePlan, ...]
    already: int  # cases of the workflow at to_version already: skipped


def _state(d: Deadline) -> ClockState:
    return ClockState(
        key=d.key,
        kind=d.kind,
        status=d.status,
        due_on=d.due_on,
        anchor_on=d.anchor_on,
        rungs_fired=d.rungs_fired,
        next_rung_at=d.next_rung_at,
        breached_at=d.breached_at,
        cancelled_at=d.cancelled_at,
    )


def plan_case(
    session: Session,
    *,
    migration: Migration,
    case: Case,
    deadlines: Sequence[Deadline],
    extended: frozenset[uuid.UUID],
    calendar: WorkingCalendar,
    now: datetime,
) -> CasePlan:
    """What migrating `case` changes, clock by clock (`extended`: the ids of its clocks with
    an agreed extension). Reads the partnership's clock rules; writes nothing."""
    target = migration.target
    changes: list[ClockChange] = []
    for d in deadlines:
        if d.key not in migration.clocks:
            continue  # a clock an earlier version had and this one no longer knows: history
        before = _state(d)
        new_key = migration.clocks[d.key]
        if new_key is None:
            after = before
            if d.status in OPEN:
                # Stopped as any cancelled clock is; an overdue one keeps its breach on record.
                after = replace(
                    before,
                    status="cancelled",
                    cancelled_at=now,
                    next_rung_at=None,
                    breached_at=deadline_service.breached_at_on_cancel(
                        status=d.status, due_at=d.due_at, breached_at=d.breached_at, now=now
                    ),
                )
            changes.append(ClockChange(d.id, d.sequence, d.subject_type, before, after))
            continue
        clock = target.clocks[new_key]
        after = replace(before, key=new_key)
        kept: str | None = None
        rule_gives: date | None = None
        if d.status in OPEN:
            rules = configuration_service.rules(
                session, d.partnership_id, target.name, d.config_version
            )
            after = replace(after, kind=clock.kind)
            due_rule = rules.due(clock)
            if due_rule.field is None:
                base = d.anchor_on or d.starts_on
                counted = deadline_service.compute_due(clock, base, calendar, rules)
                if d.id in extended or d.status == "breached":
                    # An agreed extension is a date, not a count; a breach has happened and
                    # its alerts have gone: both stand.
                    if counted != d.due_on:
                        kept = "extended" if d.id in extended else "breached"
                        rule_gives = counted
                else:
                    moved = counted != d.due_on
                    after = replace(
                        after,
                        due_on=counted,
                        anchor_on=base if due_rule.working_days_before is not None else None,
                        # Each rung fires once per due date: a new due date starts the ladder.
                        rungs_fired=0 if moved else d.rungs_fired,
                    )
            after = replace(
                after, next_rung_at=_next_alert(after, target, clock.key, rules, calendar)
            )
        if after != before or kept is not None:
            changes.append(
                ClockChange(d.id, d.sequence, d.subject_type, before, after, kept, rule_gives)
            )
    _check_keys(case, deadlines, changes)
    return CasePlan(
        case_id=case.id,
        reference=case.reference,
        version=case.version,
        from_state=case.state,
        to_state=migration.states[case.state],
        clocks=tuple(c for c in changes if c.changed or c.kept is not None),
    )


def _next_alert(
    state: ClockState,
    definition: WorkflowDefinition,
    key: str,
    rules: configuration_service.Rules,
    calendar: WorkingCalendar,
) -> datetime | None:
    """When the sweep should next look at the clock: as deadlines.service schedules it."""
    return deadline_service.next_alert_at(
        status=state.status,
        due_on=state.due_on,
        rungs_fired=state.rungs_fired,
        definition=definition,
        clock=definition.clocks[key],
        calendar=calendar,
        rules=rules,
    )


def _check_keys(case: Case, deadlines: Sequence[Deadline], changes: list[ClockChange]) -> None:
    final = {c.deadline_id: c.after.key for c in changes}
    seen: set[tuple[str, int]] = set()
    for d in deadlines:
        pair = (final.get(d.id, d.key), d.sequence)
        if pair in seen:
            raise MigrationConflict(
                f"{case.reference}: two instances of its clocks would be kept as "
                f"{pair[0]} #{pair[1]}"
            )
        seen.add(pair)


def _deadlines(session: Session, case_id: uuid.UUID, lock: bool) -> list[Deadline]:
    query = (
        select(Deadline)
        .where(col(Deadline.case_id) == case_id)
        .order_by(col(Deadline.created_at), col(Deadline.key), col(Deadline.sequence))
    )
    if lock:
        # The sweep moves clocks without touching the case: it skips the locked rows. Read
        # afresh once locked, whatever this session held before.
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.exec(query))


def _extended(session: Session, deadlines: Sequence[Deadline]) -> frozenset[uuid.UUID]:
    ids = [d.id for d in deadlines]
    if not ids:
        return frozenset()
    found = session.exec(
        select(DeadlineExtension.deadline_id).where(col(DeadlineExtension.deadline_id).in_(ids))
    )
    return frozenset(found)


def plan(
    session: Session,
    *,
    migration: Migration,
    now: datetime,
    partnership_id: uuid.UUID | None = None,
) -> Plan:
    """What the migration would do to every case of its workflow at the old version (of one
    partnership, if given), case by case. Writes nothing."""
    where = [col(Case.workflow) == migration.workflow]
    if partnership_id is not None:
        where.append(col(Case.partnership_id) == partnership_id)
    cases = session.exec(
        select(Case)
        .where(*where, col(Case.workflow_version) == migration.source.version)
        .order_by(col(Case.reference), col(Case.id))
    ).all()
    already = session.exec(
        select(func.count())
        .select_from(Case)
        .where(*where, col(Case.workflow_version) == migration.target.version)
    ).one()
    calendar = deadline_service.current_calendar(session)
    planned = []
    for case in cases:
        deadlines = _deadlines(session, case.id, lock=False)
        planned.append(
            plan_case(
                session,
                migration=migration,
                case=case,
                deadlines=deadlines,
                extended=_extended(session, deadlines),
                calendar=calendar,
                now=now,
            )
        )
    code = (
        accounts_repository.partnership_code(session, partnership_id)
        if partnership_id is not None
        else None
    )
    return Plan(migration=migration, partnership=code, cases=tuple(planned), already=int(already))


# -- applying -------------------------------------------------------------------------------


def apply_case(
    session: Session, *, migration: Migration, case_id: uuid.UUID, now: datetime
) -> CasePlan | None:
    """Migrate one case, planned afresh in this transaction: its next version, its state and
    clocks, one `case.migrated` audit event and outbox event. None if the case is not (or no
    longer) at the old version: a second run changes nothing. Never commits."""
    case = session.exec(
        select(Case)
        .where(col(Case.id) == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if (
        case is None
        or case.workflow != migration.workflow
        or case.workflow_version != migration.source.version
    ):
        return None
    deadlines = _deadlines(session, case.id, lock=True)
    calendar = deadline_service.current_calendar(session)
    done = plan_case(
        session,
        migration=migration,
        case=case,
        deadlines=deadlines,
        extended=_extended(session, deadlines),
        calendar=calendar,
        now=now,
    )
    case_repository.claim_next_version(session, case, None)
    rows = {d.id: d for d in deadlines}
    changed = [c for c in done.clocks if c.changed]
    renamed = [c for c in changed if c.after.key != c.before.key]
    if renamed:
        # Keys are unique per case and sequence: a chain of renames (a to b, b to c) passes
        # through a key still in use unless each row first steps aside.
        for c in renamed:
            rows[c.deadline_id].key = f"~{c.deadline_id.hex}"
        session.flush()
    for c in changed:
        row = rows[c.deadline_id]
        after = c.after
        row.key, row.kind, row.status = after.key, after.kind, after.status
        if after.due_on != c.before.due_on:
            row.due_on = after.due_on
            row.due_at = deadline_service.end_of_day(after.due_on)
            row.calendar_version = calendar.version
        row.anchor_on = after.anchor_on
        row.rungs_fired = after.rungs_fired
        row.next_rung_at = after.next_rung_at
        row.breached_at = after.breached_at
        row.cancelled_at = after.cancelled_at
        row.updated_at = now
    case.workflow_version = migration.target.version
    # A mapped state is the stage the case was in, under its new name: the case has not
    # entered it anew, so state_entered_* (the round of the stage's approval gate) stand.
    case.state = done.to_state
    case.updated_at = now
    alert_service.enqueue(
        session,
        type=KIND,
        dedupe_key=f"case:{case.id}:v{case.version}",
        fresh=True,  # this transaction claimed the version the key names
        case=case,
        data={
            "migration": migration.name,
            "from_version": migration.source.version,
            "to_version": migration.target.version,
            "from_state": done.from_state,
            "to_state": done.to_state,
            "version": case.version,
        },
        now=now,
    )
    audit_service.record(
        session=session,
        case=case,
        actor=None,
        kind=KIND,
        now=now,
        from_state=done.from_state,
        to_state=done.to_state,
        data={
            "migration": migration.name,
            "from_version": migration.source.version,
            "to_version": migration.target.version,
            "clocks": [_audit_entry(c) for c in done.clocks],
        },
        basis=migration.reason,
    )
    session.flush()
    return done


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _audit_entry(change: ClockChange) -> dict[str, Any]:
    entry: dict[str, Any] = {"clock": change.before.key, "sequence": change.sequence}
    for name in (f.name for f in fields(ClockState)):
        old, new = getattr(change.before, name), getattr(change.after, name)
        if old != new:
            entry[name] = {"from": _json(old), "to": _json(new)}
    if change.kept is not None:
        entry["kept_due_on"] = {
            "because": change.kept,
            "rule_gives": _json(change.rule_gives),
        }
    return entry


# -- the report -----------------------------------------------------------------------------


def _day(instant: datetime | None) -> str:
    return london_date(instant).isoformat() if instant is not None else "none"


def describe_clock(change: ClockChange) -> str:
    """One line: what happens to one clock instance."""
    b, a = change.before, change.after
    parts: list[str] = []
    if a.key != b.key:
        parts.append(f"renamed to {a.key}")
    if a.status != b.status:
        part = f"{b.status} -> {a.status}"
        if a.status == "cancelled":
            part += " (the clock is not in the new version)"
            if a.breached_at is not None and b.breached_at is None:
                part += "; overdue: its breach stays on record"
        parts.append(part)
    if a.due_on != b.due_on:
        parts.append(f"due {b.due_on} -> {a.due_on}")
    if a.anchor_on != b.anchor_on:
        parts.append(f"counted back from {b.anchor_on or 'none'} -> {a.anchor_on or 'none'}")
    if a.kind != b.kind:
        parts.append(f"kind {b.kind} -> {a.kind}")
    if a.rungs_fired != b.rungs_fired:
        parts.append(f"alerts fired for its due date {b.rungs_fired} -> {a.rungs_fired}")
    if a.next_rung_at != b.next_rung_at:
        parts.append(f"next alert {_day(b.next_rung_at)} -> {_day(a.next_rung_at)}")
    if change.kept is not None:
        parts.append(
            f"keeps its due date {a.due_on} ({change.kept}; the new rule gives {change.rule_gives})"
        )
    record = f" ({change.subject_type.replace('_', ' ')})" if change.subject_type else ""
    return f"{b.key} #{change.sequence}{record}: " + "; ".join(parts)


def describe_case(case: CasePlan) -> list[str]:
    state = (
        f"state {case.from_state} -> {case.to_state}"
        if case.changes_state
        else f"state {case.from_state} (unchanged)"
    )
    head = f"{case.reference} (version {case.version}): {state}"
    if not case.clocks:
        return [head + "; no clock changes"]
    return [head, *(f"  {describe_clock(c)}" for c in case.clocks)]


@dataclass(frozen=True)
class Totals:
    cases: int
    change_state: int
    clocks: int
    renamed: int
    cancelled: int
    due_moved: int
    kind_changed: int
    alerts_moved: int
    kept: int


def totals(p: Plan) -> Totals:
    changes = [c for case in p.cases for c in case.clocks]
    changed = [c for c in changes if c.changed]
    return Totals(
        cases=len(p.cases),
        change_state=sum(1 for c in p.cases if c.changes_state),
        clocks=len(changed),
        renamed=sum(1 for c in changed if c.after.key != c.before.key),
        cancelled=sum(1 for c in changed if c.after.status != c.before.status),
        due_moved=sum(1 for c in changed if c.after.due_on != c.before.due_on),
        kind_changed=sum(1 for c in changed if c.after.kind != c.before.kind),
        alerts_moved=sum(1 for c in changed if c.after.next_rung_at != c.before.next_rung_at),
        kept=sum(1 for c in changes if c.kept is not None),
    )


def describe(p: Plan) -> list[str]:
    """The dry-run report: the migration, every case it moves and how, and the totals."""
    m = p.migration
    v1, v2 = f"v{m.source.version}", f"v{m.target.version}"
    scope = f"partnership {p.partnership}" if p.partnership else "all partnerships"
    lines = [f"{m.workflow} {v1} -> {v2} ({m.name}), {scope}", f"reason: {m.reason}"]
    for case in p.cases:
        lines += describe_case(case)
    t = totals(p)
    lines.append(
        f"totals: {t.cases} case(s) to migrate from {v1} to {v2}, {t.change_state} changing "
        f"state; {t.clocks} clock instance(s) change: {t.renamed} renamed, {t.cancelled} "
        f"cancelled, {t.due_moved} due date(s) moved, {t.kind_changed} kind(s) changed, "
        f"{t.alerts_moved} next alert(s) moved; {t.kept} running clock(s) keep their due date; "
        f"{p.already} case(s) already at {v2} (skipped)"
    )
    return lines
