"""Real worker processes (`cspr-engine worker`) on the test database.

Two workers sweeping 1,000 overdue clocks at once write every alert exactly once; a worker
killed with SIGKILL while a webhook is in flight loses nothing: a fresh worker takes the
leased deliveries again once the lease runs out and sends each alert under its own id.

Every wait is bounded; the tests stop (and, if need be, kill) only the processes they start.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from cspr_engine.alerts.models import Delivery, DeliveryAttempt, OutboxEvent
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import SystemClock, london_date
from cspr_engine.scheduler import jobs
from cspr_engine.workflow import service as workflow_service
from tests.factories import Api
from tests.processes import (
    SECRET,
    SETTLE_SECONDS,
    START_SECONDS,
    WebhookReceiver,
    assert_no_job_errors,
    wait_until,
    workers,
)

pytestmark = pytest.mark.heavy


# -- a. two workers, 1,000 due clocks -----------------------------------------------------

DEFAULT_LADDER = ("panel_notification", "rapid_review", "delay_notice", "lcspr_completion")
LATE, BREACHED, MET_AT_DUE, STALE = 700, 300, 50, 100


@dataclass
class Planned:
    rows: list[dict[str, Any]] = field(default_factory=list)
    expected_rung: dict[uuid.UUID, str | None] = field(default_factory=dict)


def plan_clocks(cases: list[Case], now: datetime) -> Planned:
    """1,000 clocks with a rung due (700 long overdue: their last rung fires; 300 two working
    days overdue: the breach fires, the escalation is still ahead), 50 met-at-due clocks past
    their date (closed, no alert) and 100 rows whose next look is stale (nothing fires)."""
    with Session(get_engine()) as session:
        calendar = deadline_service.current_calendar(session)
    definition = workflow_service.definition_for(cases[0])
    rungs = definition.escalation
    today = london_date(now)
    planned = Planned()

    def add(
        i: int, key: str, due_on: date, fired: int, next_at: datetime, rung: str | None
    ) -> None:
        case = cases[i % len(cases)]
        row_id = uuid.uuid4()
        planned.rows.append(
            {
                "id": row_id,
                "case_id": case.id,
                "partnership_id": case.partnership_id,
                "key": key,
                "sequence": 1000 + i,
                "kind": definition.clocks[key].kind,
                "status": "breached" if fired >= 2 else "pending",
                "starts_on": due_on - timedelta(days=30),
                "due_on": due_on,
                "due_at": deadline_service.end_of_day(due_on),
                "breached_at": deadline_service.end_of_day(due_on) if fired >= 2 else None,
                "rungs_fired": fired,
                "next_rung_at": next_at,
                "calendar_version": calendar.version,
                "created_at": now - timedelta(days=40),
                "updated_at": now - timedelta(days=40),
            }
        )
        planned.expected_rung[row_id] = rung

    def instant(index: int, due_on: date) -> datetime:
        return deadline_service.rung_instant(rungs[index], due_on, calendar)

    i = 0
    for n in range(LATE):
        due_on = calendar.subtract_working_days(today, 8 + n % 40)
        fired = n % 3
        add(i, DEFAULT_LADDER[n % 4], due_on, fired, instant(fired, due_on), rungs[-1].name)
        i += 1
    for n in range(BREACHED):
        due_on = calendar.subtract_working_days(today, 2)
        fired = n % 2
        add(i, DEFAULT_LADDER[n % 4], due_on, fired, instant(fired, due_on), "breach")
        i += 1
    for _ in range(MET_AT_DUE):
        due_on = today - timedelta(days=10)
        add(i, "publication_retention", due_on, 0, deadline_service.end_of_day(due_on), None)
        i += 1
    for n in range(STALE):
        due_on = calendar.add_working_days(today, 10 + n % 5)
        add(i, DEFAULT_LADDER[n % 4], due_on, 0, now - timedelta(hours=1), None)
        i += 1
    return planned


def due_count(now: datetime) -> int:
    """Clocks with a rung due by `now` (what the sweep's claim query would find)."""
    with Session(get_engine()) as session:
        return session.exec(
            select(func.count())
            .select_from(Deadline)
            .where(col(Deadline.next_rung_at).is_not(None), col(Deadline.next_rung_at) <= now)
        ).one()


@contextmanager
def counted_outbox_inserts(is_postgres: bool) -> Iterator[Callable[[], int | None]]:
    """PostgreSQL: count every INSERT attempted on outbox_events, including one that a unique
    violation (a dedupe race lost) rolls back: a BEFORE trigger takes a number from a sequence,
    and sequences ignore rollbacks. SQLite has nothing like it: the count is None there."""
    if not is_postgres:
        yield lambda: None
        return
    engine = get_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SEQUENCE probe_outbox_attempts")
        conn.exec_driver_sql(
            "CREATE FUNCTION probe_outbox_attempt() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM nextval('probe_outbox_attempts'); RETURN NEW; END $$"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER probe_outbox_attempt BEFORE INSERT ON outbox_events "
            "FOR EACH ROW EXECUTE FUNCTION probe_outbox_attempt()"
        )

    def attempts() -> int:
        with engine.connect() as conn:
            last, called = conn.exec_driver_sql(
                "SELECT last_value, is_called FROM probe_outbox_attempts"
            ).one()
        return int(last) if called else 0

    try:
        yield attempts
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS probe_outbox_attempt ON outbox_events")
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS probe_outbox_attempt()")
            conn.exec_driver_sql("DROP SEQUENCE IF EXISTS probe_outbox_attempts")


def test_two_workers_write_every_rung_exactly_once(
    api: Api, database_url: str, is_postgres: bool, tmp_path: Path
) -> None:
    created = [api.create_case(partner_reference=f"POL-2026-{n}") for n in range(4)]
    now = datetime.now(UTC)
    with Session(get_engine()) as session:
        cases = [session.get(Case, uuid.UUID(c["id"])) for c in created]
        own = list(session.exec(select(Deadline)))
        calendar = deadline_service.current_calendar(session)
    assert all(cases)
    definition = workflow_service.definition_for(cases[0])  # type: ignore[arg-type]
    last = definition.escalation[-1]
    # The cases' own clocks (started in June 2026) are long past their last rung.
    assert own
    assert all(
        deadline_service.rung_instant(last, d.due_on, calendar) < now - timedelta(days=3)
        for d in own
    )
    planned = plan_clocks(cases, now)  # type: ignore[arg-type]
    expected = {d.id: last.name for d in own} | {
        k: v for k, v in planned.expected_rung.items() if v is not None
    }
    assert len(expected) == len(own) + LATE + BREACHED

    with (
        counted_outbox_inserts(is_postgres) as attempts,
        workers(database_url, tmp_path, ["worker-1", "worker-2"]) as pair,
    ):
        for worker in pair:
            worker.wait_ready()
        # Both workers sweep every second; the clocks appear to them in one commit.
        with get_engine().begin() as conn:
            conn.execute(Deadline.__table__.insert(), planned.rows)  # type: ignore[attr-defined]
        wait_until(
            lambda: due_count(datetime.now(UTC)) == 0, SETTLE_SECONDS, "no clock has a rung due"
        )
        for worker in pair:
            worker.stop()
            assert worker.process.returncode == 0, worker.output()
            assert_no_job_errors(worker, sqlite=not is_postgres)
        tried = attempts()

    with Session(get_engine()) as session:
        events = list(
            session.exec(
                select(OutboxEvent).where(col(OutboxEvent.dedupe_key).startswith("deadline:"))
            )
        )
        rows = {d.id: d for d in session.exec(select(Deadline))}
    rows_due_on = {k: d.due_on.isoformat() for k, d in rows.items()}
    per_rung = Counter(tuple(e.dedupe_key.split(":")[1:3]) for e in events)
    assert {k: n for k, n in per_rung.items() if n != 1} == {}, "a rung was written twice"
    per_clock = Counter(uuid.UUID(e.dedupe_key.split(":")[1]) for e in events)
    assert {k: n for k, n in per_clock.items() if n != 1} == {}, "a clock alerted twice"
    fired = {uuid.UUID(e.dedupe_key.split(":")[1]): e.dedupe_key.split(":")[2] for e in events}
    assert len(events) == len(expected)
    assert fired == expected
    for e in events:
        _, clock_id, rung, due_on = e.dedupe_key.split(":")
        assert e.payload["id"] == str(e.id)
        assert (e.payload["data"]["rung"], e.payload["data"]["due_on"]) == (rung, due_on)
        assert rows_due_on[uuid.UUID(clock_id)] == due_on
    if tried is not None:  # PostgreSQL: not one insert was refused by the dedupe key
        assert tried == len(events), f"{tried - len(events)} duplicate insert(s) rolled back"

    # Every planned clock ends where one sweep would leave it.
    for row in planned.rows:
        d = rows[row["id"]]
        planned_rung = planned.expected_rung[row["id"]]
        if row["key"] == "publication_retention":
            assert (d.status, d.next_rung_at) == ("met", None)
        elif planned_rung == last.name:
            assert (d.status, d.rungs_fired, d.next_rung_at) == ("breached", 3, None)
        elif planned_rung == "breach":
            assert (d.status, d.rungs_fired) == ("breached", 2)
            assert d.next_rung_at == deadline_service.rung_instant(last, d.due_on, calendar)
        else:  # stale: nothing due, looked at again at its warning
            assert (d.status, d.rungs_fired) == ("pending", 0)
            assert d.next_rung_at is not None
            assert d.next_rung_at > now


# -- b. SIGKILL between claim and delivery -------------------------------------------------


def deliveries() -> list[Delivery]:
    with Session(get_engine()) as session:
        return list(session.exec(select(Delivery)))


def test_worker_killed_mid_delivery_loses_nothing(
    api: Api, database_url: str, is_postgres: bool, tmp_path: Path
) -> None:
    with WebhookReceiver(hold_first=True) as receiver:
        response = api.client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["*"], "secret": SECRET},
            headers=api.headers("admin"),
        )
        assert response.status_code == 201, response.text
        for n in range(2):
            api.create_case(became_aware_on="2026-06-10", partner_reference=f"POL-KILL-{n}")
        # Months overdue by now: the sweep raises the clocks' alerts (and their deliveries).
        assert jobs.sweep_deadlines(SystemClock()) >= 2
        with Session(get_engine()) as session:
            event_ids = {str(e.id) for e in session.exec(select(OutboxEvent))}
        assert len(deliveries()) == len(event_ids) >= 4  # case.created x2, clock alerts

        settings = {"CSPR_DELIVERY_LEASE_SECONDS": "5", "CSPR_WEBHOOK_TIMEOUT_SECONDS": "60"}
        with workers(database_url, tmp_path, ["doomed"], **settings) as (doomed,):
            assert receiver.arrived.wait(timeout=START_SECONDS), doomed.output()
            # In flight: claimed (leased), sent, not answered, nothing recorded.
            leased = deliveries()
            assert all(d.status == "pending" and d.attempts == 0 for d in leased)
            # The one on the wire is leased (a sender leases only as many as it can try
            # within its lease, so with a 60 s timeout and a 5 s lease that is one at a time).
            in_flight = receiver.snapshot()[0].webhook_id
            assert [d.lease_until is not None for d in leased if str(d.event_id) == in_flight] == [
                True
            ]
            doomed.kill9()
        receiver.release.set()
        held = receiver.snapshot()
        assert len(held) == 1
        assert held[0].answered is None

        with workers(database_url, tmp_path, ["fresh"], **settings) as (fresh,):
            wait_until(
                lambda: all(d.status == "delivered" for d in deliveries()),
                SETTLE_SECONDS,
                "every alert is delivered",
            )
            fresh.stop()
            assert fresh.process.returncode == 0, fresh.output()
            assert_no_job_errors(fresh, sqlite=not is_postgres)
        received = receiver.snapshot()
    with Session(get_engine()) as session:
        # Read again: a rung that fell due meanwhile would have been swept by the workers.
        event_ids = {str(e.id) for e in session.exec(select(OutboxEvent))}

    # Each alert arrived answered exactly once, under the outbox event's id; the one in
    # flight when the worker died arrived twice, with the same id both times.
    assert all(r.signature_ok and r.webhook_id == r.body_id for r in received), received
    answered = Counter(r.webhook_id for r in received if r.answered == 200)
    assert answered == Counter(event_ids)
    assert len(received) == len(event_ids) + 1
    assert held[0].webhook_id in event_ids

    with Session(get_engine()) as session:
        done = list(session.exec(select(Delivery)))
        attempts = list(session.exec(select(DeliveryAttempt)))
        by_delivery = {d.id: d for d in done}
        event_of = {d.id: str(d.event_id) for d in done}
    assert all(d.attempts == 1 and d.lease_until is None and d.delivered_at for d in done)
    # The killed worker recorded nothing; the fresh one recorded one success per delivery.
    assert len(attempts) == len(done)
    assert {a.delivery_id for a in attempts} == set(by_delivery)
    assert all((a.attempt, a.succeeded, a.status_code) == (1, True, 200) for a in attempts)
    assert {event_of[a.delivery_id] for a in attempts} == event_ids
