"""What must hold of every case, clock and alert whatever happened before, read straight from
the database and reported as a list of faults (empty when all is well), so that a test can show
a tampered row is caught as well as assert that none is found:

- a case's state and version are the replay of its audit trail, and its hash chain verifies
  (`audit.chain.verify_case`); every transition enqueued its one alert;
- a running clock has a due date, its due instant is that date's end in England, and an overdue
  clock still marked pending is one the next sweep looks at; a stopped clock has no rung left;
- a rung alert fires once per clock, rung and due date, in ladder order, never before its
  instant (by the calendar of that moment), never after its clock stopped, only for a due date
  the clock had; `rungs_fired` points just past the latest rung alert of the current due date;
- a met clock has no breach, and a stopped clock (met, met late, cancelled) stays as it was;
- a closed case has no running clock.

The last rules but one look at history: a `History` carries what earlier checks saw.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from cspr_engine.alerts.models import OutboxEvent
from cspr_engine.audit import chain
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import WorkingCalendar, get_calendar
from cspr_engine.deadlines.models import CalendarAddition, Deadline, DeadlineExtension
from cspr_engine.workflow import service as workflow_service

OPEN = deadline_service.OPEN
CLOSED = ("met", "met_late", "cancelled")
TRANSITIONED = "case.transitioned"


@dataclass(frozen=True)
class RungEvent:
    deadline_id: uuid.UUID
    rung: str
    due_on: date
    occurred_at: datetime
    clock: str | None  # as the event's payload names it
    payload_due_on: str | None


@dataclass
class History:
    """What earlier checks saw: each clock's status once it stopped running (with when), and
    every rung event (by its dedupe key)."""

    closed: dict[uuid.UUID, tuple[str, datetime | None, date | None]] = field(default_factory=dict)
    rung_keys: set[str] = field(default_factory=set)


def _rung_event(event: OutboxEvent) -> RungEvent | None:
    """A clock's rung alert, from its dedupe key `deadline:<id>:<rung>:<due_on>`."""
    parts = event.dedupe_key.split(":")
    if len(parts) != 4 or parts[0] != "deadline":
        return None
    data = event.payload.get("data", {})
    return RungEvent(
        deadline_id=uuid.UUID(parts[1]),
        rung=parts[2],
        due_on=date.fromisoformat(parts[3]),
        occurred_at=event.occurred_at,
        clock=data.get("clock"),
        payload_due_on=data.get("due_on"),
    )


def replay_faults(case: Case, events: list[AuditEvent], initial: str) -> list[str]:
    """The case's state and version are what its audit trail says: the trail opens in the
    initial state, each transition leaves from where the previous one arrived, every other
    event happens in the state the case was in, and the last arrival is the case's state."""
    faults: list[str] = []
    ref = case.reference
    if not events:
        return [f"{ref}: no audit events"]
    first = events[0]
    if first.kind != "case.created" or first.to_state != initial or first.from_state is not None:
        faults.append(f"{ref}: the trail opens with {first.kind} into {first.to_state}")
    state = first.to_state
    for event in events[1:]:
        if event.kind == TRANSITIONED:
            if event.from_state != state:
                faults.append(
                    f"{ref} event {event.seq}: {event.trigger} leaves {event.from_state}, "
                    f"but the case was in {state}"
                )
            state = event.to_state
        elif event.from_state != state or event.to_state != state:
            faults.append(
                f"{ref} event {event.seq} ({event.kind}) happens in "
                f"{event.from_state}->{event.to_state}, but the case was in {state}"
            )
    if state != case.state:
        faults.append(f"{ref}: the trail ends in {state}, the case is in {case.state}")
    if [e.seq for e in events] != list(range(1, len(events) + 1)) or len(events) != case.version:
        faults.append(f"{ref}: version {case.version}, trail seqs {[e.seq for e in events]}")
    return faults


def check(now: datetime, history: History | None = None) -> list[str]:
    """Every fault in the database as of `now` (see the module docstring); `history` is updated
    with what this check saw."""
    history = history if history is not None else History()
    faults: list[str] = []
    with Session(get_engine()) as session:
        cases = list(session.exec(select(Case)))
        events_by_case: dict[uuid.UUID, list[AuditEvent]] = defaultdict(list)
        for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))):
            events_by_case[event.case_id].append(event)
        deadlines = {d.id: d for d in session.exec(select(Deadline))}
        # The due dates each clock has had: its own, and every one an extension or a
        # recomputation (a holiday proclaimed) moved it from.
        had_due: dict[uuid.UUID, set[date]] = {i: {d.due_on} for i, d in deadlines.items()}
        for ext in session.exec(select(DeadlineExtension)):
            had_due[ext.deadline_id].add(ext.previous_due_on)
        recomputed: dict[tuple[uuid.UUID, str], set[date]] = defaultdict(set)
        for events in events_by_case.values():
            for e in events:
                if e.kind == "deadline.recomputed":
                    recomputed[(e.case_id, e.data["clock"])].add(
                        date.fromisoformat(e.data["previous_due_on"])
                    )
        outbox = list(session.exec(select(OutboxEvent).order_by(col(OutboxEvent.occurred_at))))
        additions = list(session.exec(select(CalendarAddition)))
        base = get_calendar()

        def calendar_at(instant: datetime) -> WorkingCalendar:
            return base.with_additions(
                {
                    a.day: a.title
                    for a in additions
                    if a.added_at < instant and (a.withdrawn_at is None or a.withdrawn_at > instant)
                }
            )

        for case in cases:
            definition = workflow_service.definition_for(case)
            events = events_by_case[case.id]
            faults += replay_faults(case, events, definition.initial)
            broken = chain.verify_case(session, case)
            if broken is not None:
                faults.append(f"audit chain: {broken}")
            # Every transition enqueued its one alert, in the same transaction.
            alerted = sum(1 for e in outbox if e.case_id == case.id and e.type == TRANSITIONED)
            transitions = sum(1 for e in events if e.kind == TRANSITIONED)
            if alerted != transitions:
                faults.append(
                    f"{case.reference}: {transitions} transitions, {alerted} transition alerts"
                )
            if definition.states[case.state].final:
                running = [
                    d.key for d in deadlines.values() if d.case_id == case.id and d.status in OPEN
                ]
                if running:
                    faults.append(
                        f"{case.reference} is {case.state} with clocks running: {running}"
                    )
        definitions = {c.id: workflow_service.definition_for(c) for c in cases}

        rungs: dict[uuid.UUID, list[RungEvent]] = defaultdict(list)
        seen_now: set[str] = set()
        for alert in outbox:
            rung = _rung_event(alert)
            if rung is None:
                continue
            seen_now.add(alert.dedupe_key)
            rungs[rung.deadline_id].append(rung)
        lost = history.rung_keys - seen_now
        if lost:
            faults.append(f"rung alerts vanished: {sorted(lost)}")
        history.rung_keys |= seen_now

        for deadline in deadlines.values():
            name = f"clock {deadline.key}#{deadline.sequence} ({deadline.id})"
            definition = definitions[deadline.case_id]
            clock = definition.clocks[deadline.key]
            # Every running clock has a due date, and its due instant is that date's end.
            if deadline.status in OPEN:
                if deadline.due_on is None or deadline.due_at is None:
                    faults.append(f"{name} is {deadline.status} with no due date")
                    continue
                if deadline.due_at != deadline_service.end_of_day(deadline.due_on):
                    faults.append(
                        f"{name}: due_at {deadline.due_at} is not the end of {deadline.due_on}"
                    )
                # An overdue clock not yet marked is one the sweep will look at now.
                if deadline.status == "pending" and deadline.due_at <= now:
                    if deadline.next_rung_at is None or deadline.next_rung_at > now:
                        faults.append(f"{name} is overdue and pending, and no sweep will see it")
            elif deadline.next_rung_at is not None:
                faults.append(f"{name} is {deadline.status} but still has a rung to fire")
            if deadline.status == "met" and deadline.breached_at is not None:
                faults.append(f"{name} is met yet breached at {deadline.breached_at}")
            if deadline.status == "met_late" and deadline.breached_at != deadline.due_at:
                faults.append(f"{name} was met late but its breach is {deadline.breached_at}")
            # A clock that stopped stays stopped, as it was: met never turns into breached.
            before = history.closed.get(deadline.id)
            stopped_at = deadline.met_at or deadline.cancelled_at
            now_closed = (deadline.status, stopped_at, deadline.met_on)
            if before is not None and before != now_closed:
                faults.append(f"{name} was {before[0]} and is now {deadline.status}")
            if deadline.status in CLOSED and before is None:
                history.closed[deadline.id] = now_closed

            # Rungs: each at most once per due date, in ladder order, never early, never after
            # the clock stopped, and rungs_fired says how far up the ladder the clock is.
            ladder = [r.name for r in deadline_service.ladder(definition, clock)]
            offsets = {r.name: r for r in deadline_service.ladder(definition, clock)}
            fired = rungs.get(deadline.id, [])
            per_due: dict[date, list[RungEvent]] = defaultdict(list)
            for r in fired:
                per_due[r.due_on].append(r)
                known = had_due[deadline.id] | recomputed[(deadline.case_id, deadline.key)]
                if r.due_on not in known:
                    faults.append(f"{name}: a rung alert for {r.due_on}, a due date it never had")
                if r.rung not in offsets:
                    faults.append(f"{name}: alert for unknown rung {r.rung}")
                    continue
                if r.clock != deadline.key or r.payload_due_on != r.due_on.isoformat():
                    faults.append(f"{name}: rung alert says clock {r.clock} due {r.payload_due_on}")
                # Never early, by the calendar of the moment it fired (the holidays proclaimed
                # before then count).
                instant = deadline_service.rung_instant(
                    offsets[r.rung], r.due_on, calendar_at(r.occurred_at)
                )
                if r.occurred_at < instant:
                    faults.append(f"{name}: {r.rung} fired at {r.occurred_at}, due {instant}")
                if (
                    stopped_at is not None
                    and deadline.status in CLOSED
                    and r.occurred_at > stopped_at
                ):
                    faults.append(f"{name}: {r.rung} fired after the clock was {deadline.status}")
            for due_on, group in per_due.items():
                names = [r.rung for r in group if r.rung in offsets]
                if len(names) != len(set(names)):
                    faults.append(f"{name}: a rung fired twice for due date {due_on}: {names}")
                order = [ladder.index(n) for n in names]
                if order != sorted(order):
                    faults.append(f"{name}: rungs fired out of order for {due_on}: {names}")
            current = [
                ladder.index(r.rung) for r in per_due.get(deadline.due_on, []) if r.rung in offsets
            ]
            if deadline.rungs_fired > len(ladder):
                faults.append(f"{name}: rungs_fired {deadline.rungs_fired} of {len(ladder)}")
            elif deadline.status in OPEN:
                # The latest rung fired for this due date is the one rungs_fired points past
                # (a clock found late skips to its latest due rung, so fewer events is fine).
                expected = deadline.rungs_fired - 1
                if (max(current) if current else -1) != expected:
                    faults.append(
                        f"{name}: rungs_fired {deadline.rungs_fired}, rung alerts for "
                        f"{deadline.due_on}: {[ladder[i] for i in current]}"
                    )
    return faults
