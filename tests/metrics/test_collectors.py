"""The figures read from the database at each scrape: clocks open by status and kind, breaches,
the sweep's lag and the alert outbox; "now" is the app's clock (the suite's FixedClock)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import Partnership
from cspr_engine.alerts.models import Delivery, OutboxEvent
from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler import jobs
from tests.conftest import NOW
from tests.factories import Api
from tests.information_requests.helpers import INCIDENT, ask, in_rapid_review
from tests.metrics.helpers import lag, scrape, value

# Referred on Wednesday 10 June 2026: the Panel is to be notified within 5 working days, by
# Wednesday 17 June (23:59:59 in London, 22:59:59 UTC). The warning rung falls 2 working days
# earlier, at the end of Monday 15 June: 22:59:59 UTC.
WARNING_DUE = datetime(2026, 6, 15, 22, 59, 59, tzinfo=UTC)
# The suite's now (Wednesday 17 June, 09:00 UTC) is 1 day 10 h 0 min 1 s after the warning.
LAG_AT_NOW = 86_400 + 10 * 3600 + 1


def test_the_sweep_lag_grows_while_the_scheduler_is_stopped_and_drops_once_it_sweeps(
    api: Api, client: TestClient, clock: FixedClock
) -> None:
    # The suite runs no scheduler (CSPR_SCHEDULER_ENABLED=false): nothing sweeps but the test.
    case = api.create_case(became_aware_on="2026-06-10")
    clocks = client.get(f"/api/v1/cases/{case['id']}/deadlines", headers=api.headers("chair"))
    notification = next(d for d in clocks.json()["items"] if d["key"] == "panel_notification")
    assert notification["next_alert_at"] == "2026-06-15T22:59:59Z"

    assert lag(scrape(client)) == LAG_AT_NOW == (NOW - WARNING_DUE).total_seconds()
    clock.set(NOW + timedelta(minutes=10))
    assert lag(scrape(client)) == LAG_AT_NOW + 600

    assert jobs.sweep_deadlines(clock) == 1  # the warning fires
    # Its next rung, the breach, is due tonight at 22:59:59 UTC: nothing is due now.
    assert lag(scrape(client)) == 0
    clock.set(datetime(2026, 6, 17, 23, 0, 0, tzinfo=UTC))
    assert lag(scrape(client)) == 1  # the breach rung, one second overdue


def test_clocks_open_by_status_and_kind_and_the_breaches_open_or_closed(
    api: Api, client: TestClient, clock: FixedClock
) -> None:
    api.create_case(became_aware_on="2026-06-10")  # its notification is due on 17 June
    # Aware on 1 June: the notification was due on 8 June; the clock is breached from the start.
    late = api.create_case(became_aware_on="2026-06-01", incident=INCIDENT)
    # In rapid review (notified on time) with an information request to the police (a local
    # clock, due in 5 working days).
    asked = in_rapid_review(api)
    assert ask(api, asked).status_code == 201

    def figures() -> dict[str, float]:
        samples = scrape(client)
        return {
            **{
                f"{status} {kind}": value(samples, "cspr_clocks_open", status=status, kind=kind)
                for status in ("pending", "breached")
                for kind in ("statutory", "local")
            },
            "breaches": value(samples, "cspr_clocks_breached", kind="statutory"),
            "local breaches": value(samples, "cspr_clocks_breached", kind="local"),
        }

    assert figures() == {
        # The first case's notification and the three cases' rapid reviews (the third case's
        # notification is met).
        "pending statutory": 4,
        "breached statutory": 1,  # the late case's notification
        "pending local": 1,
        "breached local": 0,
        "breaches": 1,
        "local breaches": 0,
    }
    # The Panel is notified of the late case on 12 June: met late, closed, still a breach.
    api.ok(late["id"], "notify_panel", {"notified_on": "2026-06-12"})
    assert figures() == {
        "pending statutory": 4,
        "breached statutory": 0,
        "pending local": 1,
        "breached local": 0,
        "breaches": 1,
        "local breaches": 0,
    }
    # A day later, with no sweep: the first case's notification (due 17 June) is breached
    # as the API shows it, before any sweep has marked it so.
    clock.set(datetime(2026, 6, 18, 9, 0, tzinfo=UTC))
    assert figures() == {
        "pending statutory": 3,
        "breached statutory": 1,
        "pending local": 1,
        "breached local": 0,
        "breaches": 2,
        "local breaches": 0,
    }
    # The information request was due on 24 June: on 25 June it is breached too.
    clock.set(datetime(2026, 6, 25, 9, 0, tzinfo=UTC))
    local = figures()
    assert (local["pending local"], local["breached local"], local["local breaches"]) == (0, 1, 1)
    # A sweep marks what was due; the figures stay what they were.
    jobs.sweep_deadlines(clock)
    assert figures() == local


def _partnership_id() -> uuid.UUID:
    with Session(get_engine()) as session:
        found = session.exec(select(Partnership).where(col(Partnership.code) == "TW")).one()
        return found.id


def test_the_outbox_backlog_retries_dead_letters_and_oldest_wait(
    api: Api, client: TestClient
) -> None:
    event = OutboxEvent(
        dedupe_key="metrics-test",
        type="deadline.warning",
        partnership_id=_partnership_id(),
        payload={},
        occurred_at=NOW - timedelta(hours=3),
    )
    rows = [
        # channel, status, attempts, waiting since
        ("webhook", "pending", 0, timedelta(minutes=30)),
        ("webhook", "pending", 2, timedelta(hours=2)),
        ("email", "pending", 0, timedelta(minutes=5)),
        ("email", "pending", 1, timedelta(minutes=50)),
        ("webhook", "dead", 8, timedelta(hours=3)),
        ("email", "dead", 8, timedelta(hours=3)),
        ("email", "dead", 8, timedelta(hours=3)),
        ("webhook", "delivered", 1, timedelta(hours=3)),
    ]
    with Session(get_engine()) as session:
        session.add(event)
        session.flush()
        for i, (channel, status, attempts, age) in enumerate(rows):
            session.add(
                Delivery(
                    event_id=event.id,
                    channel=channel,
                    target=f"target-{i}",
                    status=status,
                    attempts=attempts,
                    next_attempt_at=NOW,
                    created_at=NOW - age,
                )
            )
        session.commit()
    samples = scrape(client)
    assert value(samples, "cspr_outbox_backlog", channel="webhook") == 2
    assert value(samples, "cspr_outbox_backlog", channel="email") == 2
    assert value(samples, "cspr_outbox_retrying", channel="webhook") == 1
    assert value(samples, "cspr_outbox_retrying", channel="email") == 1
    assert value(samples, "cspr_outbox_dead_letters", channel="webhook") == 1
    assert value(samples, "cspr_outbox_dead_letters", channel="email") == 2
    # The oldest delivery still waiting has waited 2 hours (the dead and delivered are done).
    assert value(samples, "cspr_outbox_oldest_pending_seconds") == 7200


def test_a_scrape_stays_fast_with_thousands_of_clocks_and_deliveries(
    api: Api, client: TestClient
) -> None:
    cases = [api.create_case(became_aware_on="2026-06-10") for _ in range(4)]
    case_ids = {c["id"]: uuid.UUID(c["id"]) for c in cases}
    partnership = _partnership_id()
    overdue = NOW - timedelta(days=3)
    clocks = [
        {
            "id": uuid.uuid4(),
            "case_id": list(case_ids.values())[i % 4],
            "partnership_id": partnership,
            "key": "rapid_review",
            "sequence": 100 + i,
            "kind": "statutory",
            # A third breached (marked), a third pending past due (not yet swept), a third met.
            "status": ("breached", "pending", "met")[i % 3],
            "starts_on": (NOW - timedelta(days=30)).date(),
            "due_on": overdue.date(),
            "due_at": overdue,
            "breached_at": overdue if i % 3 == 0 else None,
            "next_rung_at": overdue - timedelta(seconds=i) if i % 3 != 2 else None,
            "calendar_version": "test",
            "created_at": NOW,
            "updated_at": NOW,
        }
        for i in range(6000)
    ]
    with Session(get_engine()) as session:
        session.execute(insert(Deadline), clocks)
        event = OutboxEvent(
            dedupe_key="bulk",
            type="deadline.breached",
            partnership_id=partnership,
            payload={},
            occurred_at=NOW,
        )
        session.add(event)
        session.flush()
        deliveries = [
            {
                "id": uuid.uuid4(),
                "event_id": event.id,
                "channel": "email",
                "target": f"user{i}@tw.example",
                "status": ("delivered", "delivered", "pending", "dead")[i % 4],
                "attempts": 1,
                "next_attempt_at": NOW,
                "created_at": NOW - timedelta(seconds=i),
            }
            for i in range(6000)
        ]
        session.execute(insert(Delivery), deliveries)
        session.commit()

    started = time.perf_counter()
    samples = scrape(client)
    elapsed = time.perf_counter() - started
    # 2,000 marked breached + 2,000 pending past due; the four cases' own clocks are pending
    # (notification due tonight, rapid review on 1 July): 8 statutory clocks.
    assert value(samples, "cspr_clocks_open", status="breached", kind="statutory") == 4000
    assert value(samples, "cspr_clocks_open", status="pending", kind="statutory") == 8
    assert value(samples, "cspr_clocks_breached", kind="statutory") == 4000
    # The oldest rung due: row 5,998 (i % 3 == 1), 5,998 seconds before the overdue instant.
    assert value(samples, "cspr_sweep_lag_seconds") == 3 * 86_400 + 5998
    assert value(samples, "cspr_outbox_backlog", channel="email") == 1500
    assert value(samples, "cspr_outbox_dead_letters", channel="email") == 1500
    # The oldest pending: i = 5,998 (i % 4 == 2).
    assert value(samples, "cspr_outbox_oldest_pending_seconds") == 5998
    database = value(samples, "cspr_metrics_database_seconds")
    assert database < 0.5, f"the scrape's queries took {database:.3f}s"
    assert elapsed < 2, f"the scrape took {elapsed:.3f}s"
