"""Working days in England & Wales: statutory-process.md §5 (test vectors) and §10 (one-off
holidays, substitute days), years past the shipped snapshot, calendar months, and the notice
period guard that rests on them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_engine.deadlines.calendar import WorkingCalendar, add_months, get_calendar
from cspr_engine.workflow.registry import GuardContext, working_days_between


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return get_calendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


# -- §5 item 6: the test vectors ------------------------------------------------------------

FORWARD = [
    # start, working days, due
    ("2023-05-04", 5, "2023-05-12"),  # Mon 8 May 2023 coronation skipped
    ("2023-05-04", 15, "2023-05-26"),
    ("2022-05-27", 5, "2022-06-07"),  # Mon 30 May 2022 worked; 2 & 3 June were holidays
    ("2022-09-14", 5, "2022-09-22"),  # Mon 19 Sep 2022 state funeral
    ("2022-12-23", 5, "2023-01-04"),
    ("2022-12-23", 15, "2023-01-18"),
    ("2024-03-27", 5, "2024-04-05"),  # Good Friday 29 Mar, Easter Monday 1 Apr 2024
    ("2024-03-27", 15, "2024-04-19"),
    ("2025-12-24", 5, "2026-01-05"),
    ("2025-12-24", 15, "2026-01-19"),
    ("2023-12-23", 5, "2024-01-03"),  # a Saturday start: Monday 25 is Christmas anyway
]

BACKWARD = [
    # publication date, working days before, latest send date
    ("2023-05-15", 7, "2023-05-03"),
    ("2025-01-06", 7, "2024-12-23"),
    ("2024-04-08", 7, "2024-03-26"),
]


@pytest.mark.parametrize(("start", "days", "due"), FORWARD)
def test_forward_vectors(calendar: WorkingCalendar, start: str, days: int, due: str) -> None:
    assert calendar.add_working_days(d(start), days) == d(due)
    assert calendar.is_working_day(d(due))
    assert calendar.working_days_between(d(start), d(due)) == days


@pytest.mark.parametrize(("anchor", "days", "latest"), BACKWARD)
def test_backward_vectors(calendar: WorkingCalendar, anchor: str, days: int, latest: str) -> None:
    assert calendar.subtract_working_days(d(anchor), days) == d(latest)
    assert calendar.is_working_day(d(latest))
    assert calendar.working_days_between(d(latest), d(anchor)) == days


def test_a_saturday_start_counts_the_monday_as_day_one(calendar: WorkingCalendar) -> None:
    saturday = d("2026-06-13")
    assert saturday.weekday() == 5
    assert calendar.add_working_days(saturday, 1) == d("2026-06-15")
    assert calendar.add_working_days(d("2026-06-14"), 1) == d("2026-06-15")  # Sunday too
    assert calendar.add_working_days(saturday, 5) == d("2026-06-19")


def test_zero_working_days_is_the_start_itself(calendar: WorkingCalendar) -> None:
    assert calendar.add_working_days(d("2023-05-08"), 0) == d("2023-05-08")
    assert calendar.subtract_working_days(d("2023-05-08"), 0) == d("2023-05-08")


# -- §10: one-off and moved holidays, substitute days ---------------------------------------

NOT_WORKING = [
    ("2012-06-04", "Spring bank holiday moved for the Diamond Jubilee"),
    ("2012-06-05", "Queen's Diamond Jubilee"),
    ("2020-05-08", "Early May bank holiday moved to VE Day"),
    ("2022-06-02", "Spring bank holiday moved for the Platinum Jubilee"),
    ("2022-06-03", "Platinum Jubilee"),
    ("2022-09-19", "State funeral of Queen Elizabeth II"),
    ("2023-05-01", "Early May bank holiday"),
    ("2023-05-08", "Coronation of King Charles III"),
    ("2021-12-27", "Christmas Day substitute"),
    ("2021-12-28", "Boxing Day substitute"),
    ("2022-01-03", "New Year's Day substitute"),
    ("2022-12-27", "Christmas Day substitute"),
    ("2023-01-02", "New Year's Day substitute"),
    ("2026-12-28", "Boxing Day substitute"),
    ("2027-12-27", "Christmas Day substitute"),
    ("2027-12-28", "Boxing Day substitute"),
    ("2028-01-03", "New Year's Day substitute"),
    ("2024-03-29", "Good Friday"),
    ("2024-04-01", "Easter Monday"),
    ("2025-12-25", "Christmas Day"),
    ("2025-12-26", "Boxing Day"),
]

WORKING = [
    ("2012-05-28", "the usual last Monday in May, moved in 2012"),
    ("2020-05-04", "the usual first Monday in May, moved to 8 May in 2020"),
    ("2022-05-30", "the usual last Monday in May, moved in 2022"),
    ("2023-05-09", "the day after the coronation"),
    ("2026-12-29", "after the 2026 substitute"),
    ("2027-12-29", "after the 2027 substitutes"),
    ("2028-01-04", "after the 2028 substitute"),
]


@pytest.mark.parametrize(("day", "why"), NOT_WORKING)
def test_holidays_are_not_working_days(calendar: WorkingCalendar, day: str, why: str) -> None:
    assert d(day).weekday() < 5, why
    assert not calendar.is_working_day(d(day)), why
    assert calendar.holiday(d(day)) is not None


@pytest.mark.parametrize(("day", "why"), WORKING)
def test_ordinary_weekdays_are_working_days(calendar: WorkingCalendar, day: str, why: str) -> None:
    assert d(day).weekday() < 5, why
    assert calendar.is_working_day(d(day)), why
    assert calendar.holiday(d(day)) is None


def test_weekends_are_not_working_days(calendar: WorkingCalendar) -> None:
    assert not calendar.is_working_day(d("2026-06-13"))
    assert not calendar.is_working_day(d("2026-06-14"))
    assert calendar.is_working_day(d("2026-06-15"))


def test_the_ve_day_week_of_2020(calendar: WorkingCalendar) -> None:
    # Mon 4 May 2020 worked, Fri 8 May did not: four working days that week.
    assert calendar.working_days_between(d("2020-05-03"), d("2020-05-09")) == 4
    assert calendar.add_working_days(d("2020-05-01"), 1) == d("2020-05-04")
    assert calendar.add_working_days(d("2020-05-07"), 1) == d("2020-05-11")


# -- years past the snapshot, computed with the `holidays` package --------------------------

BEYOND = [
    ("2029-01-01", "New Year's Day"),
    ("2029-05-07", "Early May bank holiday"),
    ("2029-12-25", "Christmas Day"),
    ("2029-12-26", "Boxing Day"),
    ("2030-04-19", "Good Friday"),
    ("2030-04-22", "Easter Monday"),
    ("2030-12-25", "Christmas Day"),
    ("2030-12-26", "Boxing Day"),
    ("2032-12-27", "Christmas Day substitute (25 Dec 2032 is a Saturday)"),
    ("2032-12-28", "Boxing Day substitute"),
]


def test_the_snapshot_ends_before_the_computed_years(calendar: WorkingCalendar) -> None:
    assert calendar.covers_to < d("2029-01-01")
    assert not any(day.year >= 2029 for day in calendar.snapshot)


@pytest.mark.parametrize(("day", "why"), BEYOND)
def test_years_past_the_snapshot(calendar: WorkingCalendar, day: str, why: str) -> None:
    assert d(day).weekday() < 5, why
    assert not calendar.is_working_day(d(day)), why


def test_years_past_the_snapshot_keep_ordinary_days(calendar: WorkingCalendar) -> None:
    for day in ("2029-04-30", "2029-05-08", "2030-04-23", "2030-05-07", "2029-12-27"):
        assert calendar.is_working_day(d(day)), day
    # Easter Monday 2030 is 22 April; the Monday before is an ordinary day.
    assert calendar.is_working_day(d("2030-04-15"))


def test_counting_across_the_end_of_the_snapshot(calendar: WorkingCalendar) -> None:
    # Fri 22 Dec 2028: 25, 26 Dec 2028 from the snapshot, 1 Jan 2029 computed.
    assert calendar.add_working_days(d("2028-12-22"), 5) == d("2029-01-03")
    assert calendar.subtract_working_days(d("2029-01-03"), 5) == d("2028-12-22")


def test_a_year_past_the_snapshot_lists_its_holidays(calendar: WorkingCalendar) -> None:
    days = [day for day, _ in calendar.non_working_days(2030)]
    assert days == [
        d("2030-01-01"),
        d("2030-04-19"),
        d("2030-04-22"),
        d("2030-05-06"),
        d("2030-05-27"),
        d("2030-08-26"),
        d("2030-12-25"),
        d("2030-12-26"),
    ]


def test_added_days_count_as_holidays(calendar: WorkingCalendar) -> None:
    extra = WorkingCalendar(
        snapshot=calendar.snapshot,
        snapshot_version=calendar.snapshot_version,
        covers_to=calendar.covers_to,
        additions={d("2031-06-02"): "A newly proclaimed holiday"},
    )
    assert calendar.is_working_day(d("2031-06-02"))
    assert not extra.is_working_day(d("2031-06-02"))
    assert extra.version.startswith(calendar.version + "+added-")
    # The version names the additions themselves, not only how many there are.
    other = calendar.with_additions({d("2031-06-03"): "Another proclaimed day"})
    assert other.version.startswith(calendar.version + "+added-")
    assert other.version != extra.version


# -- working_days_between -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        ("2023-05-04", "2023-05-04", 0),
        ("2023-05-04", "2023-05-05", 1),
        ("2023-05-05", "2023-05-08", 0),  # Friday to the coronation Monday
        ("2023-05-05", "2023-05-09", 1),
        ("2023-05-04", "2023-05-12", 5),
        ("2023-05-12", "2023-05-04", -5),
        ("2026-06-13", "2026-06-14", 0),  # a weekend
        ("2025-12-24", "2026-01-19", 15),
    ],
)
def test_working_days_between(calendar: WorkingCalendar, start: str, end: str, count: int) -> None:
    assert calendar.working_days_between(d(start), d(end)) == count


def test_working_days_between_agrees_with_adding(calendar: WorkingCalendar) -> None:
    start = d("2022-05-20")
    for n in range(0, 40):
        assert calendar.working_days_between(start, calendar.add_working_days(start, n)) == n


# -- calendar months (D7) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "due"),
    [
        ("2026-08-31", 6, "2027-02-28"),
        ("2027-08-31", 6, "2028-02-29"),  # 2028 is a leap year
        ("2026-06-17", 6, "2026-12-17"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2026-03-31", 1, "2026-04-30"),
        ("2026-12-31", 2, "2027-02-28"),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(start: str, months: int, due: str) -> None:
    assert add_months(d(start), months) == d(due)


def test_add_months_is_not_a_number_of_days() -> None:
    assert add_months(d("2026-08-31"), 6) != d("2026-08-31") + timedelta(days=182)


# -- the notice-period guard (D8) -----------------------------------------------------------


def guard_context(calendar: WorkingCalendar, **overrides: Any) -> GuardContext:
    values: dict[str, Any] = {
        "state": "s",
        "trigger": "t",
        "data": {},
        "recorded": {},
        "gates": {},
        "today": d("2023-05-04"),
        "calendar": calendar,
        "open_actions": 0,
        "params": {"from": "sent_on", "to": "planned_on", "at_least": 7},
    }
    values.update(overrides)
    return GuardContext(**values)


def count_forward(start: date, n: int, holidays: set[date]) -> date:
    """An independent count: weekdays that are not in `holidays`."""
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            counted += 1
    return day


def test_the_guard_names_the_earliest_lawful_date(calendar: WorkingCalendar) -> None:
    sent, planned = d("2023-05-04"), d("2023-05-12")
    earliest = count_forward(sent, 7, {d("2023-05-08")})
    assert earliest == d("2023-05-16")  # a week and a day: the coronation holiday in between
    ctx = guard_context(calendar, data={"sent_on": sent, "planned_on": planned})
    refusal = working_days_between(ctx)
    assert refusal is not None
    assert refusal.extensions == {
        "earliest_lawful_date": earliest.isoformat(),
        "working_days_required": 7,
    }
    assert "earliest lawful date is 2023-05-16" in refusal.detail
    assert "planned_on 2023-05-12" in refusal.detail
    assert "sent_on 2023-05-04" in refusal.detail


@pytest.mark.parametrize(
    ("planned", "allowed"),
    [("2023-05-15", False), ("2023-05-16", True), ("2023-05-17", True), ("2023-05-04", False)],
)
def test_the_guard_allows_from_the_earliest_lawful_date(
    calendar: WorkingCalendar, planned: str, allowed: bool
) -> None:
    ctx = guard_context(calendar, data={"sent_on": d("2023-05-04"), "planned_on": d(planned)})
    assert (working_days_between(ctx) is None) is allowed


def test_the_guard_reads_what_an_earlier_trigger_recorded(calendar: WorkingCalendar) -> None:
    params = {"from": "send.sent_on", "to": "published_on", "at_least": 7}
    ctx = guard_context(
        calendar,
        params=params,
        data={"published_on": d("2024-04-05")},
        recorded={"send": {"sent_on": d("2024-03-27")}},
    )
    refusal = working_days_between(ctx)
    # 27 Mar 2024 + 7 working days: Good Friday and Easter Monday in between.
    assert refusal is not None
    assert refusal.extensions["earliest_lawful_date"] == "2024-04-09"
    assert refusal.detail.startswith("published_on 2024-04-05 is fewer than 7 working days")
    ok = guard_context(
        calendar,
        params=params,
        data={"published_on": d("2024-04-09")},
        recorded={"send": {"sent_on": d("2024-03-27")}},
    )
    assert working_days_between(ok) is None


def test_the_guard_needs_both_dates(calendar: WorkingCalendar) -> None:
    refusal = working_days_between(guard_context(calendar, data={"sent_on": d("2023-05-04")}))
    assert refusal is not None
    assert "both needed" in refusal.detail
    assert refusal.extensions == {}


# -- working days between two dates, counted without walking each day ----------------------


def count_day_by_day(calendar: WorkingCalendar, start: date, end: date) -> int:
    """The definition, one day at a time."""
    if end < start:
        return -count_day_by_day(calendar, end, start)
    return sum(
        1
        for offset in range(1, (end - start).days + 1)
        if calendar.is_working_day(start + timedelta(days=offset))
    )


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    start=st.dates(min_value=date(2018, 1, 1), max_value=date(2032, 12, 31)),
    span=st.integers(min_value=-800, max_value=800),
    added=st.sets(st.dates(min_value=date(2018, 1, 1), max_value=date(2033, 12, 31)), max_size=3),
)
def test_working_days_between_counts_as_walking_each_day_would(
    start: date, span: int, added: set[date]
) -> None:
    """Across the snapshot's end, computed years, weekends, proclaimed days (on weekends too)."""
    calendar = get_calendar().with_additions(dict.fromkeys(added, "Proclaimed"))
    end = start + timedelta(days=span)
    assert calendar.working_days_between(start, end) == count_day_by_day(calendar, start, end)
