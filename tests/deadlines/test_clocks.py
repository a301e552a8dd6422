"""The clocks of a case, over HTTP, with the frozen clock moved to each step's own date.

What is asserted is the `deadlines[]` the API shows (the case resource and
GET /cases/{id}/deadlines, which must agree): when each clock starts, from which date, its due
date and instant (23:59:59 in London, written in UTC: 22:59:59Z in summer, 23:59:59Z in
winter), how it stops (met, met_late), is extended or cancelled, and the case list filters
that rest on them. Dates and rules: cspr-workflow.md "Clocks (deadlines) and their keys",
statutory-process.md §4-§5; the worked vectors are §5 item 6.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cspr_engine.config import get_settings
from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler.jobs import sweep_deadlines
from tests.factories import Api, Directory, assert_problem, clock_tables, snapshot

LONDON = ZoneInfo("Europe/London")
NOW = "2026-06-17T09:00:00Z"  # the suite's frozen clock, as the API writes it
CALENDAR = "govuk-snapshot-2026-02+holidays-"  # how every calendar_version starts
DSPS = ("dsp_la", "dsp_police", "dsp_health")


def at(day: str, hour: int = 12) -> datetime:
    """`hour` o'clock in London on `day`."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=LONDON)


def utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- driving a case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """The dates of one case's way to its final report (each step recorded on its own date)."""

    aware: str
    notified: str
    completed: str
    votes: tuple[str, str, str]  # dsp_la, dsp_police, dsp_health
    submitted: str
    response: str
    commissioned: str  # the day commission_lcspr is recorded (terms agreed the day before)
    final_report: str


# Agreement on Sunday 31 August 2025 (the police DSP's, the latest of the three): the LCSPR is
# due six calendar months later, clamped to the end of February.
T2025 = Timeline(
    aware="2025-08-15",
    notified="2025-08-20",
    completed="2025-08-27",
    votes=("2025-08-28", "2025-08-31", "2025-08-29"),
    submitted="2025-09-01",
    response="2025-09-15",
    commissioned="2025-10-03",
    final_report="2026-04-28",
)
# Aware on the coronation vector (Thursday 4 May 2023); the report comes in before the
# pre-publication vector (publication Monday 8 April 2024, notice due Tuesday 26 March 2024).
T2023 = Timeline(
    aware="2023-05-04",
    notified="2023-05-10",
    completed="2023-05-22",
    votes=("2023-05-23", "2023-05-24", "2023-05-24"),
    submitted="2023-05-25",
    response="2023-06-20",
    commissioned="2023-07-03",
    final_report="2023-11-20",
)


class Story:
    """One case of partnership TW, each step fired by the role the workflow names, the clock
    set to noon in London on the step's date (`on`, else the step's own date)."""

    def __init__(
        self,
        api: Api,
        clock: FixedClock,
        aware: str,
        *,
        created: datetime | None = None,
        partnership: str = "TW",
    ) -> None:
        self.api, self.clock, self.partnership = api, clock, partnership
        clock.set(created or at(aware))
        self.case = api.create_case(
            who="referrer",
            partnership=partnership,
            became_aware_on=aware,
            incident={
                "occurred_on": aware,
                "outcome": "serious_harm",
                "abuse_or_neglect": "suspected",
                "categories": ["physical_abuse"],
            },
        )
        self.id: str = self.case["id"]

    def fire(self, trigger: str, who: str, on: str | None, **data: Any) -> dict[str, Any]:
        if on is not None:
            self.clock.set(at(on))
        return self.api.ok(self.id, trigger, data, who=who)

    # the steps

    def notify(self, notified_on: str, on: str | None = None) -> dict[str, Any]:
        return self.fire(
            "notify_panel",
            "business",
            on or notified_on,
            notified_on=notified_on,
            panel_reference="CSPRP-0456",
            partners_informed_on=notified_on,
        )

    def complete(self, completed_on: str, recommendation: str = "lcspr") -> dict[str, Any]:
        return self.fire(
            "complete_rapid_review",
            "chair",
            completed_on,
            completed_on=completed_on,
            recommendation=recommendation,
            criteria=["a", "c"] if recommendation == "lcspr" else [],
            rationale="Criteria met.",
        )

    def agree(self, *days: str) -> dict[str, Any]:
        """The three DSPs agree, on `days` (recorded on the latest of them)."""
        self.clock.set(at(max(days)))
        gate: dict[str, Any] = {}
        for who, day in zip(DSPS, days, strict=True):
            response = self.api.vote(self.id, who, "agree", decided_on=day)
            assert response.status_code == 200, response.text
            gate = response.json()
        assert gate["status"] == "agreed", gate
        return gate

    def submit(self, submitted_on: str, on: str | None = None) -> dict[str, Any]:
        return self.fire(
            "submit_rapid_review", "business", on or submitted_on, submitted_on=submitted_on
        )

    def respond(self, received_on: str, outcome: str) -> dict[str, Any]:
        return self.fire(
            "record_panel_response",
            "business",
            received_on,
            received_on=received_on,
            outcome=outcome,
        )

    def commission(self, on: str) -> dict[str, Any]:
        return self.fire(
            "commission_lcspr",
            "chair",
            on,
            reviewer="A. Reviewer",
            methodology="Systems approach",
            terms_of_reference_agreed_on=self.case["became_aware_on"],
            scope_from="2022-01-01",
            scope_to=self.case["became_aware_on"],
        )

    def final_report(self, received_on: str, on: str | None = None) -> dict[str, Any]:
        return self.fire(
            "receive_final_report",
            "business",
            on or received_on,
            received_on=received_on,
            recommendations="Five recommendations.",
        )

    def to_panel_response(self, t: Timeline, outcome: str) -> dict[str, Any]:
        self.notify(t.notified)
        self.complete(t.completed, "lcspr" if outcome == "agrees_lcspr" else "no_lcspr")
        self.agree(*t.votes)
        self.submit(t.submitted)
        return self.respond(t.response, outcome)

    def to_lcspr_in_progress(self, t: Timeline) -> dict[str, Any]:
        self.to_panel_response(t, "agrees_lcspr")
        return self.commission(t.commissioned)

    def to_final_report(self, t: Timeline) -> dict[str, Any]:
        self.to_lcspr_in_progress(t)
        return self.final_report(t.final_report)

    # reading

    def clocks(self) -> list[dict[str, Any]]:
        """GET /deadlines, which must equal the case resource's `deadlines`."""
        response = self.api.client.get(
            f"/api/v1/cases/{self.id}/deadlines",
            headers=self.api.headers("superuser", self.partnership),
        )
        assert response.status_code == 200, response.text
        listed = response.json()
        assert listed["next_cursor"] is None  # every clock on one page
        clocks: list[dict[str, Any]] = listed["items"]
        case = self.api.client.get(
            f"/api/v1/cases/{self.id}", headers=self.api.headers("superuser", self.partnership)
        )
        assert case.status_code == 200, case.text
        assert case.json()["deadlines"] == clocks
        return clocks

    def clock_of(self, key: str, sequence: int | None = None) -> dict[str, Any]:
        found = [
            c
            for c in self.clocks()
            if c["key"] == key and (sequence is None or c["sequence"] == sequence)
        ]
        assert len(found) == 1, (key, sequence, found)
        return found[0]

    def keys(self) -> list[tuple[str, int, str]]:
        return [(c["key"], c["sequence"], c["status"]) for c in self.clocks()]


def assert_clock(found: dict[str, Any], **expected: Any) -> None:
    """`found` has the `expected` members, and everything every clock must carry."""
    assert {k: found[k] for k in expected} == expected, found
    assert found["basis"], found
    assert found["label"], found
    assert found["rule"], found
    assert found["calendar_version"].startswith(CALENDAR), found
    assert found["statutory"] == (found["kind"] == "statutory"), found
    open_ = found["status"] in ("pending", "breached")
    assert (found["working_days_left"] is not None) == open_, found
    assert (found["cancelled_at"] is not None) == (found["status"] == "cancelled"), found
    assert (found["met_on"] is not None) == (found["status"] in ("met", "met_late")), found


@pytest.fixture
def start_options() -> Iterator[Callable[[dict[str, str]], None]]:
    """Set CSPR_CLOCK_START_OPTIONS for this test; the environment and settings are restored."""
    name = "CSPR_CLOCK_START_OPTIONS"
    saved = os.environ.get(name)

    def configure(options: dict[str, str]) -> None:
        os.environ[name] = json.dumps(options)
        get_settings.cache_clear()

    yield configure
    if saved is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = saved
    get_settings.cache_clear()


# -- panel_notification and rapid_review: from the awareness date -----------------------------

# aware, +5 WD, its due instant, +15 WD, its due instant (statutory-process.md §5 item 6 and
# the one-off holidays of §10).
VECTORS = [
    pytest.param(
        "2023-05-04",
        "2023-05-12",
        "2023-05-12T22:59:59Z",
        "2023-05-26",
        "2023-05-26T22:59:59Z",
        id="coronation-bh-skipped",
    ),
    pytest.param(
        "2022-05-27",
        "2022-06-07",
        "2022-06-07T22:59:59Z",
        "2022-06-21",
        "2022-06-21T22:59:59Z",
        id="platinum-jubilee-moved-spring-bh",
    ),
    pytest.param(
        "2022-09-14",
        "2022-09-22",
        "2022-09-22T22:59:59Z",
        "2022-10-06",
        "2022-10-06T22:59:59Z",
        id="state-funeral",
    ),
    pytest.param(
        "2022-12-23",
        "2023-01-04",
        "2023-01-04T23:59:59Z",
        "2023-01-18",
        "2023-01-18T23:59:59Z",
        id="christmas-substitute-days",
    ),
    pytest.param(
        "2024-03-27",
        "2024-04-05",
        "2024-04-05T22:59:59Z",
        "2024-04-19",
        "2024-04-19T22:59:59Z",
        id="easter-across-bst-start",
    ),
    pytest.param(
        "2025-12-24",
        "2026-01-05",
        "2026-01-05T23:59:59Z",
        "2026-01-19",
        "2026-01-19T23:59:59Z",
        id="christmas-2025",
    ),
    pytest.param(
        "2023-12-23",
        "2024-01-03",
        "2024-01-03T23:59:59Z",
        "2024-01-17",
        "2024-01-17T23:59:59Z",
        id="saturday-start",
    ),
]


@pytest.mark.parametrize(("aware", "pn_due", "pn_at", "rr_due", "rr_at"), VECTORS)
def test_a_late_referral_starts_both_clocks_from_awareness_already_breached(
    api: Api, clock: FixedClock, aware: str, pn_due: str, pn_at: str, rr_due: str, rr_at: str
) -> None:
    # Referred on the suite's "now", long after both clocks fell due.
    story = Story(api, clock, aware, created=clock.now())
    assert story.case["deadlines"] == story.clocks()
    assert [c["key"] for c in story.case["deadlines"]] == ["panel_notification", "rapid_review"]
    common = {
        "status": "breached",
        "kind": "statutory",
        "statutory": True,
        "sequence": 1,
        "starts_on": aware,
        "anchor_on": None,
        "met_on": None,
        "met_at": None,
        "cancelled_at": None,
        "extensions": [],
    }
    notification = story.clock_of("panel_notification")
    assert_clock(
        notification,
        **common,
        rule="D1, D2",
        start_option=None,
        due_on=pn_due,
        due_at=pn_at,
        breached_at=pn_at,
    )
    review = story.clock_of("rapid_review")
    assert_clock(
        review,
        **common,
        rule="D5",
        start_option="became_aware_on",
        due_on=rr_due,
        due_at=rr_at,
        breached_at=rr_at,
    )
    assert notification["working_days_left"] < review["working_days_left"] < 0
    assert notification["calendar_version"] == review["calendar_version"]
    assert "+added" not in notification["calendar_version"]


@pytest.mark.parametrize(
    ("due", "last_pending_instant", "first_breached_instant", "days_left_after"),
    [
        # Winter: the end of Monday 5 January 2026 in London is 23:59:59 UTC; Tuesday 6th is
        # one working day past it.
        ("2026-01-05", "2026-01-05T23:59:59+00:00", "2026-01-06T00:00:00+00:00", -1),
        # Summer: the end of Friday 12 May 2023 in London is 22:59:59 UTC; Saturday 13th is
        # no working day past it.
        ("2023-05-12", "2023-05-12T22:59:59+00:00", "2023-05-12T23:00:00+00:00", 0),
    ],
    ids=["gmt", "bst"],
)
def test_a_clock_is_pending_until_the_end_of_its_due_day_in_london(
    api: Api,
    clock: FixedClock,
    due: str,
    last_pending_instant: str,
    first_breached_instant: str,
    days_left_after: int,
) -> None:
    aware = {"2026-01-05": "2025-12-24", "2023-05-12": "2023-05-04"}[due]
    story = Story(api, clock, aware, created=datetime.fromisoformat(last_pending_instant))
    notification = story.clock_of("panel_notification")
    assert_clock(
        notification,
        status="pending",
        due_on=due,
        due_at=utc(datetime.fromisoformat(last_pending_instant)),
        working_days_left=0,
        breached_at=None,
    )
    assert story.clock_of("rapid_review")["working_days_left"] == 10
    # One second later, before any sweep, it reads breached.
    clock.set(datetime.fromisoformat(first_breached_instant))
    assert_clock(
        story.clock_of("panel_notification"),
        status="breached",
        breached_at=notification["due_at"],
        working_days_left=days_left_after,
    )
    assert story.clock_of("rapid_review")["status"] == "pending"


def test_a_referral_made_today_shows_its_working_days_left(
    api: Api, clock: FixedClock, directory: Directory
) -> None:
    # Aware Wednesday 10 June 2026, referred on the suite's "now" (Wednesday 17 June).
    story = Story(api, clock, "2026-06-10", created=clock.now())
    notification, review = story.clocks()
    assert_clock(
        notification,
        key="panel_notification",
        status="pending",
        starts_on="2026-06-10",
        due_on="2026-06-17",
        due_at="2026-06-17T22:59:59Z",
        working_days_left=0,
    )
    assert_clock(
        review,
        key="rapid_review",
        status="pending",
        due_on="2026-07-01",
        due_at="2026-07-01T22:59:59Z",
        working_days_left=10,
    )
    # Nobody else's clocks: the other partnership sees no such case.
    other = api.client.get(
        f"/api/v1/cases/{story.id}/deadlines", headers=api.headers("superuser", "OT")
    )
    assert_problem(other, 404, "/problems/case-not-found")


@pytest.mark.parametrize(
    ("notified_on", "status"),
    [("2026-06-16", "met"), ("2026-06-17", "met"), ("2026-06-18", "met_late")],
    ids=["before-due", "on-due-day", "day-after"],
)
@pytest.mark.parametrize("swept", [False, True], ids=["unswept", "swept"])
def test_the_notification_is_judged_by_notified_on_not_by_when_it_was_recorded(
    api: Api, clock: FixedClock, notified_on: str, status: str, swept: bool
) -> None:
    story = Story(api, clock, "2026-06-10", created=at("2026-06-11"))
    assert story.clock_of("panel_notification")["due_on"] == "2026-06-17"
    # Recorded a week after the due date.
    clock.set(at("2026-06-24"))
    if swept:
        sweep_deadlines(clock)
    assert story.clock_of("panel_notification")["status"] == "breached"
    story.notify(notified_on, on="2026-06-24")
    assert_clock(
        story.clock_of("panel_notification"),
        status=status,
        met_on=notified_on,
        met_at="2026-06-24T11:00:00Z",
        due_on="2026-06-17",
        working_days_left=None,
        next_alert_at=None,
        # Met on time is not a breach, whatever the sweep saw before the date was recorded.
        breached_at=None if status == "met" else "2026-06-17T22:59:59Z",
    )
    assert story.clock_of("rapid_review")["status"] == "pending"
    # The late recording is visible in the audit: the event's own date and its time.
    event = api.events(story.id)[-1]
    assert (event["trigger"], event["data"]["notified_on"]) == ("notify_panel", notified_on)
    assert event["at"] == "2026-06-24T11:00:00Z"


@pytest.mark.parametrize(
    ("submitted_on", "status"),
    [("2025-09-08", "met"), ("2025-09-09", "met_late")],
    ids=["on-due-day", "day-after"],
)
def test_the_rapid_review_is_met_by_submitted_on(
    api: Api, clock: FixedClock, submitted_on: str, status: str
) -> None:
    t = T2025
    story = Story(api, clock, t.aware)
    story.notify(t.notified)
    story.complete(t.completed)
    story.agree(*t.votes)
    review = story.clock_of("rapid_review")
    # Aware Friday 15 August 2025: 15 working days, Monday 25 August (bank holiday) skipped.
    assert_clock(review, status="pending", due_on="2025-09-08", due_at="2025-09-08T22:59:59Z")
    # Recorded the Monday after, dated the day it was sent.
    story.submit(submitted_on, on="2025-09-15")
    assert_clock(
        story.clock_of("rapid_review"),
        status=status,
        met_on=submitted_on,
        met_at=utc(at("2025-09-15")),
        starts_on=t.aware,
        due_on="2025-09-08",
    )
    assert story.clock_of("panel_notification")["status"] == "met"


# -- configurable starts ---------------------------------------------------------------------


def test_rapid_review_counted_from_the_notification_when_configured(
    api: Api, clock: FixedClock, start_options: Callable[[dict[str, str]], None]
) -> None:
    start_options({"rapid_review": "notified_on"})
    story = Story(api, clock, "2026-06-01", created=at("2026-06-03"))
    # No rapid_review clock until the Panel is notified.
    assert [c["key"] for c in story.clocks()] == ["panel_notification"]
    # Notified Friday 5 June, recorded Monday 8 June: counted from the 5th.
    story.notify("2026-06-05", on="2026-06-08")
    assert_clock(
        story.clock_of("rapid_review"),
        status="pending",
        start_option="notified_on",
        starts_on="2026-06-05",
        due_on="2026-06-26",
        due_at="2026-06-26T22:59:59Z",
        sequence=1,
    )
    assert_clock(
        story.clock_of("panel_notification"), status="met", start_option=None, met_on="2026-06-05"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rapid_review": "no_such_option"}, "rapid_review may start from became_aware_on, "),
        ({"no_such_clock": "x"}, "no workflow has a clock 'no_such_clock'"),
        ({"panel_notification": "x"}, "no workflow has a clock 'panel_notification'"),
    ],
)
def test_the_service_refuses_to_start_with_an_unknown_start_option(
    start_options: Callable[[dict[str, str]], None], options: dict[str, str], message: str
) -> None:
    from cspr_engine.config import ConfigurationError
    from cspr_engine.main import create_app

    start_options(options)
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        create_app()


# -- lcspr_completion --------------------------------------------------------------------------


def test_lcspr_completion_counts_six_months_from_the_dsp_agreement_date(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_panel_response(T2025, "agrees_lcspr")
    gate = api.get_case(story.id)["approvals"]["dsp_joint_decision"]
    assert gate["agreed_on"] == "2025-08-31"
    assert_clock(
        story.clock_of("lcspr_completion"),
        status="pending",
        kind="statutory",
        rule="D7",
        start_option="dsp_agreement",
        # The latest agreement (Sunday 31 August), not the response or the last vote cast.
        starts_on="2025-08-31",
        # 31 August + 6 calendar months, clamped to the end of February.
        due_on="2026-02-28",
        due_at="2026-02-28T23:59:59Z",
        extensions=[],
    )


def test_lcspr_completion_from_the_panel_response_when_configured(
    api: Api, clock: FixedClock, start_options: Callable[[dict[str, str]], None]
) -> None:
    start_options({"lcspr_completion": "panel_response"})
    story = Story(api, clock, T2025.aware)
    # The Panel's response, received on Monday 15 September.
    story.to_panel_response(T2025, "agrees_lcspr")
    assert_clock(
        story.clock_of("lcspr_completion"),
        status="pending",
        start_option="panel_response",
        starts_on="2025-09-15",
        due_on="2026-03-15",
        due_at="2026-03-15T23:59:59Z",
    )
    # Only the clock configured changed: rapid_review still counts from awareness.
    assert story.clock_of("rapid_review")["start_option"] == "became_aware_on"


@pytest.mark.parametrize("outcome", ["agrees_no_lcspr", "national_review"])
def test_no_lcspr_completion_clock_without_an_agreed_lcspr(
    api: Api, clock: FixedClock, outcome: str
) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_panel_response(T2025, outcome)
    assert story.keys() == [("panel_notification", 1, "met"), ("rapid_review", 1, "met")]


# -- record_delay: lcspr_completion extended, delay_notice ------------------------------------


@pytest.mark.parametrize(
    ("informed_on", "status"),
    [("2026-02-17", "met"), ("2026-02-18", "met_late")],
    ids=["on-due-day", "day-after"],
)
def test_record_delay_extends_the_review_and_starts_then_stops_the_delay_notice(
    api: Api, clock: FixedClock, directory: Directory, informed_on: str, status: str
) -> None:
    chair = directory.user_ids["TW"]["chair"]
    story = Story(api, clock, T2025.aware)
    story.to_lcspr_in_progress(T2025)
    assert [k for k, _, _ in story.keys()].count("delay_notice") == 0

    # Tuesday 10 February 2026: the review will be late; the Panel not yet told.
    story.fire(
        "record_delay",
        "chair",
        "2026-02-10",
        reason="A key agency's records arrived late.",
        revised_completion_on="2026-04-30",
    )
    first = {
        "previous_due_on": "2026-02-28",
        "new_due_on": "2026-04-30",
        "reason": "A key agency's records arrived late.",
        "agreed_with": None,
        "source": "trigger:record_delay",
        "actor_id": chair,
        "at": utc(at("2026-02-10")),
    }
    assert_clock(
        story.clock_of("lcspr_completion"),
        status="pending",
        starts_on="2025-08-31",
        due_on="2026-04-30",
        due_at="2026-04-30T22:59:59Z",
        sequence=1,
        extensions=[first],
    )
    assert_clock(
        story.clock_of("delay_notice"),
        status="pending",
        kind="advisory",
        statutory=False,
        rule="D12",
        start_option=None,
        # No date field: the recording day, + 5 working days.
        starts_on="2026-02-10",
        due_on="2026-02-17",
        due_at="2026-02-17T23:59:59Z",
        sequence=1,
    )

    # Later: a second delay, and this time the Panel and the Secretary of State were told.
    story.fire(
        "record_delay",
        "chair",
        "2026-02-20",
        reason="The reviewer is ill.",
        revised_completion_on="2026-05-29",
        panel_and_sos_informed_on=informed_on,
    )
    assert_clock(
        story.clock_of("delay_notice"),
        status=status,
        met_on=informed_on,
        met_at=utc(at("2026-02-20")),
        due_on="2026-02-17",
    )
    completion = story.clock_of("lcspr_completion")
    assert_clock(completion, status="pending", due_on="2026-05-29")
    assert completion["extensions"] == [
        first,
        {
            "previous_due_on": "2026-04-30",
            "new_due_on": "2026-05-29",
            "reason": "The reviewer is ill.",
            "agreed_with": None,
            "source": "trigger:record_delay",
            "actor_id": chair,
            "at": utc(at("2026-02-20")),
        },
    ]
    # A delay recorded with the Panel already informed starts no new notice.
    story.fire(
        "record_delay",
        "chair",
        "2026-03-02",
        reason="Still waiting.",
        revised_completion_on="2026-05-29",
        panel_and_sos_informed_on="2026-03-02",
    )
    assert [(k, s) for k, s, _ in story.keys() if k == "delay_notice"] == [("delay_notice", 1)]
    # The same revised date again is no extension.
    assert len(story.clock_of("lcspr_completion")["extensions"]) == 2


# -- the extensions endpoint -------------------------------------------------------------------


def extend(
    api: Api, case_id: str, key: str, who: str = "chair", if_match: str | None = None, **body: Any
) -> tuple[int, dict[str, Any], httpx.Response]:
    """POST an extension of clock `key` as `who`: (status, body, response)."""
    headers = {"If-Match": if_match} if if_match else {}
    response = api.client.post(
        f"/api/v1/cases/{case_id}/deadlines/{key}/extensions",
        json=body,
        headers=api.headers(who, **headers),
    )
    return response.status_code, response.json(), response


def test_the_chair_extends_the_rapid_review(
    api: Api, clock: FixedClock, directory: Directory
) -> None:
    chair = directory.user_ids["TW"]["chair"]
    story = Story(api, clock, "2026-06-10", created=clock.now())
    assert story.case["version"] == 1
    status, body, response = extend(
        api,
        story.id,
        "rapid_review",
        new_due_on="2026-07-15",
        reason="The health chronology is late.",
        agreed_with="The Panel secretariat",
        if_match='"1"',
    )
    assert status == 201, body
    assert response.headers["ETag"] == '"2"'
    extension = {
        "previous_due_on": "2026-07-01",
        "new_due_on": "2026-07-15",
        "reason": "The health chronology is late.",
        "agreed_with": "The Panel secretariat",
        "actor_id": chair,
        "at": NOW,
        "source": "api",
    }
    assert_clock(
        body,
        key="rapid_review",
        status="pending",
        starts_on="2026-06-10",
        due_on="2026-07-15",
        due_at="2026-07-15T22:59:59Z",
        working_days_left=20,
        extensions=[extension],
    )
    assert story.clock_of("rapid_review") == body
    case = api.get_case(story.id)
    assert case["version"] == 2
    assert case["state"] == "referred"
    assert case["updated_at"] == NOW
    # The other clock is untouched.
    assert story.clock_of("panel_notification")["due_on"] == "2026-06-17"
    event = api.events(story.id)[-1]
    assert event["kind"] == "deadline.extended"
    assert event["actor_id"] == chair
    assert event["at"] == NOW
    assert (event["from_state"], event["to_state"]) == ("referred", "referred")
    assert event["data"] == {
        "clock": "rapid_review",
        "previous_due_on": "2026-07-01",
        "new_due_on": "2026-07-15",
        "reason": "The health chronology is late.",
        "agreed_with": "The Panel secretariat",
    }
    assert event["basis"]

    # Extended again a day later: the history keeps both.
    clock.set(at("2026-06-18", 10))
    status, body, response = extend(
        api,
        story.id,
        "rapid_review",
        who="superuser",
        new_due_on="2026-07-22",
        reason="Second delay.",
    )
    assert status == 201, body
    assert response.headers["ETag"] == '"3"'
    assert body["extensions"] == [
        extension,
        {
            "previous_due_on": "2026-07-15",
            "new_due_on": "2026-07-22",
            "reason": "Second delay.",
            "agreed_with": None,
            "actor_id": directory.user_ids["TW"]["superuser"],
            "at": "2026-06-18T09:00:00Z",
            "source": "api",
        },
    ]
    assert "agreed_with" not in api.events(story.id)[-1]["data"]


def test_a_breached_clock_extended_into_the_future_runs_again(api: Api, clock: FixedClock) -> None:
    # Aware Friday 1 May 2026: rapid review due Tuesday 26 May (4 and 25 May are holidays).
    story = Story(api, clock, "2026-05-01", created=clock.now())
    assert_clock(
        story.clock_of("rapid_review"),
        status="breached",
        due_on="2026-05-26",
        breached_at="2026-05-26T22:59:59Z",
    )
    status, body, _ = extend(
        api, story.id, "rapid_review", new_due_on="2026-06-30", reason="Agreed with the Panel."
    )
    assert status == 201, body
    assert_clock(
        body,
        status="pending",
        due_on="2026-06-30",
        due_at="2026-06-30T22:59:59Z",
        breached_at=None,
        working_days_left=9,
    )
    assert body["extensions"][0]["previous_due_on"] == "2026-05-26"
    assert body["next_alert_at"] is not None
    # An extension still in the past leaves a breached clock breached.
    status, other, _ = extend(
        api, story.id, "panel_notification", new_due_on="2026-06-01", reason="Late anyway."
    )
    assert status == 201, other
    assert_clock(other, status="breached", due_on="2026-06-01")


REFUSALS = [
    pytest.param(
        "business",
        "rapid_review",
        {"new_due_on": "2026-07-15", "reason": "x"},
        None,
        403,
        "/problems/extension-forbidden",
        id="business-unit",
    ),
    pytest.param(
        "dsp_la",
        "rapid_review",
        {"new_due_on": "2026-07-15", "reason": "x"},
        None,
        403,
        "/problems/extension-forbidden",
        id="dsp",
    ),
    pytest.param(
        "chair",
        "no_such_clock",
        {"new_due_on": "2026-07-15", "reason": "x"},
        None,
        404,
        "/problems/clock-not-found",
        id="unknown-key",
    ),
    pytest.param(
        "chair",
        "panel_notification",
        {"new_due_on": "2026-07-15", "reason": "x"},
        None,
        409,
        "/problems/clock-not-open",
        id="met-clock",
    ),
    pytest.param(
        "chair",
        "lcspr_completion",
        {"new_due_on": "2026-07-15", "reason": "x"},
        None,
        409,
        "/problems/clock-not-open",
        id="never-started",
    ),
    pytest.param(
        "chair",
        "rapid_review",
        {"new_due_on": "2026-07-01", "reason": "x"},
        None,
        422,
        "/problems/invalid-data",
        id="same-due-date",
    ),
    pytest.param(
        "chair",
        "rapid_review",
        {"new_due_on": "2026-06-30", "reason": "x"},
        None,
        422,
        "/problems/invalid-data",
        id="earlier-due-date",
    ),
    pytest.param(
        "chair",
        "rapid_review",
        {"new_due_on": "2026-07-15", "reason": "   "},
        None,
        422,
        "/problems/invalid-data",
        id="blank-reason",
    ),
    pytest.param(
        "chair",
        "rapid_review",
        {"new_due_on": "2026-07-15", "reason": "x"},
        '"1"',
        412,
        "/problems/stale-version",
        id="stale-if-match",
    ),
]


@pytest.mark.parametrize(("who", "key", "body", "if_match", "status", "type_"), REFUSALS)
def test_a_refused_extension_changes_nothing(
    api: Api,
    clock: FixedClock,
    who: str,
    key: str,
    body: dict[str, Any],
    if_match: str | None,
    status: int,
    type_: str,
) -> None:
    story = Story(api, clock, "2026-06-10", created=at("2026-06-12"))
    story.notify("2026-06-12")  # version 2; panel_notification met
    clock.set(at("2026-06-17"))
    before, tables, clocks = snapshot(story.id), clock_tables(), story.clocks()
    response = extend(api, story.id, key, who=who, if_match=if_match, **body)[2]
    problem = assert_problem(response, status, type_)
    if type_ == "/problems/invalid-data":
        locs = [e["loc"] for e in problem["errors"]]
        assert locs == (["reason"] if body["reason"].strip() == "" else ["new_due_on"]), problem
    if type_ == "/problems/clock-not-found":
        assert "rapid_review" in problem["known_clocks"]
    assert snapshot(story.id) == before
    assert clock_tables() == tables
    assert story.clocks() == clocks


def test_a_cancelled_clock_cannot_be_extended(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, "2026-06-10", created=clock.now())
    story.fire(
        "decide_not_notifiable",
        "chair",
        None,
        rationale="Not abuse or neglect.",
        alternative_learning="none",
    )
    before = snapshot(story.id)
    response = extend(api, story.id, "rapid_review", new_due_on="2026-07-15", reason="x")[2]
    assert_problem(response, 409, "/problems/clock-not-open")
    assert snapshot(story.id) == before


# -- pre_publication_notice: a backward clock ---------------------------------------------------


def test_pre_publication_notice_counts_back_from_the_planned_date(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, T2023.aware)
    story.to_final_report(T2023)
    assert "pre_publication_notice" not in [k for k, _, _ in story.keys()]
    story.fire("schedule_publication", "chair", "2024-03-01", planned_publication_on="2024-04-08")
    # Monday 8 April 2024 less 7 working days (Good Friday and Easter Monday skipped): Tuesday
    # 26 March, before the clocks went forward.
    assert_clock(
        story.clock_of("pre_publication_notice"),
        status="pending",
        kind="statutory",
        rule="D8",
        sequence=1,
        starts_on="2024-04-08",
        anchor_on="2024-04-08",
        due_on="2024-03-26",
        due_at="2024-03-26T23:59:59Z",
        working_days_left=17,
    )
    story.fire(
        "send_to_panel_and_sos",
        "business",
        "2024-03-26",
        sent_on="2024-03-26",
        planned_publication_on="2024-04-08",
    )
    assert_clock(
        story.clock_of("pre_publication_notice"),
        status="met",
        met_on="2024-03-26",
        met_at=utc(at("2024-03-26")),
    )


def test_pre_publication_notice_sent_after_its_date_is_met_late(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, T2023.aware)
    story.to_final_report(T2023)
    story.fire("schedule_publication", "chair", "2024-03-01", planned_publication_on="2024-04-08")
    # Sent a day late (publication put back a day so that 7 working days still separate them).
    story.fire(
        "send_to_panel_and_sos",
        "business",
        "2024-03-27",
        sent_on="2024-03-27",
        planned_publication_on="2024-04-09",
    )
    assert_clock(
        story.clock_of("pre_publication_notice"),
        status="met_late",
        met_on="2024-03-27",
        due_on="2024-03-26",
    )


def test_a_second_publication_date_supersedes_the_first(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, T2023.aware)
    story.to_final_report(T2023)
    story.fire("schedule_publication", "chair", "2024-03-01", planned_publication_on="2024-04-08")
    story.fire("schedule_publication", "chair", "2024-03-05", planned_publication_on="2024-04-15")
    first = story.clock_of("pre_publication_notice", 1)
    assert_clock(
        first,
        status="cancelled",
        cancelled_at=utc(at("2024-03-05")),
        due_on="2024-03-26",
        next_alert_at=None,
    )
    assert_clock(
        story.clock_of("pre_publication_notice", 2),
        status="pending",
        anchor_on="2024-04-15",
        due_on="2024-04-04",
        due_at="2024-04-04T22:59:59Z",
    )
    story.fire(
        "send_to_panel_and_sos",
        "business",
        "2024-04-02",
        sent_on="2024-04-02",
        planned_publication_on="2024-04-15",
    )
    assert story.clock_of("pre_publication_notice", 2)["status"] == "met"
    assert story.clock_of("pre_publication_notice", 1) == first


# -- lcspr_quality_check: recurring, advisory ---------------------------------------------------


def test_quality_checks_recur_from_each_check_until_the_final_report(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_lcspr_in_progress(T2025)
    # Started the day commission_lcspr was recorded (Friday 3 October), one month on.
    assert_clock(
        story.clock_of("lcspr_quality_check"),
        status="pending",
        kind="advisory",
        statutory=False,
        rule="reg 14",
        sequence=1,
        starts_on="2025-10-03",
        due_on="2025-11-03",
        due_at="2025-11-03T23:59:59Z",
    )
    check = {"written_request": "Send the chronology.", "finding": "On track."}
    # Checked on 31 October, recorded on 5 November (after the due date): met.
    story.fire("record_quality_check", "business", "2025-11-05", checked_on="2025-10-31", **check)
    assert_clock(
        story.clock_of("lcspr_quality_check", 1),
        status="met",
        met_on="2025-10-31",
        met_at=utc(at("2025-11-05")),
    )
    assert_clock(
        story.clock_of("lcspr_quality_check", 2),
        status="pending",
        starts_on="2025-10-31",
        due_on="2025-11-30",
    )
    # The next check is two months on: that round is met late; the third round ends in
    # February, clamped.
    story.fire("record_quality_check", "chair", "2026-01-31", checked_on="2026-01-31", **check)
    assert_clock(story.clock_of("lcspr_quality_check", 2), status="met_late", met_on="2026-01-31")
    assert_clock(
        story.clock_of("lcspr_quality_check", 3),
        status="pending",
        starts_on="2026-01-31",
        due_on="2026-02-28",
    )
    story.final_report("2026-02-10")
    assert_clock(
        story.clock_of("lcspr_quality_check", 3),
        status="cancelled",
        cancelled_at=utc(at("2026-02-10")),
    )
    assert_clock(story.clock_of("lcspr_completion"), status="met", met_on="2026-02-10")
    assert [k for k, _, _ in story.keys()].count("lcspr_quality_check") == 3


def test_a_final_report_after_six_months_meets_the_review_late(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_final_report(T2025)  # received 28 April 2026, due 28 February
    assert_clock(
        story.clock_of("lcspr_completion"),
        status="met_late",
        met_on="2026-04-28",
        due_on="2026-02-28",
    )


# -- publication_retention: a minimum, met at its due date ------------------------------------


def published(api: Api, clock: FixedClock) -> Story:
    story = Story(api, clock, T2023.aware)
    story.to_final_report(T2023)
    story.fire("schedule_publication", "chair", "2024-03-01", planned_publication_on="2024-04-08")
    story.fire(
        "send_to_panel_and_sos",
        "business",
        "2024-03-26",
        sent_on="2024-03-26",
        planned_publication_on="2024-04-08",
    )
    story.fire(
        "publish",
        "business",
        "2024-04-08",
        published_on="2024-04-08",
        url="https://tw-scp.example/reviews/child-t",
    )
    return story


def test_publication_retention_is_met_never_breached_after_a_year(
    api: Api, clock: FixedClock
) -> None:
    story = published(api, clock)
    retention = story.clock_of("publication_retention")
    assert_clock(
        retention,
        status="pending",
        kind="advisory",
        statutory=False,
        rule="D11",
        starts_on="2024-04-08",
        due_on="2025-04-08",
        due_at="2025-04-08T22:59:59Z",
        breached_at=None,
    )
    # The minimum has passed: the clock reads met, before and after a sweep, never breached.
    clock.set(at("2025-06-01"))
    shown = story.clock_of("publication_retention")
    assert shown["status"] == "met"
    assert shown["breached_at"] is None
    assert shown["working_days_left"] is None
    ids = {c["id"] for c in list_cases(api, breached="false")}
    assert story.id in ids
    assert story.id not in {c["id"] for c in list_cases(api, breached="true")}
    assert story.id not in {c["id"] for c in list_cases(api, due_before="2026-01-01")}
    sweep_deadlines(clock)
    assert_clock(
        story.clock_of("publication_retention"),
        status="met",
        met_on="2025-04-08",
        breached_at=None,
        next_alert_at=None,
    )
    assert story.id in {c["id"] for c in list_cases(api, breached="false")}


# -- cancellation ---------------------------------------------------------------------------


def test_withdrawal_cancels_the_running_clocks_and_keeps_the_met_ones(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, "2026-06-10", created=at("2026-06-12"))
    story.notify("2026-06-12")
    clock.set(at("2026-06-17"))
    story.fire("withdraw", "chair", None, rationale="The injury was accidental.")
    assert_clock(story.clock_of("panel_notification"), status="met", met_on="2026-06-12")
    assert_clock(
        story.clock_of("rapid_review"),
        status="cancelled",
        cancelled_at=utc(at("2026-06-17")),
        next_alert_at=None,
        working_days_left=None,
    )


def test_a_decision_not_to_notify_cancels_every_clock(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, "2026-05-01", created=clock.now())
    assert [s for _, _, s in story.keys()] == ["breached", "breached"]
    clock.set(at("2026-06-18", 16))
    story.fire(
        "decide_not_notifiable",
        "dsp_la",
        None,
        rationale="Not abuse or neglect.",
        alternative_learning="single_agency_review",
    )
    for found in story.clocks():
        assert_clock(found, status="cancelled", cancelled_at="2026-06-18T15:00:00Z")


def test_publication_cancels_the_delay_notice_and_closing_cancels_retention(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, T2023.aware)
    story.to_final_report(T2023)
    story.fire(
        "send_to_panel_and_sos",
        "business",
        "2024-03-26",
        sent_on="2024-03-26",
        planned_publication_on="2024-04-08",
    )
    story.fire(
        "withhold_publication",
        "chair",
        "2024-04-05",
        reason="Criminal proceedings.",
        improvements_only=False,
    )
    assert_clock(
        story.clock_of("delay_notice"),
        status="pending",
        starts_on="2024-04-05",
        due_on="2024-04-12",
    )
    story.fire(
        "publish",
        "business",
        "2024-04-10",
        published_on="2024-04-10",
        url="https://tw-scp.example/reviews/child-t",
    )
    assert_clock(
        story.clock_of("delay_notice"), status="cancelled", cancelled_at=utc(at("2024-04-10"))
    )
    assert_clock(story.clock_of("publication_retention"), status="pending", due_on="2025-04-10")
    story.fire("close", "chair", "2024-05-01")
    assert api.get_case(story.id)["state"] == "closed"
    assert_clock(
        story.clock_of("publication_retention"),
        status="cancelled",
        cancelled_at=utc(at("2024-05-01")),
    )
    assert {(k, s) for k, _, s in story.keys()} == {
        ("panel_notification", "met"),
        ("rapid_review", "met"),
        ("lcspr_completion", "met"),
        ("lcspr_quality_check", "cancelled"),
        ("delay_notice", "cancelled"),
        ("publication_retention", "cancelled"),
    }


# -- the case list: breached= and due_before= ------------------------------------------------


def list_cases(api: Api, **query: str) -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/cases", params=query, headers=api.headers("superuser"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_the_case_list_filters_on_breached_and_due_before(api: Api, clock: FixedClock) -> None:
    now = clock.now()
    # A late referral: breached from the start.
    late = Story(api, clock, "2026-05-01", created=now)
    # Referred in time, notification due Friday 12 June and not made: pending in the store,
    # breached by now although no sweep has run.
    overdue = Story(api, clock, "2026-06-05", created=at("2026-06-08"))
    # Notification due today (Wednesday 17 June), rapid review 1 July.
    due_today = Story(api, clock, "2026-06-10", created=now)
    # Notified: only the rapid review (1 July) runs.
    notified = Story(api, clock, "2026-06-10", created=at("2026-06-11"))
    notified.notify("2026-06-11")
    # Withdrawn: nothing runs.
    withdrawn = Story(api, clock, "2026-06-10", created=at("2026-06-11"))
    withdrawn.notify("2026-06-11")
    withdrawn.fire("withdraw", "chair", "2026-06-12", rationale="Accidental.")
    # Another partnership's breached case is not listed.
    Story(api, clock, "2026-05-01", created=now, partnership="OT")
    clock.set(now)
    assert overdue.clock_of("panel_notification")["status"] == "breached"

    def ids(**query: str) -> set[str]:
        return {c["id"] for c in list_cases(api, **query)}

    everyone = {s.id for s in (late, overdue, due_today, notified, withdrawn)}
    assert ids() == everyone
    assert ids(breached="true") == {late.id, overdue.id}
    assert ids(breached="false") == everyone - {late.id, overdue.id}
    assert ids(due_before="2026-06-17") == {late.id, overdue.id}
    assert ids(due_before="2026-06-18") == {late.id, overdue.id, due_today.id}
    assert ids(due_before="2026-07-02") == everyone - {withdrawn.id}
    assert ids(breached="false", due_before="2026-06-18") == {due_today.id}

    # After a sweep, the same answer.
    sweep_deadlines(clock)
    assert ids(breached="true") == {late.id, overdue.id}
    # Just past the end of the 17th in London, the notification due today is breached too.
    clock.set(datetime.fromisoformat("2026-06-17T23:00:00+00:00"))
    assert ids(breached="true") == {late.id, overdue.id, due_today.id}
    assert ids(breached="false") == {notified.id, withdrawn.id}
    # An extension into the future takes a case off the breached list.
    status, body, _ = extend(
        api, late.id, "panel_notification", new_due_on="2026-06-30", reason="Agreed."
    )
    assert status == 201, body
    assert late.id in ids(breached="true")  # its rapid review is still breached
    status, body, _ = extend(
        api, late.id, "rapid_review", new_due_on="2026-06-30", reason="Agreed."
    )
    assert status == 201, body
    assert ids(breached="true") == {overdue.id, due_today.id}


# -- what a clock keeps on record ----------------------------------------------------------


def test_an_overdue_clock_cancelled_before_any_sweep_keeps_its_breach(
    api: Api, clock: FixedClock
) -> None:
    # Aware 1 June 2026: notification due Monday 8 June; decided not notifiable on 12 June.
    story = Story(api, clock, "2026-06-01")
    story.fire(
        "decide_not_notifiable",
        "dsp_la",
        "2026-06-12",
        rationale="Criteria not met.",
        alternative_learning="none",
    )
    notification = story.clock_of("panel_notification")
    assert notification["status"] == "cancelled"
    assert notification["breached_at"] == "2026-06-08T22:59:59Z"
    # The rapid review was not yet due: cancelled with no breach.
    assert story.clock_of("rapid_review")["breached_at"] is None


def test_an_extension_to_a_date_already_past_is_breached_as_of_the_new_date(
    api: Api, clock: FixedClock
) -> None:
    story = Story(api, clock, "2026-05-01")  # notification due Friday 8 May
    clock.set(at("2026-06-17"))
    status, body, _ = extend(
        api, story.id, "panel_notification", new_due_on="2026-06-01", reason="Agreed late."
    )
    assert status == 201, body
    assert (body["status"], body["due_on"]) == ("breached", "2026-06-01")
    assert body["breached_at"] == "2026-06-01T22:59:59Z"


def test_an_earlier_revised_completion_date_is_no_extension(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_lcspr_in_progress(T2025)
    story.fire(
        "record_delay",
        "chair",
        "2026-01-10",
        reason="Expected sooner after all.",
        revised_completion_on="2026-01-15",
        panel_and_sos_informed_on="2026-01-10",
    )
    review = story.clock_of("lcspr_completion")
    assert (review["due_on"], review["extensions"]) == ("2026-02-28", [])


def test_advisory_clocks_do_not_make_a_case_breached(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_lcspr_in_progress(T2025)
    # Two months after commissioning, no quality check recorded: the advisory clock is
    # overdue, while the statutory ones are met or still running.
    clock.set(at("2025-12-10"))
    quality = story.clock_of("lcspr_quality_check")
    assert (quality["status"], quality["kind"]) == ("breached", "advisory")
    listed = api.client.get("/api/v1/cases?breached=true", headers=api.headers("chair")).json()
    assert story.case["reference"] not in [c["reference"] for c in listed["items"]]
    others = api.client.get("/api/v1/cases?breached=false", headers=api.headers("chair")).json()
    assert story.case["reference"] in [c["reference"] for c in others["items"]]
