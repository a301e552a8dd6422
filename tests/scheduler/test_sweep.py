"""The sweep walks each clock up its escalation ladder (cspr-workflow.md): a warning 2 working
days before the due date, the breach at the due instant, the escalation 5 working days after,
each at 23:59:59 in England, each once per due date, only the latest rung already due for a
clock found late, nothing for a clock that is met or cancelled."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from cspr_engine.alerts.models import AlertRecipient, OutboxEvent
from cspr_engine.db import get_engine, writer_bind
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.calendar import get_calendar
from cspr_engine.deadlines.models import Deadline
from cspr_engine.kit.clock import LONDON, FixedClock
from cspr_engine.scheduler import jobs
from tests.factories import Api, referral

CLOCK = "panel_notification"
# Wednesday 26 August 2026: the summer bank holiday (Monday 31 August) falls inside the
# five working days of the panel_notification clock.
AWARE = date(2026, 8, 26)
BANK_HOLIDAY = date(2026, 8, 31)
PAYLOAD_KEYS = {"id", "type", "occurred_at", "partnership", "case_id", "case_reference", "data"}
DATA_KEYS = {
    "clock",
    "label",
    "rule",
    "basis",
    "statutory",
    "kind",
    "rung",
    "due_on",
    "due_at",
    "status",
    "working_days_overdue",
    "recipients",
}
# What the referral says about the child and the incident: none of it may leave in an alert.
CHILD_KEYS = {"summary", "child", "incident", "age_years", "sex", "legal_status", "categories"}
CHILD_VALUES = (
    referral()["summary"],
    "cp_plan",
    "female",
    "physical_abuse",
    "serious_harm",
    "suspected",
    referral()["partner_reference"],
)


def keys_of(value: Any) -> set[str]:
    """Every key, at any depth, of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def assert_no_child_data(payload: dict[str, Any]) -> None:
    assert not keys_of(payload) & CHILD_KEYS, payload
    text = json.dumps(payload)
    for value in CHILD_VALUES:
        assert value not in text, f"{value!r} leaked into {payload['type']}"


def end_of_day(day: date) -> datetime:
    """23:59:59 in England on `day`, in UTC (worked out here, not by the code under test)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)


def refer_on(api: Api, clock: FixedClock, day: date, partnership: str = "TW") -> dict[str, Any]:
    """A referral made on the day the partnership became aware (on time)."""
    clock.set(datetime.combine(day, time(10, 0), tzinfo=LONDON))
    return refer(api, day, partnership)


def refer(api: Api, aware: date, partnership: str = "TW") -> dict[str, Any]:
    incident = {**referral()["incident"], "occurred_on": (aware - timedelta(days=2)).isoformat()}
    return api.create_case(
        who="chair", partnership=partnership, became_aware_on=aware.isoformat(), incident=incident
    )


def deadline_events(case_id: str, clock_key: str | None = CLOCK) -> list[OutboxEvent]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(OutboxEvent)
            .where(col(OutboxEvent.case_id) == uuid.UUID(case_id))
            .where(col(OutboxEvent.type).startswith("deadline."))
            .order_by(col(OutboxEvent.occurred_at), col(OutboxEvent.type))
        ).all()
    return [e for e in rows if clock_key is None or e.payload["data"]["clock"] == clock_key]


def ids(events: list[OutboxEvent]) -> list[uuid.UUID]:
    return [e.id for e in events]


def recipients_of(event: OutboxEvent) -> set[tuple[str, uuid.UUID]]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(AlertRecipient).where(col(AlertRecipient.event_id) == event.id)
        ).all()
    return {(r.role, r.partnership_id) for r in rows}


def deadline_row(case_id: str, key: str = CLOCK) -> Deadline:
    with Session(get_engine()) as session:
        row = session.exec(
            select(Deadline)
            .where(col(Deadline.case_id) == uuid.UUID(case_id), col(Deadline.key) == key)
            .order_by(col(Deadline.sequence).desc())
        ).first()
    assert row is not None
    return row


def shown(api: Api, case_id: str, key: str = CLOCK) -> dict[str, Any]:
    response = api.client.get(f"/api/v1/cases/{case_id}/deadlines", headers=api.headers("chair"))
    assert response.status_code == 200, response.text
    found = [d for d in response.json()["items"] if d["key"] == key]
    assert found, response.json()
    return dict(found[-1])


def sweep(clock: FixedClock) -> int:
    return jobs.sweep_deadlines(clock)


def sweep_once(now: datetime, limit: int) -> deadline_service.SweepResult:
    with Session(writer_bind(get_engine())) as session:
        result = deadline_service.sweep(session, now=now, limit=limit)
        session.commit()
    return result


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_each_rung_fires_once_at_the_end_of_its_day(api: Api, clock: FixedClock) -> None:
    calendar = get_calendar()
    assert calendar.holiday(BANK_HOLIDAY) == "Summer bank holiday"
    due_on = calendar.add_working_days(AWARE, 5)
    # Counted with the bank holiday skipped: Thursday 3 September, not Wednesday 2.
    assert due_on == date(2026, 9, 3)
    warning_on = calendar.subtract_working_days(due_on, 2)
    escalation_on = calendar.add_working_days(due_on, 5)
    assert (warning_on, escalation_on) == (date(2026, 9, 1), date(2026, 9, 10))
    assert AWARE < BANK_HOLIDAY < warning_on

    case = refer_on(api, clock, AWARE)
    case_id = case["id"]
    tw = deadline_row(case_id).partnership_id
    started = shown(api, case_id)
    assert started["due_on"] == due_on.isoformat()
    assert started["due_at"] == iso(end_of_day(due_on))
    assert started["status"] == "pending"
    assert started["next_alert_at"] == iso(end_of_day(warning_on))

    ladder = [
        # event, day of the rung, roles it goes to, clock status after it, next alert after it
        ("deadline.warning", warning_on, {"panel_chair", "business_unit"}, "pending", due_on),
        (
            "deadline.breached",
            due_on,
            {"dsp", "panel_chair", "business_unit"},
            "breached",
            escalation_on,
        ),
        ("deadline.escalated", escalation_on, {"lsp"}, "breached", None),
    ]
    fired: list[OutboxEvent] = []
    for n, (event_type, day, roles, status_after, next_day) in enumerate(ladder):
        instant = end_of_day(day)
        assert instant.time() == time(22, 59, 59)  # British Summer Time

        clock.set(instant - timedelta(seconds=1))
        assert sweep(clock) == 0, f"{event_type} fired before its instant"
        assert ids(deadline_events(case_id)) == ids(fired)
        if event_type == "deadline.breached":
            # Not yet past the due instant: still pending, as stored and as shown.
            assert shown(api, case_id)["status"] == "pending"
            assert deadline_row(case_id).status == "pending"

        clock.set(instant)
        assert sweep(clock) == 1, f"{event_type} did not fire at {instant}"
        events = deadline_events(case_id)
        assert [e.type for e in events] == [e.type for e in fired] + [event_type]
        event = events[-1]
        fired.append(event)

        # The ladder's recipients, in the case's own partnership only.
        assert recipients_of(event) == {(role, tw) for role in roles}
        payload = event.payload
        assert set(payload) == PAYLOAD_KEYS
        assert payload["id"] == str(event.id)
        assert payload["type"] == event_type
        assert payload["occurred_at"] == iso(instant)
        assert (payload["partnership"], payload["case_id"]) == ("TW", case_id)
        assert payload["case_reference"] == case["reference"]
        data = payload["data"]
        assert set(data) == DATA_KEYS
        assert data["clock"] == CLOCK
        assert data["rung"] == ["warning", "breach", "escalation"][n]
        assert data["recipients"] == sorted(roles)
        assert data["due_on"] == due_on.isoformat()
        assert data["due_at"] == iso(end_of_day(due_on))
        assert data["status"] == status_after
        assert data["statutory"] is True
        assert data["working_days_overdue"] == [0, 0, 5][n]
        assert_no_child_data(payload)

        # Sweeping again, at once or later that night, fires nothing more.
        assert sweep(clock) == 0
        clock.set(instant + timedelta(minutes=59))
        assert sweep(clock) == 0
        assert ids(deadline_events(case_id)) == ids(fired)

        row = deadline_row(case_id)
        assert row.status == status_after
        assert row.rungs_fired == n + 1
        now_shown = shown(api, case_id)
        assert now_shown["status"] == status_after
        expected_next = iso(end_of_day(next_day)) if next_day is not None else None
        assert now_shown["next_alert_at"] == expected_next
        if status_after == "breached":
            assert now_shown["breached_at"] == iso(end_of_day(due_on))

    # The ladder is done: three days later nothing is due on this clock any more.
    clock.set(end_of_day(escalation_on) + timedelta(days=3))
    assert sweep(clock) == 0
    assert ids(deadline_events(case_id)) == ids(fired)
    assert deadline_row(case_id).next_rung_at is None


def test_a_late_referral_fires_only_the_latest_rung_already_due(
    api: Api, clock: FixedClock
) -> None:
    # Now is Wednesday 17 June 2026; the partnership became aware three weeks ago.
    aware = date(2026, 5, 27)
    calendar = get_calendar()
    notification_due = calendar.add_working_days(aware, 5)
    review_due = calendar.add_working_days(aware, 15)
    assert notification_due == date(2026, 6, 3)
    assert calendar.add_working_days(notification_due, 5) == date(2026, 6, 10)  # escalation
    # The rapid review is due today: its warning (Monday 15th) has passed, its breach not yet.
    assert review_due == date(2026, 6, 17)

    case = refer(api, aware)
    case_id = case["id"]
    assert shown(api, case_id)["status"] == "breached"  # born breached
    assert shown(api, case_id, "rapid_review")["status"] == "pending"

    assert sweep(clock) == 2
    notification = deadline_events(case_id)
    review = deadline_events(case_id, "rapid_review")
    assert [e.type for e in notification] == ["deadline.escalated"]
    assert notification[0].payload["data"]["recipients"] == ["lsp"]
    assert notification[0].payload["data"]["working_days_overdue"] == 10
    assert [e.type for e in review] == ["deadline.warning"]
    assert review[0].payload["data"]["due_on"] == "2026-06-17"
    assert deadline_row(case_id).rungs_fired == 3
    assert deadline_row(case_id).next_rung_at is None

    assert sweep(clock) == 0
    # Tonight the rapid review is missed: its breach fires, the notification clock stays quiet.
    clock.set(end_of_day(review_due))
    assert sweep(clock) == 1
    assert [e.type for e in deadline_events(case_id)] == ["deadline.escalated"]
    assert [e.type for e in deadline_events(case_id, "rapid_review")] == [
        "deadline.warning",
        "deadline.breached",
    ]


def test_a_clock_met_before_its_warning_fires_nothing(api: Api, clock: FixedClock) -> None:
    early = refer_on(api, clock, AWARE)["id"]
    between = refer(api, AWARE)["id"]
    # One is notified the next day, before any rung.
    clock.set(datetime(2026, 8, 27, 11, 0, tzinfo=LONDON))
    api.ok(early, "notify_panel", {"notified_on": "2026-08-27"}, who="business")
    assert deadline_row(early).status == "met"
    assert deadline_row(early).next_rung_at is None

    # The other after its warning, before its due date: the warning fires, nothing after it.
    clock.set(end_of_day(date(2026, 9, 1)))
    assert sweep(clock) == 1
    assert deadline_events(early) == []
    assert [e.type for e in deadline_events(between)] == ["deadline.warning"]
    clock.set(datetime(2026, 9, 2, 9, 0, tzinfo=LONDON))
    api.ok(between, "notify_panel", {"notified_on": "2026-09-02"}, who="business")
    assert deadline_row(between).status == "met"

    # Past every rung of the notification clock (and before the rapid review's warning, on
    # 15 September): no notification clock is even looked at.
    clock.set(end_of_day(date(2026, 9, 10)) + timedelta(hours=1))
    assert sweep_once(clock.now(), limit=500) == deadline_service.SweepResult(0, 0)
    assert deadline_events(early) == []
    assert [e.type for e in deadline_events(between)] == ["deadline.warning"]
    assert shown(api, early)["status"] == "met"


def test_an_extension_moves_the_due_date_and_the_ladder_starts_again(
    api: Api, clock: FixedClock
) -> None:
    case_id = refer_on(api, clock, AWARE)["id"]
    clock.set(end_of_day(date(2026, 9, 1)))
    assert sweep(clock) == 1
    clock.set(end_of_day(date(2026, 9, 3)))
    assert sweep(clock) == 1
    first = deadline_events(case_id)
    assert [e.type for e in first] == ["deadline.warning", "deadline.breached"]

    # The chair extends the breached clock to Friday 11 September.
    clock.set(datetime(2026, 9, 4, 10, 0, tzinfo=LONDON))
    response = api.client.post(
        f"/api/v1/cases/{case_id}/deadlines/{CLOCK}/extensions",
        json={"new_due_on": "2026-09-11", "reason": "The Panel agreed more time"},
        headers=api.headers("chair"),
    )
    assert response.status_code == 201, response.text
    extended = response.json()
    assert extended["due_on"] == "2026-09-11"
    assert extended["status"] == "pending"
    assert extended["breached_at"] is None
    # Two working days before Friday 11th: Wednesday 9th.
    assert extended["next_alert_at"] == iso(end_of_day(date(2026, 9, 9)))
    assert sweep(clock) == 0

    clock.set(end_of_day(date(2026, 9, 9)) - timedelta(seconds=1))
    sweep(clock)
    assert ids(deadline_events(case_id)) == ids(first)
    clock.set(end_of_day(date(2026, 9, 9)))
    sweep(clock)
    clock.set(end_of_day(date(2026, 9, 11)))
    sweep(clock)
    assert sweep(clock) == 0
    events = deadline_events(case_id)
    assert [e.type for e in events] == [
        "deadline.warning",
        "deadline.breached",
        "deadline.warning",
        "deadline.breached",
    ]
    assert [e.payload["data"]["due_on"] for e in events] == [
        "2026-09-03",
        "2026-09-03",
        "2026-09-11",
        "2026-09-11",
    ]
    deadline_id = deadline_row(case_id).id
    assert [e.dedupe_key for e in events] == [
        f"deadline:{deadline_id}:warning:2026-09-03",
        f"deadline:{deadline_id}:breach:2026-09-03",
        f"deadline:{deadline_id}:warning:2026-09-11",
        f"deadline:{deadline_id}:breach:2026-09-11",
    ]
    assert len({e.id for e in events}) == 4
    assert deadline_row(case_id).status == "breached"

    # The first due date's escalation (10 September) never fires; the new one's (18th) does.
    clock.set(end_of_day(date(2026, 9, 18)))
    sweep(clock)
    assert sweep(clock) == 0
    events = deadline_events(case_id)
    assert [e.type for e in events][4:] == ["deadline.escalated"]
    assert events[4].payload["data"]["due_on"] == "2026-09-11"
    assert events[4].occurred_at == end_of_day(date(2026, 9, 18))


def test_cancelled_clocks_fire_nothing(api: Api, clock: FixedClock) -> None:
    live = refer_on(api, clock, AWARE)["id"]
    closed = refer(api, AWARE)["id"]
    clock.set(datetime(2026, 8, 27, 11, 0, tzinfo=LONDON))
    api.ok(
        closed,
        "decide_not_notifiable",
        {"rationale": "Criteria not met.", "alternative_learning": "single_agency_review"},
        who="chair",
    )
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Deadline).where(col(Deadline.case_id) == uuid.UUID(closed))
        ).all()
    assert {(r.key, r.status, r.next_rung_at) for r in rows} == {
        (CLOCK, "cancelled", None),
        ("rapid_review", "cancelled", None),
    }

    # On the warning night only the live case's notification clock is examined.
    clock.set(end_of_day(date(2026, 9, 1)))
    assert sweep_once(clock.now(), limit=500) == deadline_service.SweepResult(1, 1)
    # Long after every rung of both clocks: the live case has its ladders, the closed none.
    clock.set(datetime(2026, 10, 30, 12, 0, tzinfo=UTC))
    assert sweep(clock) == 2  # the notification escalation and the rapid review escalation
    assert deadline_events(closed, None) == []
    assert [e.type for e in deadline_events(live, None)] == [
        "deadline.warning",
        "deadline.escalated",
        "deadline.escalated",
    ]


def test_the_sweep_examines_only_the_clocks_with_a_rung_due(api: Api, clock: FixedClock) -> None:
    # Three cases a day apart (Wed 26, Thu 27, Fri 28 August): six clocks running.
    first = refer_on(api, clock, AWARE)["id"]
    second = refer_on(api, clock, AWARE + timedelta(days=1))["id"]
    third = refer_on(api, clock, AWARE + timedelta(days=2))["id"]
    with Session(get_engine()) as session:
        assert len(session.exec(select(Deadline)).all()) == 6

    # Tuesday 1 September, end of day: only the first case's warning is due.
    assert sweep_once(end_of_day(date(2026, 9, 1)) - timedelta(seconds=1), 500) == (
        deadline_service.SweepResult(0, 0)
    )
    assert sweep_once(end_of_day(date(2026, 9, 1)), 500) == deadline_service.SweepResult(1, 1)

    # Thursday 3 September, end of day: the first case's breach (due 3rd), the second's warning
    # (due 4th) and the third's warning (due 7th) are due; a batch of two leaves the third.
    night = end_of_day(date(2026, 9, 3))
    assert sweep_once(night, limit=2) == deadline_service.SweepResult(2, 2)
    assert sweep_once(night, limit=2) == deadline_service.SweepResult(1, 1)
    assert sweep_once(night, limit=2) == deadline_service.SweepResult(0, 0)
    assert [e.type for e in deadline_events(first)] == ["deadline.warning", "deadline.breached"]
    assert [e.type for e in deadline_events(second)] == ["deadline.warning"]
    assert [e.type for e in deadline_events(third)] == ["deadline.warning"]
    assert deadline_events(first, "rapid_review") == []
