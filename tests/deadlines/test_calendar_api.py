"""The working-day calendar over HTTP, and the data behind it.

GET /api/v1/calendar/holidays shows the non-working days of a year (GOV.UK's snapshot, years
computed past it, days an admin added); the shipped snapshot must equal GOV.UK's own England &
Wales list (the cached copy in the `govuk-bank-holidays` package) and agree with the `holidays`
package; POST adds a newly proclaimed day and moves every running working-day clock whose count
passes over it (statutory-process.md §10).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import holidays as holidays_lib
import pytest
import yaml
from govuk_bank_holidays.bank_holidays import BankHolidays
from sqlmodel import Session

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.deadlines.test_clocks import T2025, Story
from tests.factories import (
    Api,
    Directory,
    assert_problem,
    clock_tables,
    create_platform_admin,
    snapshot,
)

SHIPPED = Path(__file__).resolve().parents[2] / "workflows" / "calendars" / "england-and-wales.yaml"
CALENDAR = "govuk-snapshot-2026-02+holidays-"
PROCLAIMED = {
    "date": "2026-06-26",
    "title": "Bank holiday for a national celebration",
    "reason": "Royal proclamation of 1 June 2026.",
}


def shipped() -> dict[date, str]:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return {entry["date"]: entry["title"] for entry in raw["holidays"]}


def holidays_of(api: Api, who: str = "referrer", **query: Any) -> dict[str, Any]:
    response = api.client.get("/api/v1/calendar/holidays", params=query, headers=api.headers(who))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(autouse=True)
def platform_admin(directory: Directory) -> str:
    """A platform administrator, who alone changes the national calendar: `api.headers
    ("platform")` is its token, and `directory.user_ids["TW"]["platform"]` its id."""
    token = create_platform_admin(NOW)
    with Session(get_engine()) as session:
        user = accounts_repository.user_by_email(session, "root@platform.example")
        assert user is not None
        directory.user_ids["TW"]["platform"] = str(user.id)
    directory.tokens["TW"]["platform"] = token
    return token


def add(api: Api, who: str = "platform", **body: Any) -> Any:
    return api.client.post("/api/v1/calendar/holidays", json=body, headers=api.headers(who))


def withdraw(api: Api, day: str, who: str = "platform", **body: Any) -> Any:
    return api.client.post(
        f"/api/v1/calendar/holidays/{day}/withdrawal",
        json=body or {"reason": "Added in error."},
        headers=api.headers(who),
    )


def events(api: Api, case_id: str, partnership: str = "TW") -> list[dict[str, Any]]:
    response = api.client.get(
        f"/api/v1/cases/{case_id}/events?limit=500", headers=api.headers("superuser", partnership)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# -- reading the calendar ----------------------------------------------------------------------


def test_2023_lists_the_coronation_from_the_govuk_snapshot(api: Api) -> None:
    body = holidays_of(api, year=2023)
    assert body["year"] == 2023
    assert body["jurisdiction"] == "england-and-wales"
    assert body["calendar_version"].startswith(CALENDAR)
    assert "+added" not in body["calendar_version"]
    assert body["holidays"] == [
        {"date": "2023-01-02", "title": "New Year's Day", "source": "gov.uk"},
        {"date": "2023-04-07", "title": "Good Friday", "source": "gov.uk"},
        {"date": "2023-04-10", "title": "Easter Monday", "source": "gov.uk"},
        {"date": "2023-05-01", "title": "Early May bank holiday", "source": "gov.uk"},
        {
            "date": "2023-05-08",
            "title": "Bank holiday for the coronation of King Charles III",
            "source": "gov.uk",
        },
        {"date": "2023-05-29", "title": "Spring bank holiday", "source": "gov.uk"},
        {"date": "2023-08-28", "title": "Summer bank holiday", "source": "gov.uk"},
        {"date": "2023-12-25", "title": "Christmas Day", "source": "gov.uk"},
        {"date": "2023-12-26", "title": "Boxing Day", "source": "gov.uk"},
    ]


def test_years_past_the_snapshot_are_computed(api: Api) -> None:
    body = holidays_of(api, year=2030)
    assert body["year"] == 2030
    listed = {h["date"]: h for h in body["holidays"]}
    assert listed["2030-04-22"]["source"] == "computed"
    assert "Easter Monday" in listed["2030-04-22"]["title"]
    assert sorted(listed) == [
        "2030-01-01",
        "2030-04-19",  # Good Friday
        "2030-04-22",
        "2030-05-06",
        "2030-05-27",
        "2030-08-26",
        "2030-12-25",
        "2030-12-26",
    ]
    assert {h["source"] for h in body["holidays"]} == {"computed"}


def test_the_default_year_is_the_clocks_year_in_london(api: Api, clock: FixedClock) -> None:
    body = holidays_of(api)
    assert body["year"] == 2026
    assert {"date": "2026-12-28", "title": "Boxing Day", "source": "gov.uk"} in body["holidays"]
    clock.set(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    body = holidays_of(api)
    assert body["year"] == 2027
    assert all(h["date"].startswith("2027-") for h in body["holidays"])
    assert body == holidays_of(api, year=2027)


@pytest.mark.parametrize("year", ["2011", "2101", "-1", "twenty"])
def test_a_year_out_of_range_is_a_422(api: Api, year: str) -> None:
    response = api.client.get(
        f"/api/v1/calendar/holidays?year={year}", headers=api.headers("referrer")
    )
    problem = assert_problem(response, 422)
    assert "year" in response.text, problem


def test_reading_the_calendar_needs_a_token(api: Api) -> None:
    assert_problem(api.client.get("/api/v1/calendar/holidays?year=2026"), 401)


# -- the data: GOV.UK and the holidays package --------------------------------------------------


@pytest.fixture
def govuk(monkeypatch: pytest.MonkeyPatch) -> dict[date, str]:
    """GOV.UK's England & Wales list, from the copy the package ships (it must not download)."""
    import requests

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("govuk-bank-holidays tried to download")

    monkeypatch.setattr(requests, "get", no_network)
    data = BankHolidays(use_cached_holidays=True).get_holidays(
        division=BankHolidays.ENGLAND_AND_WALES
    )
    return {h["date"]: h["title"].replace("\u2019", "'") for h in data}


def test_the_shipped_holidays_equal_govuks_england_and_wales_list(govuk: dict[date, str]) -> None:
    ours = shipped()
    # The package's copy covers 2 January 2012 to 26 December 2028, as does ours.
    assert min(govuk) == date(2012, 1, 2)
    assert max(govuk) == date(2028, 12, 26)
    assert len(ours) == len(govuk) == 140
    assert sorted(ours) == sorted(govuk)
    assert ours == govuk  # titles too (GOV.UK writes a typographic apostrophe)
    # The one-offs of §10 are there.
    for day in ("2012-06-05", "2020-05-08", "2022-06-03", "2022-09-19", "2023-05-08"):
        assert date.fromisoformat(day) in ours, day
    assert date(2022, 5, 30) not in ours  # moved to 2 June for the Platinum Jubilee
    assert date(2020, 5, 4) not in ours  # moved to 8 May for VE Day


def test_the_api_lists_govuks_days_for_every_shipped_year(api: Api, govuk: dict[date, str]) -> None:
    for year in range(2012, 2029):
        body = holidays_of(api, year=year)
        listed = {date.fromisoformat(h["date"]): h["title"] for h in body["holidays"]}
        assert listed == {d: t for d, t in govuk.items() if d.year == year}, year
        assert {h["source"] for h in body["holidays"]} == {"gov.uk"}, year


def test_the_shipped_holidays_agree_with_the_holidays_package_on_weekdays() -> None:
    ours = shipped()
    computed = holidays_lib.country_holidays("GB", subdiv="ENG", years=range(2012, 2029))
    # The package also lists the weekend day a substitute stands in for (e.g. Sunday 25
    # December 2022): not a working day either way.
    weekdays = {d for d in computed if d.weekday() < 5}
    assert weekdays == set(ours)
    assert all(d.weekday() < 5 for d in ours)
    assert len({d for d in computed if d.weekday() >= 5}) == 14


# -- adding a proclaimed day --------------------------------------------------------------------


def referral(api: Api, clock: FixedClock, aware: str, partnership: str = "TW") -> dict[str, Any]:
    clock.set(datetime(2026, 6, 17, 9, 0, tzinfo=UTC))
    return api.create_case(
        partnership=partnership,
        became_aware_on=aware,
        incident={"occurred_on": aware, "outcome": "death", "abuse_or_neglect": "known"},
    )


def clocks(api: Api, case_id: str, partnership: str = "TW") -> dict[str, dict[str, Any]]:
    response = api.client.get(
        f"/api/v1/cases/{case_id}/deadlines", headers=api.headers("superuser", partnership)
    )
    assert response.status_code == 200, response.text
    return {c["key"]: c for c in response.json()["items"]}


@pytest.mark.parametrize("day", ["2026-06-26", "2026-07-01"], ids=["inside", "the-due-day"])
def test_an_admin_adds_a_proclaimed_day_and_running_clocks_move(
    api: Api, clock: FixedClock, directory: Directory, day: str
) -> None:
    admin = directory.user_ids["TW"]["platform"]
    # Aware Wednesday 10 June: notification due today, rapid review Wednesday 1 July.
    moved = referral(api, clock, "2026-06-10")
    elsewhere = referral(api, clock, "2026-06-10", partnership="OT")
    # Aware Monday 1 June: rapid review due Monday 22 June, before the new holiday.
    untouched = referral(api, clock, "2026-06-01")
    before = {c["id"]: clocks(api, c["id"], c["partnership"]) for c in (moved, untouched)}
    old_version = before[moved["id"]]["rapid_review"]["calendar_version"]
    assert before[moved["id"]]["rapid_review"]["due_on"] == "2026-07-01"

    response = add(api, **{**PROCLAIMED, "date": day})
    assert response.status_code == 201, response.text
    assert response.json() == {"date": day, "title": PROCLAIMED["title"], "source": "added"}

    after = clocks(api, moved["id"])
    review = after["rapid_review"]
    assert review["due_on"] == "2026-07-02"
    assert review["due_at"] == "2026-07-02T22:59:59Z"
    assert review["starts_on"] == "2026-06-10"
    assert review["status"] == "pending"
    assert review["working_days_left"] == 10  # one day more, one working day fewer
    assert review["extensions"] == []  # a recount, not an extension
    assert review["calendar_version"] != old_version
    assert review["calendar_version"].startswith(old_version + "+added-")
    # The notification (due today) does not count over the new day.
    assert after["panel_notification"] == before[moved["id"]]["panel_notification"]

    case = api.get_case(moved["id"])
    assert case["version"] == 2
    event = events(api, moved["id"])[-1]
    assert event["kind"] == "deadline.recomputed"
    assert event["actor_id"] == admin
    assert event["data"] == {
        "clock": "rapid_review",
        "previous_due_on": "2026-07-01",
        "new_due_on": "2026-07-02",
        "holiday": day,
        "calendar_version": review["calendar_version"],
    }
    # The calendar is everyone's: the other partnership's clock moved too.
    assert clocks(api, elsewhere["id"], "OT")["rapid_review"]["due_on"] == "2026-07-02"
    assert events(api, elsewhere["id"], "OT")[-1]["kind"] == "deadline.recomputed"
    # A clock that does not count over the day is left alone, and so is its case.
    assert clocks(api, untouched["id"]) == before[untouched["id"]]
    assert api.get_case(untouched["id"])["version"] == 1
    assert [e["kind"] for e in events(api, untouched["id"])] == ["case.created"]

    listed = holidays_of(api, year=2026)
    assert {"date": day, "title": PROCLAIMED["title"], "source": "added"} in listed["holidays"]
    assert listed["calendar_version"] == review["calendar_version"]
    assert [h["date"] for h in listed["holidays"]] == sorted(h["date"] for h in listed["holidays"])
    # A case referred now counts with the new day at once.
    fresh = referral(api, clock, "2026-06-10")
    assert clocks(api, fresh["id"])["rapid_review"]["due_on"] == "2026-07-02"


def test_a_proclaimed_day_moves_a_backward_clock_earlier(api: Api, clock: FixedClock) -> None:
    story = Story(api, clock, T2025.aware)
    story.to_final_report(T2025)
    # Publication Friday 10 July 2026: the report must go by Wednesday 1 July.
    story.fire("schedule_publication", "chair", "2026-06-17", planned_publication_on="2026-07-10")
    assert story.clock_of("pre_publication_notice")["due_on"] == "2026-07-01"
    response = add(api, **{**PROCLAIMED, "date": "2026-07-03"})
    assert response.status_code == 201, response.text
    notice = story.clock_of("pre_publication_notice")
    assert notice["due_on"] == "2026-06-30"
    assert notice["due_at"] == "2026-06-30T22:59:59Z"
    assert notice["anchor_on"] == "2026-07-10"
    assert events(api, story.id)[-1]["data"] == {
        "clock": "pre_publication_notice",
        "previous_due_on": "2026-07-01",
        "new_due_on": "2026-06-30",
        "holiday": "2026-07-03",
        "calendar_version": notice["calendar_version"],
    }
    # Months do not count working days: the review's clock is not touched.
    assert story.clock_of("lcspr_completion")["calendar_version"] != notice["calendar_version"]


def test_an_extended_clock_keeps_its_agreed_date(api: Api, clock: FixedClock) -> None:
    case = referral(api, clock, "2026-06-10")
    response = api.client.post(
        f"/api/v1/cases/{case['id']}/deadlines/rapid_review/extensions",
        json={"new_due_on": "2026-07-15", "reason": "Agreed with the Panel."},
        headers=api.headers("chair"),
    )
    assert response.status_code == 201, response.text
    before = clocks(api, case["id"])
    response = add(api, **{**PROCLAIMED, "date": "2026-07-03"})
    assert response.status_code == 201, response.text
    # The date agreed with the Panel stands; it is not recounted from the awareness date.
    after = clocks(api, case["id"])
    assert after["rapid_review"]["due_on"] == "2026-07-15"
    assert before["rapid_review"]["working_days_left"] == 20
    assert after["rapid_review"]["working_days_left"] == 19  # one working day fewer before it
    after["rapid_review"]["working_days_left"] = 20
    assert after == before
    assert events(api, case["id"])[-1]["kind"] == "deadline.extended"


PARTNERSHIP_ROLES = ["admin", "chair", "business", "superuser", "scrutineer", "dsp_la"]


@pytest.mark.parametrize("who", PARTNERSHIP_ROLES)
def test_no_partnership_role_adds_a_holiday(api: Api, clock: FixedClock, who: str) -> None:
    """The calendar is national: a day added moves every partnership's clocks, so even a
    partnership's administrator may not add one (platform administrators do)."""
    case = referral(api, clock, "2026-06-10")
    other = referral(api, clock, "2026-06-10", partnership="OT")
    before, tables, listed = snapshot(case["id"]), clock_tables(), holidays_of(api, year=2026)
    other_before = snapshot(other["id"])
    problem = assert_problem(add(api, who=who, **PROCLAIMED), 403, "/problems/forbidden")
    assert "only a platform administrator may change it" in problem["detail"]
    assert snapshot(case["id"]) == before
    assert snapshot(other["id"]) == other_before
    assert clock_tables() == tables
    assert holidays_of(api, year=2026) == listed


@pytest.mark.parametrize("who", PARTNERSHIP_ROLES)
def test_no_partnership_role_withdraws_a_holiday(api: Api, clock: FixedClock, who: str) -> None:
    case = referral(api, clock, "2026-06-10")
    assert add(api, **PROCLAIMED).status_code == 201
    before, tables, listed = snapshot(case["id"]), clock_tables(), holidays_of(api, year=2026)
    problem = assert_problem(withdraw(api, PROCLAIMED["date"], who=who), 403, "/problems/forbidden")
    assert "only a platform administrator may change it" in problem["detail"]
    assert snapshot(case["id"]) == before
    assert clock_tables() == tables
    assert holidays_of(api, year=2026) == listed


def test_a_withdrawn_day_moves_the_clocks_back_each_recorded(
    api: Api, clock: FixedClock, directory: Directory
) -> None:
    moved = referral(api, clock, "2026-06-10")
    elsewhere = referral(api, clock, "2026-06-10", partnership="OT")
    original = clocks(api, moved["id"])
    assert add(api, **PROCLAIMED).status_code == 201
    assert clocks(api, moved["id"])["rapid_review"]["due_on"] == "2026-07-02"

    clock.set(clock.now() + timedelta(hours=1))
    response = withdraw(api, PROCLAIMED["date"], reason="The proclamation was revoked.")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "date": PROCLAIMED["date"],
        "title": PROCLAIMED["title"],
        "withdrawn_at": "2026-06-17T10:00:00Z",
        "reason": "The proclamation was revoked.",
    }
    back = clocks(api, moved["id"])
    assert back["rapid_review"]["due_on"] == "2026-07-01"
    assert back["rapid_review"]["calendar_version"] == original["rapid_review"]["calendar_version"]
    assert clocks(api, elsewhere["id"], "OT")["rapid_review"]["due_on"] == "2026-07-01"
    for case_id, code in ((moved["id"], "TW"), (elsewhere["id"], "OT")):
        last = events(api, case_id, code)[-1]
        assert last["kind"] == "deadline.recomputed"
        assert last["actor_id"] == directory.user_ids["TW"]["platform"]
        assert last["basis"] == "A bank holiday added to the calendar was withdrawn"
        assert last["data"]["previous_due_on"] == "2026-07-02"
        assert last["data"]["new_due_on"] == "2026-07-01"
    listed = holidays_of(api, year=2026)
    assert PROCLAIMED["date"] not in [h["date"] for h in listed["holidays"]]
    # It is gone: a second withdrawal finds nothing, and a shipped day cannot be withdrawn.
    again = assert_problem(withdraw(api, PROCLAIMED["date"]), 404, "/problems/holiday-not-added")
    assert "only an added day can be withdrawn" in again["detail"]
    assert_problem(withdraw(api, "2026-08-31"), 404, "/problems/holiday-not-added")
    # The day may be added again (a proclamation made anew).
    assert add(api, **PROCLAIMED).status_code == 201


@pytest.mark.parametrize("body", [{"reason": "  "}, {"reason": "x", "extra": 1}, {}])
def test_a_withdrawal_needs_its_reason(api: Api, clock: FixedClock, body: dict[str, Any]) -> None:
    assert add(api, **PROCLAIMED).status_code == 201
    listed = holidays_of(api, year=2026)
    response = api.client.post(
        f"/api/v1/calendar/holidays/{PROCLAIMED['date']}/withdrawal",
        json=body,
        headers=api.headers("platform"),
    )
    assert_problem(response, 422, "/problems/invalid-data")
    assert holidays_of(api, year=2026) == listed


@pytest.mark.parametrize(
    ("day", "says"),
    [
        ("2026-06-27", "Saturday"),
        ("2026-06-28", "Sunday"),
        ("2026-08-31", "Summer bank holiday"),  # shipped
        ("2026-12-25", "Christmas Day"),
        ("2030-04-22", "Easter Monday"),  # computed
        ("2026-06-26", PROCLAIMED["title"]),  # added a moment ago
    ],
)
def test_a_day_that_is_no_working_day_already_is_refused(
    api: Api, clock: FixedClock, day: str, says: str
) -> None:
    case = referral(api, clock, "2026-06-10")
    assert add(api, **PROCLAIMED).status_code == 201
    before, tables = snapshot(case["id"]), clock_tables()
    listed = holidays_of(api, year=int(day[:4]))
    response = add(api, **{**PROCLAIMED, "date": day, "title": "Another day"})
    problem = assert_problem(response, 422, "/problems/holiday-refused")
    assert says in problem["detail"], problem
    assert snapshot(case["id"]) == before
    assert clock_tables() == tables
    assert holidays_of(api, year=int(day[:4])) == listed


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2026-06-26"},
        {"date": "2026-06-26", "title": "  "},
        {"date": "26/06/2026", "title": "x"},
        {**PROCLAIMED, "source": "added"},
    ],
    ids=["no-title", "blank-title", "not-iso", "unknown-field"],
)
def test_a_malformed_holiday_is_refused(api: Api, clock: FixedClock, body: dict[str, Any]) -> None:
    case = referral(api, clock, "2026-06-10")
    before, tables = snapshot(case["id"]), clock_tables()
    assert_problem(add(api, **body), 422, "/problems/invalid-data")
    assert snapshot(case["id"]) == before
    assert clock_tables() == tables


def test_the_calendar_is_read_once_per_transaction_and_afresh_in_the_next(
    api: Api, clock: FixedClock
) -> None:
    """A transition and the case it answers with count with one reading of the calendar; a day
    another process adds in between is counted from the next transaction on."""
    day = date.fromisoformat(PROCLAIMED["date"])
    with Session(get_engine()) as session:
        first = deadline_service.current_calendar(session)
        assert deadline_service.current_calendar(session) is first
        assert first.holiday(day) is None
        # Another request adds the day and commits.
        added = add(api, **PROCLAIMED)
        assert added.status_code == 201, added.text
        assert deadline_service.current_calendar(session) is first
        session.rollback()
        later = deadline_service.current_calendar(session)
        assert later is not first
        assert later.holiday(day) == PROCLAIMED["title"]
