"""Statutory clocks: started, met, extended and cancelled by the events the workflow declares,
and swept for the rungs of their escalation ladder.

A clock is judged by the date its event happened (the trigger's own date field), not by when
it was recorded: a notification made on time and recorded a week later is `met`. Due dates are
the end of the day in England (23:59:59 Europe/London), stored in UTC. Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.schemas import Actor
from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.alerts import service as alert_service
from cspr_engine.audit import service as audit_service
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases.models import Case
from cspr_engine.configuration import service as configuration_service
from cspr_engine.configuration.service import DEFAULTS, Rules
from cspr_engine.deadlines.calendar import WorkingCalendar, add_months, get_calendar
from cspr_engine.deadlines.exceptions import (
    ClockNotFound,
    ClockNotOpen,
    ExtensionForbidden,
    HolidayNotAdded,
    HolidayRefused,
)
from cspr_engine.deadlines.models import CalendarAddition, Deadline, DeadlineExtension
from cspr_engine.deadlines.schemas import DeadlineRead, ExtensionRead
from cspr_engine.errors import FieldError, Forbidden, InvalidData
from cspr_engine.kit.clock import LONDON, london_date
from cspr_engine.workflow.definitions import (
    CREATE,
    OWNER,
    ClockDef,
    ClockEvent,
    RoleRef,
    Rung,
    WorkflowDefinition,
)

OPEN = ("pending", "breached")
END_OF_DAY = time(23, 59, 59)


# -- calendar -----------------------------------------------------------------------------


_CALENDAR = "cspr_engine.calendar"


def current_calendar(session: Session) -> WorkingCalendar:
    """The shipped calendar plus the holidays an admin added (and has not withdrawn).

    Read once per transaction: a transition, and the case it answers with, count with the
    same calendar (`add_holiday` forgets it when it adds a day)."""
    cached = session.info.get(_CALENDAR)
    if cached is not None and cached[0] is session.get_transaction():
        return cached[1]  # type: ignore[no-any-return]
    additions = session.exec(
        select(CalendarAddition).where(col(CalendarAddition.withdrawn_at).is_(None))
    ).all()
    base = get_calendar()
    calendar = base.with_additions({a.day: a.title for a in additions}) if additions else base
    # The query began the transaction if none was open; a later one starts afresh.
    session.info[_CALENDAR] = (session.get_transaction(), calendar)
    return calendar


def end_of_day(day: date) -> datetime:
    """The due instant of a date: 23:59:59 in England, as an aware UTC datetime."""
    return datetime.combine(day, END_OF_DAY, tzinfo=LONDON).astimezone(UTC)


def compute_due(
    clock: ClockDef, start: date, calendar: WorkingCalendar, rules: Rules = DEFAULTS
) -> date:
    """The due date of a clock started on `start`, by the rule `rules` give it (a
    partnership's configured number of working days or months, else the workflow's)."""
    rule = rules.due(clock)
    if rule.working_days is not None:
        return calendar.add_working_days(start, rule.working_days)
    if rule.working_days_before is not None:
        return calendar.subtract_working_days(start, rule.working_days_before)
    if rule.months is not None:
        return add_months(start, rule.months)
    if rule.years is not None:
        return add_months(start, 12 * rule.years)
    raise ValueError(f"clock {clock.key}: its due date comes with the record that starts it")


def ladder(
    definition: WorkflowDefinition, clock: ClockDef, rules: Rules = DEFAULTS
) -> tuple[Rung, ...]:
    return rules.ladder(definition, clock)


def rules_for(session: Session, case: Case) -> Rules:
    """The clock rules `case` counts by: its partnership's configuration as it stood when the
    case was opened (configuration/)."""
    return configuration_service.rules(
        session, case.partnership_id, case.workflow, case.config_version
    )


def _rules_of(session: Session, deadline: Deadline, definition: WorkflowDefinition) -> Rules:
    return configuration_service.rules(
        session, deadline.partnership_id, definition.name, deadline.config_version
    )


def rung_instant(rung: Rung, due_on: date, calendar: WorkingCalendar) -> datetime:
    offset = rung.offset_working_days
    if offset > 0:
        day = calendar.add_working_days(due_on, offset)
    elif offset < 0:
        day = calendar.subtract_working_days(due_on, -offset)
    else:
        day = due_on
    return end_of_day(day)


def _schedule(
    deadline: Deadline,
    definition: WorkflowDefinition,
    clock: ClockDef,
    calendar: WorkingCalendar,
    rules: Rules = DEFAULTS,
) -> None:
    """Set when the sweep should next look at the clock (None once nothing more can fire)."""
    deadline.next_rung_at = next_alert_at(
        status=deadline.status,
        due_on=deadline.due_on,
        rungs_fired=deadline.rungs_fired,
        definition=definition,
        clock=clock,
        calendar=calendar,
        rules=rules,
    )


def next_alert_at(
    *,
    status: str,
    due_on: date,
    rungs_fired: int,
    definition: WorkflowDefinition,
    clock: ClockDef,
    calendar: WorkingCalendar,
    rules: Rules = DEFAULTS,
) -> datetime | None:
    """When the sweep should next look at a clock in this state (None once nothing more can
    fire): its next rung, or the due instant of a minimum period."""
    if status not in OPEN:
        return None
    if clock.met_at_due:
        return end_of_day(due_on)
    rungs = ladder(definition, clock, rules)
    return rung_instant(rungs[rungs_fired], due_on, calendar) if rungs_fired < len(rungs) else None


def start_option(clock: ClockDef, rules: Rules = DEFAULTS) -> str | None:
    return rules.start_option(clock)


def start_events(clock: ClockDef, rules: Rules = DEFAULTS) -> tuple[ClockEvent, ...]:
    option = start_option(clock, rules)
    return clock.start_options[option] if option is not None else clock.start


# -- lifecycle ----------------------------------------------------------------------------


def open_instance(session: Session, case: Case, key: str) -> Deadline | None:
    """The case's own running clock `key` (never a clock of one of its records)."""
    return session.exec(
        select(Deadline)
        .where(col(Deadline.case_id) == case.id, col(Deadline.key) == key)
        .where(col(Deadline.status).in_(OPEN), col(Deadline.subject_id).is_(None))
        .order_by(col(Deadline.sequence).desc())
    ).first()


def _next_sequence(session: Session, case: Case, key: str) -> int:
    latest = session.exec(
        select(Deadline.sequence)
        .where(col(Deadline.case_id) == case.id, col(Deadline.key) == key)
        .order_by(col(Deadline.sequence).desc())
    ).first()
    return (latest or 0) + 1


def start(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    clock: ClockDef,
    starts_on: date,
    now: datetime,
    calendar: WorkingCalendar,
) -> Deadline:
    """Start a clock instance; one already open for the same key is superseded (cancelled)."""
    superseded = open_instance(session, case, clock.key)
    if superseded is not None:
        _close(superseded, "cancelled", now)
    rules = rules_for(session, case)
    due_on = compute_due(clock, starts_on, calendar, rules)
    due_at = end_of_day(due_on)
    deadline = Deadline(
        case_id=case.id,
        partnership_id=case.partnership_id,
        key=clock.key,
        sequence=_next_sequence(session, case, clock.key),
        kind=clock.kind,
        status="pending",
        start_option=start_option(clock, rules),
        starts_on=starts_on,
        anchor_on=starts_on if rules.due(clock).working_days_before is not None else None,
        due_on=due_on,
        due_at=due_at,
        calendar_version=calendar.version,
        config_version=case.config_version,
        created_at=now,
        updated_at=now,
    )
    if now > due_at and not clock.met_at_due:
        # A late referral: the clock is breached from the start; the sweep fires only the
        # latest rung already due.
        deadline.status = "breached"
        deadline.breached_at = due_at
    _schedule(deadline, definition, clock, calendar, rules)
    session.add(deadline)
    session.flush()
    return deadline


def breached_at_on_cancel(
    *, status: str, due_at: datetime, breached_at: datetime | None, now: datetime
) -> datetime | None:
    """A clock cancelled while overdue keeps its breach on record (for the reports)."""
    if breached_at is None and status == "pending" and now > due_at:
        return due_at
    return breached_at


def _close(deadline: Deadline, status: str, now: datetime) -> None:
    if status == "cancelled":
        deadline.cancelled_at = now
        deadline.breached_at = breached_at_on_cancel(
            status=deadline.status,
            due_at=deadline.due_at,
            breached_at=deadline.breached_at,
            now=now,
        )
    deadline.status = status
    deadline.next_rung_at = None
    deadline.updated_at = now


def _event_date(
    event: ClockEvent,
    values: dict[str, Any],
    today: date,
    gate_agreed_on: Callable[[str], date | None],
) -> date | None:
    """The day an event counts from; None when the field it names was left empty."""
    if event.date is None:
        return today
    if event.date.startswith("gate:"):
        return gate_agreed_on(event.date.removeprefix("gate:").split(".")[0]) or today
    value = values.get(event.date)
    return value if isinstance(value, date) else None


def on_event(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    trigger: str,
    values: dict[str, Any],
    cancel_all: bool,
    now: datetime,
    gate_agreed_on: Callable[[str], date | None] = lambda _gate: None,
    actor: Actor | None = None,
    calendar: WorkingCalendar | None = None,
) -> None:
    """Apply what `trigger` (or `create`) does to the case's clocks, in this order: stops
    (judged by the event's own date; a recurring clock starts its next round), cancellations
    (the trigger cancels all, names the clock, or the case reached a final state), extensions,
    then starts. `calendar`: the current calendar, if the caller read it in this transaction."""
    calendar = current_calendar(session) if calendar is None else calendar
    rules = rules_for(session, case)
    today = london_date(now)
    final = definition.states[case.state].final
    for clock in definition.clocks.values():
        for event in clock.stop:
            if not event.matches(trigger, values):
                continue
            happened_on = _event_date(event, values, today, gate_agreed_on)
            current = open_instance(session, case, clock.key)
            if current is None or happened_on is None:
                continue
            met_late = happened_on > current.due_on
            _close(current, "met_late" if met_late else "met", now)
            current.met_on = happened_on
            current.met_at = now
            # Judged by the event's date, whether or not a sweep saw the clock first: on time
            # is no breach; late was a breach from the due instant.
            current.breached_at = current.due_at if met_late else None
            if clock.recurring:
                start(
                    session,
                    case=case,
                    definition=definition,
                    clock=clock,
                    starts_on=happened_on,
                    now=now,
                    calendar=calendar,
                )
        if cancel_all or final or trigger in clock.cancel_on:
            # Leaving the path (withdrawn, closed): what is still running stops counting,
            # the clocks of the case's records (requests, actions) too.
            current = open_instance(session, case, clock.key)
            if current is not None:
                _close(current, "cancelled", now)
            for record_clock in _open_subject_clocks(session, case, clock.key):
                _close(record_clock, "cancelled", now)
            continue
        for event in clock.extend:
            if not event.matches(trigger, values):
                continue
            new_due = _event_date(event, values, today, gate_agreed_on)
            current = open_instance(session, case, clock.key)
            if current is None or new_due is None:
                continue
            # An extension only moves a due date later; an earlier revised date is recorded
            # with the trigger (and in the audit) but is no new deadline.
            if new_due > current.due_on:
                reason = str(values.get("reason") or f"recorded by {trigger}")
                _extend(
                    session,
                    deadline=current,
                    definition=definition,
                    clock=clock,
                    new_due_on=new_due,
                    reason=reason,
                    agreed_with=None,
                    source=f"trigger:{trigger}",
                    actor=actor,
                    now=now,
                    calendar=calendar,
                )
        for event in start_events(clock, rules):
            if not event.matches(trigger, values):
                continue
            starts_on = _event_date(event, values, today, gate_agreed_on)
            if starts_on is not None:
                start(
                    session,
                    case=case,
                    definition=definition,
                    clock=clock,
                    starts_on=starts_on,
                    now=now,
                    calendar=calendar,
                )


# -- clocks of one record of a case (an information request, an improvement action) ------------


def _open_subject_clocks(session: Session, case: Case, key: str) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline).where(
                col(Deadline.case_id) == case.id,
                col(Deadline.key) == key,
                col(Deadline.subject_id).is_not(None),
                col(Deadline.status).in_(OPEN),
            )
        )
    )


def subject_clock(session: Session, subject_id: uuid.UUID) -> Deadline | None:
    """The latest clock of a record, running or not."""
    return session.exec(
        select(Deadline)
        .where(col(Deadline.subject_id) == subject_id)
        .order_by(col(Deadline.sequence).desc())
    ).first()


def start_for_subject(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    key: str,
    subject_type: str,
    subject_id: uuid.UUID,
    agency: str | None,
    starts_on: date,
    due_on: date,
    now: datetime,
) -> Deadline:
    """Start the clock of one record of the case: its due date is the record's own
    (`due: {field: due_on}` in the workflow). Its alerts may go to `agency`'s holders of a role
    (a ladder rung addressed to `dsp:owner`)."""
    clock = definition.clocks[key]
    calendar = current_calendar(session)
    due_at = end_of_day(due_on)
    deadline = Deadline(
        case_id=case.id,
        partnership_id=case.partnership_id,
        key=key,
        sequence=_next_sequence(session, case, key),
        kind=clock.kind,
        status="pending",
        starts_on=starts_on,
        due_on=due_on,
        due_at=due_at,
        calendar_version=calendar.version,
        subject_type=subject_type,
        subject_id=subject_id,
        subject_agency=agency,
        config_version=case.config_version,
        created_at=now,
        updated_at=now,
    )
    if now > due_at:
        deadline.status = "breached"
        deadline.breached_at = due_at
    _schedule(deadline, definition, clock, calendar, rules_for(session, case))
    session.add(deadline)
    session.flush()
    return deadline


def stop_for_subject(
    session: Session, *, subject_id: uuid.UUID, met_on: date, now: datetime
) -> Deadline | None:
    """The record is done on `met_on`: its clock is met, or met late after its due date."""
    current = subject_clock(session, subject_id)
    if current is None or current.status not in OPEN:
        return None
    met_late = met_on > current.due_on
    _close(current, "met_late" if met_late else "met", now)
    current.met_on = met_on
    current.met_at = now
    current.breached_at = current.due_at if met_late else None
    current.updated_at = now
    return current


def cancel_for_subject(session: Session, *, subject_id: uuid.UUID, now: datetime) -> None:
    """The record no longer needs doing (withdrawn, closed with a rationale)."""
    current = subject_clock(session, subject_id)
    if current is not None and current.status in OPEN:
        _close(current, "cancelled", now)
        current.updated_at = now


def move_for_subject(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    subject_id: uuid.UUID,
    new_due_on: date,
    reason: str,
    actor: Actor,
    now: datetime,
) -> DeadlineExtension | None:
    """The record's due date changed: its running clock follows, with the reason in its
    extension history (an earlier date too: the partnership agreed it)."""
    current = subject_clock(session, subject_id)
    if current is None or current.status not in OPEN or current.due_on == new_due_on:
        return None
    return _extend(
        session,
        deadline=current,
        definition=definition,
        clock=definition.clocks[current.key],
        new_due_on=new_due_on,
        reason=reason,
        agreed_with=None,
        source="record",
        actor=actor,
        now=now,
        calendar=current_calendar(session),
    )


def on_created(
    session: Session, *, case: Case, definition: WorkflowDefinition, now: datetime
) -> None:
    """Start the new case's clocks, binding it to its partnership's configuration as it
    stands now: its clocks count by that version for the rest of the case's life."""
    case.config_version = configuration_service.current_version(
        session, case.partnership_id, case.workflow
    )
    on_event(
        session,
        case=case,
        definition=definition,
        trigger=CREATE,
        values={"became_aware_on": case.became_aware_on},
        cancel_all=False,
        now=now,
    )


def _extend(
    session: Session,
    *,
    deadline: Deadline,
    definition: WorkflowDefinition,
    clock: ClockDef,
    new_due_on: date,
    reason: str,
    agreed_with: str | None,
    source: str,
    actor: Actor | None,
    now: datetime,
    calendar: WorkingCalendar,
) -> DeadlineExtension:
    extension = DeadlineExtension(
        deadline_id=deadline.id,
        previous_due_on=deadline.due_on,
        new_due_on=new_due_on,
        reason=reason,
        agreed_with=agreed_with,
        source=source,
        actor_id=actor.user_id if actor else None,
        at=now,
    )
    session.add(extension)
    deadline.due_on = new_due_on
    deadline.due_at = end_of_day(new_due_on)
    deadline.calendar_version = calendar.version
    deadline.updated_at = now
    # Each rung fires once per due date: a moved due date starts the ladder again.
    deadline.rungs_fired = 0
    if deadline.due_at > now:
        deadline.status = "pending"
        deadline.breached_at = None
    else:
        # Extended to a date that has passed too: breached, as of the new due instant.
        deadline.status = "breached"
        deadline.breached_at = deadline.due_at
    _schedule(deadline, definition, clock, calendar, _rules_of(session, deadline, definition))
    return extension


def extend(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    key: str,
    new_due_on: date,
    reason: str,
    agreed_with: str | None,
    actor: Actor,
    now: datetime,
    expected_version: frozenset[int] | None,
) -> Deadline:
    """Move an open clock's due date later, with the reason kept in its history."""
    case_repository.check_precondition(case, expected_version)
    clock = definition.clocks.get(key)
    if clock is None:
        raise ClockNotFound(
            f"{definition.name} has no clock {key!r}.", known_clocks=sorted(definition.clocks)
        )
    refs = tuple(RoleRef.parse(r) for r in clock.extendable_by)
    if not any(ref.admits(actor.roles, actor.agency) for ref in refs):
        raise ExtensionForbidden(
            f"The {key} clock may be extended by: {', '.join(clock.extendable_by)}."
        )
    current = open_instance(session, case, key)
    if current is None:
        raise ClockNotOpen(f"The case has no running {key} clock to extend.", clock=key)
    if new_due_on <= current.due_on:
        raise InvalidData(
            [
                FieldError(
                    loc="new_due_on",
                    message=f"must be after the current due date ({current.due_on})",
                    type="date_order",
                )
            ]
        )
    case_repository.claim_next_version(session, case, expected_version)
    case.updated_at = now
    extension = _extend(
        session,
        deadline=current,
        definition=definition,
        clock=clock,
        new_due_on=new_due_on,
        reason=reason,
        agreed_with=agreed_with,
        source="api",
        actor=actor,
        now=now,
        calendar=current_calendar(session),
    )
    audit_service.record(
        session=session,
        case=case,
        actor=actor,
        kind="deadline.extended",
        now=now,
        from_state=case.state,
        to_state=case.state,
        data={
            "clock": key,
            "previous_due_on": extension.previous_due_on.isoformat(),
            "new_due_on": new_due_on.isoformat(),
            "reason": reason,
            **({"agreed_with": agreed_with} if agreed_with else {}),
        },
        basis=clock.basis,
    )
    session.flush()
    return current


def add_holiday(
    session: Session, *, day: date, title: str, reason: str | None, actor: Actor, now: datetime
) -> CalendarAddition:
    """Add a newly proclaimed non-working day, and move every running working-day clock
    whose count passes over it (each moved clock is recorded on its case's audit trail)."""
    _may_change_calendar(actor)
    before = current_calendar(session)
    if day.weekday() >= 5:
        raise HolidayRefused(f"{day} is a {day.strftime('%A')}: it is not a working day anyway.")
    if before.holiday(day) is not None:
        raise HolidayRefused(f"{day} is already a non-working day ({before.holiday(day)}).")
    addition = CalendarAddition(
        day=day, title=title, reason=reason, added_by=actor.user_id, added_at=now
    )
    session.add(addition)
    session.flush()
    moved = _recount_over(
        session,
        day=day,
        actor=actor,
        now=now,
        basis="A bank holiday proclaimed after the clock started",
    )
    _audit_calendar(session, "calendar.day_added", addition, actor, now, moved, reason)
    return addition


def withdraw_holiday(
    session: Session, *, day: date, reason: str, actor: Actor, now: datetime
) -> CalendarAddition:
    """Take back a day added to the calendar (one made in error, or a proclamation revoked):
    every running working-day clock whose count passes over it is counted again without it,
    each recorded on its case's audit trail, as when it was added. The addition is kept, with
    who withdrew it, when and why."""
    _may_change_calendar(actor)
    addition = session.exec(
        select(CalendarAddition)
        .where(col(CalendarAddition.day) == day)
        .where(col(CalendarAddition.withdrawn_at).is_(None))
    ).first()
    if addition is None:
        raise HolidayNotAdded(
            f"No day was added to the calendar on {day}: only an added day can be withdrawn "
            "(the GOV.UK bank holidays are the calendar itself)."
        )
    addition.withdrawn_at, addition.withdrawn_by = now, actor.user_id
    addition.withdrawn_reason = reason
    session.flush()
    moved = _recount_over(
        session,
        day=day,
        actor=actor,
        now=now,
        basis="A bank holiday added to the calendar was withdrawn",
    )
    _audit_calendar(session, "calendar.day_withdrawn", addition, actor, now, moved, reason)
    return addition


def _audit_calendar(
    session: Session,
    kind: str,
    addition: CalendarAddition,
    actor: Actor,
    now: datetime,
    moved: int,
    reason: str | None,
) -> None:
    """A platform change: the national calendar belongs to no partnership."""
    admin_audit.record(
        session,
        kind=kind,
        partnership_id=None,
        actor_id=actor.user_id,
        subject_type="calendar",
        subject_id=addition.day.isoformat(),
        now=now,
        after={"title": addition.title, "reason": reason, "clocks_moved": moved},
    )


def _may_change_calendar(actor: Actor) -> None:
    if not policy.may(actor, policy.Permission.manage_calendar):
        raise Forbidden(
            "The England and Wales calendar is shared by every partnership: only a platform "
            "administrator may change it."
        )


def _recount_over(session: Session, *, day: date, actor: Actor, now: datetime, basis: str) -> int:
    """Count again every running working-day clock whose count passes over `day`, with the
    calendar as it now is; a clock whose due date moves is recorded on its case's trail.
    Returns how many moved."""
    moved = 0
    from cspr_engine.workflow import service as workflow_service

    session.info.pop(_CALENDAR, None)
    after = current_calendar(session)
    affected = session.exec(
        select(Deadline)
        .where(col(Deadline.status).in_(OPEN))
        .where(
            ((col(Deadline.starts_on) < day) & (col(Deadline.due_on) >= day))
            | ((col(Deadline.due_on) <= day) & (col(Deadline.anchor_on) > day))
        )
    ).all()
    for deadline in affected:
        case = session.get(Case, deadline.case_id)
        if case is None:  # pragma: no cover
            continue
        definition = workflow_service.definition_for(case)
        clock = definition.clocks[deadline.key]
        rules = _rules_of(session, deadline, definition)
        due_rule = rules.due(clock)
        if due_rule.working_days is None and due_rule.working_days_before is None:
            continue
        extended = select(DeadlineExtension.id).where(
            col(DeadlineExtension.deadline_id) == deadline.id
        )
        if session.exec(extended).first() is not None:
            # Its due date was agreed as a date (with a reason), not counted: it stands.
            continue
        previous = deadline.due_on
        deadline.due_on = compute_due(clock, deadline.anchor_on or deadline.starts_on, after, rules)
        if deadline.due_on == previous:
            continue
        deadline.due_at = end_of_day(deadline.due_on)
        deadline.calendar_version = after.version
        deadline.rungs_fired = 0
        deadline.updated_at = now
        if deadline.status == "breached" and deadline.due_at > now:
            deadline.status, deadline.breached_at = "pending", None
        _schedule(deadline, definition, clock, after, rules)
        case_repository.claim_next_version(session, case, None)
        case.updated_at = now
        audit_service.record(
            session=session,
            case=case,
            actor=actor,
            kind="deadline.recomputed",
            now=now,
            from_state=case.state,
            to_state=case.state,
            data={
                "clock": deadline.key,
                "previous_due_on": previous.isoformat(),
                "new_due_on": deadline.due_on.isoformat(),
                "holiday": day.isoformat(),
                "calendar_version": after.version,
            },
            basis=basis,
        )
        moved += 1
    session.flush()
    return moved


# -- reading ------------------------------------------------------------------------------


def for_case(session: Session, case: Case) -> list[Deadline]:
    return list(
        session.exec(
            select(Deadline)
            .where(col(Deadline.case_id) == case.id)
            .order_by(col(Deadline.created_at), col(Deadline.key), col(Deadline.sequence))
        )
    )


def extensions_for(
    session: Session, deadlines: list[Deadline]
) -> dict[uuid.UUID, list[DeadlineExtension]]:
    ids = [d.id for d in deadlines]
    found: dict[uuid.UUID, list[DeadlineExtension]] = {i: [] for i in ids}
    if not ids:
        return found
    for ext in session.exec(
        select(DeadlineExtension)
        .where(col(DeadlineExtension.deadline_id).in_(ids))
        .order_by(col(DeadlineExtension.at))
    ):
        found[ext.deadline_id].append(ext)
    return found


def effective_status(deadline: Deadline, clock: ClockDef | None, now: datetime) -> str:
    """The status as of `now`, before the sweep has had its turn."""
    if deadline.status == "pending" and now > deadline.due_at:
        return "met" if clock is not None and clock.met_at_due else "breached"
    return deadline.status


def present(
    session: Session, case: Case, definition: WorkflowDefinition, now: datetime
) -> list[DeadlineRead]:
    """Every clock of the case, as of `now`, with its extension history."""
    return _present(session, for_case(session, case), {case.id: definition}, now)[case.id]


def present_many(
    session: Session,
    cases: list[Case],
    definitions: dict[uuid.UUID, WorkflowDefinition],
    now: datetime,
) -> dict[uuid.UUID, list[DeadlineRead]]:
    """The clocks of many cases at once (a dashboard), keyed by case id: two queries in all."""
    ids = [c.id for c in cases]
    deadlines = (
        list(
            session.exec(
                select(Deadline)
                .where(col(Deadline.case_id).in_(ids))
                .order_by(col(Deadline.created_at), col(Deadline.key), col(Deadline.sequence))
            )
        )
        if ids
        else []
    )
    shown = _present(session, deadlines, definitions, now)
    return {i: shown.get(i, []) for i in ids}


def _present(
    session: Session,
    deadlines: list[Deadline],
    definitions: dict[uuid.UUID, WorkflowDefinition],
    now: datetime,
) -> dict[uuid.UUID, list[DeadlineRead]]:
    extensions = extensions_for(session, deadlines)
    calendar = current_calendar(session)
    today = london_date(now)
    out: dict[uuid.UUID, list[DeadlineRead]] = {i: [] for i in definitions}
    for d in deadlines:
        clock = definitions[d.case_id].clocks.get(d.key)
        status = effective_status(d, clock, now)
        out.setdefault(d.case_id, []).append(
            DeadlineRead(
                key=d.key,
                label=clock.label if clock else d.key,
                rule=clock.rule if clock else "",
                basis=clock.basis if clock else "",
                verification=clock.verification if clock else "",
                kind=d.kind,  # type: ignore[arg-type]
                statutory=d.kind == "statutory",
                sequence=d.sequence,
                status=status,  # type: ignore[arg-type]
                start_option=d.start_option,
                starts_on=d.starts_on,
                anchor_on=d.anchor_on,
                due_on=d.due_on,
                due_at=d.due_at,
                working_days_left=(
                    calendar.working_days_between(today, d.due_on) if status in OPEN else None
                ),
                met_on=d.met_on or (d.due_on if status == "met" else None),
                met_at=d.met_at,
                breached_at=d.breached_at or (d.due_at if status == "breached" else None),
                cancelled_at=d.cancelled_at,
                next_alert_at=d.next_rung_at,
                calendar_version=d.calendar_version,
                config_version=d.config_version,
                subject_type=d.subject_type,
                subject_id=d.subject_id,
                subject_agency=d.subject_agency,
                extensions=[
                    ExtensionRead.model_validate(e, from_attributes=True) for e in extensions[d.id]
                ],
            )
        )
    return out


# -- the sweep ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    examined: int
    alerts: int


def claim_due(session: Session, now: datetime, limit: int) -> list[Deadline]:
    """Rows with a rung due, locked for this transaction (others skip them on PostgreSQL;
    SQLite's single writer serialises sweeps, see db.writer_bind)."""
    query = (
        select(Deadline)
        .where(col(Deadline.next_rung_at).is_not(None), col(Deadline.next_rung_at) <= now)
        .order_by(col(Deadline.next_rung_at))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.exec(query))


def sweep(session: Session, *, now: datetime, limit: int = 500) -> SweepResult:
    """Fire every rung that has fallen due, at most `limit` clocks in this transaction.

    For each clock only the latest rung already due fires (a clock found three rungs late
    raises one alert, not three). Two sweeps never work on one clock at once: on PostgreSQL
    the claimed rows stay locked until commit and other sweeps skip them; on SQLite sweeps take
    the single write lock in turn. Each alert's dedupe key (clock, rung, due date) is the last
    guard: a rung cannot be written twice whatever happens.
    """
    from cspr_engine.workflow import service as workflow_service

    calendar = current_calendar(session)
    rows = claim_due(session, now, limit)
    alerts = 0
    cases: dict[uuid.UUID, Case] = {}
    for deadline in rows:
        case = cases.get(deadline.case_id) or session.get(Case, deadline.case_id)
        if case is None:  # pragma: no cover - the foreign key forbids it
            continue
        cases[case.id] = case
        definition = workflow_service.definition_for(case)
        clock = definition.clocks[deadline.key]
        if clock.met_at_due:
            _close(deadline, "met", now)
            deadline.met_on = deadline.due_on
            deadline.met_at = now
        else:
            alerts += _fire_latest_rung(session, case, definition, clock, deadline, now, calendar)
        deadline.updated_at = now
    session.flush()
    return SweepResult(examined=len(rows), alerts=alerts)


def recipients_of(rung: Rung, deadline: Deadline) -> tuple[str, ...]:
    """The rung's recipients; `role:owner` is that role in the agency the clock's record is
    addressed to (the DSP of the agency asked for a return, or owning an action)."""
    out = []
    for ref in rung.to:
        role, _, agency = ref.partition(":")
        if agency == OWNER:
            if deadline.subject_agency is None:
                continue
            ref = f"{role}:{deadline.subject_agency}"
        out.append(ref)
    return tuple(out)


def _fire_latest_rung(
    session: Session,
    case: Case,
    definition: WorkflowDefinition,
    clock: ClockDef,
    deadline: Deadline,
    now: datetime,
    calendar: WorkingCalendar,
) -> int:
    rules = _rules_of(session, deadline, definition)
    rungs = ladder(definition, clock, rules)
    due = [
        i
        for i in range(deadline.rungs_fired, len(rungs))
        if rung_instant(rungs[i], deadline.due_on, calendar) <= now
    ]
    if not due:
        _schedule(deadline, definition, clock, calendar, rules)
        return 0
    index = due[-1]
    rung = rungs[index]
    deadline.rungs_fired = index + 1
    if rung.offset_working_days >= 0 and deadline.status == "pending":
        deadline.status = "breached"
        deadline.breached_at = deadline.due_at
    _schedule(deadline, definition, clock, calendar, rules)
    created = alert_service.enqueue(
        session,
        type=rung.event,
        dedupe_key=f"deadline:{deadline.id}:{rung.name}:{deadline.due_on.isoformat()}",
        case=case,
        recipients=recipients_of(rung, deadline),
        data={
            **(
                {
                    deadline.subject_type: str(deadline.subject_id),
                    "agency": deadline.subject_agency,
                }
                if deadline.subject_type
                else {}
            ),
            "clock": clock.key,
            "label": clock.label,
            "rule": clock.rule,
            "basis": clock.basis,
            "statutory": clock.kind == "statutory",
            "kind": clock.kind,
            "rung": rung.name,
            "due_on": deadline.due_on.isoformat(),
            "due_at": deadline.due_at.isoformat().replace("+00:00", "Z"),
            "status": deadline.status,
            "working_days_overdue": max(
                0, calendar.working_days_between(deadline.due_on, london_date(now))
            ),
        },
        now=now,
    )
    return 1 if created is not None else 0
