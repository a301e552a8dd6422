"""The report's period (defaults, bounds, refusals naming the parameter) and its statistics
(the median, and the 90th percentile by nearest rank)."""

from __future__ import annotations

from datetime import date

import pytest

from cspr_engine.reports.exceptions import InvalidPeriod
from cspr_engine.reports.service import (
    Period,
    financial_year,
    median,
    nearest_rank,
    resolve_period,
)
from tests.factories import Api, assert_problem

REPORT = "/api/v1/reports/timeliness"
TODAY = date(2026, 6, 17)


class TestFinancialYear:
    @pytest.mark.parametrize(
        ("day", "year"),
        [
            (date(2026, 4, 1), (date(2026, 4, 1), date(2027, 3, 31))),
            (date(2026, 6, 17), (date(2026, 4, 1), date(2027, 3, 31))),
            (date(2027, 3, 31), (date(2026, 4, 1), date(2027, 3, 31))),
            (date(2026, 3, 31), (date(2025, 4, 1), date(2026, 3, 31))),
            (date(2026, 1, 1), (date(2025, 4, 1), date(2026, 3, 31))),
        ],
    )
    def test_it_runs_from_1_april_to_31_march(self, day: date, year: tuple[date, date]) -> None:
        assert financial_year(day) == year

    def test_a_period_names_its_financial_year_only_when_it_is_exactly_one(self) -> None:
        assert Period(date(2026, 4, 1), date(2027, 3, 31)).financial_year == "2026/27"
        assert Period(date(1999, 4, 1), date(2000, 3, 31)).financial_year == "1999/00"
        assert Period(date(2026, 4, 1), date(2027, 3, 30)).financial_year is None
        assert Period(date(2026, 4, 2), date(2027, 3, 31)).financial_year is None


class TestResolvePeriod:
    def test_neither_bound_is_the_financial_year_of_today(self) -> None:
        assert resolve_period(start=None, end=None, today=TODAY) == Period(
            date(2026, 4, 1), date(2027, 3, 31)
        )
        assert resolve_period(start=None, end=None, today=date(2026, 3, 31)) == Period(
            date(2025, 4, 1), date(2026, 3, 31)
        )

    def test_one_bound_takes_the_other_from_its_financial_year(self) -> None:
        assert resolve_period(start=date(2025, 9, 1), end=None, today=TODAY) == Period(
            date(2025, 9, 1), date(2026, 3, 31)
        )
        assert resolve_period(start=None, end=date(2025, 9, 1), today=TODAY) == Period(
            date(2025, 4, 1), date(2025, 9, 1)
        )

    def test_one_day_is_a_period(self) -> None:
        day = date(2026, 5, 4)
        assert resolve_period(start=day, end=day, today=TODAY) == Period(day, day)

    def test_five_years_exactly_is_the_longest(self) -> None:
        longest = Period(date(2021, 4, 1), date(2026, 3, 31))
        assert resolve_period(start=longest.start, end=longest.end, today=TODAY) == longest
        with pytest.raises(InvalidPeriod) as refused:
            resolve_period(start=date(2021, 4, 1), end=date(2026, 4, 1), today=TODAY)
        assert refused.value.extensions["parameter"] == "to"

    def test_from_after_to_is_refused_naming_to(self) -> None:
        with pytest.raises(InvalidPeriod) as refused:
            resolve_period(start=date(2026, 5, 2), end=date(2026, 5, 1), today=TODAY)
        assert refused.value.extensions["parameter"] == "to"
        assert refused.value.detail == "to must be on or after from (2026-05-02)."

    @pytest.mark.parametrize(
        ("start", "end", "parameter"),
        [
            (date(1899, 12, 31), None, "from"),
            (date(9999, 12, 31), None, "from"),
            (None, date(3000, 1, 1), "to"),
            (None, date(1, 1, 1), "to"),
        ],
    )
    def test_dates_no_case_can_have_are_refused(
        self, start: date | None, end: date | None, parameter: str
    ) -> None:
        # 31 December 9999's financial year would end in a year Python has no dates for.
        with pytest.raises(InvalidPeriod) as refused:
            resolve_period(start=start, end=end, today=TODAY)
        assert refused.value.extensions["parameter"] == parameter


class TestStatistics:
    def test_the_median_is_the_middle_value_or_the_mean_of_the_two(self) -> None:
        assert median([7]) == 7.0
        assert median([5, 1, 7, 2, 5]) == 5.0
        assert median([22, 20]) == 21.0
        assert median([9, 17, 4, 1]) == 6.5
        assert median([]) is None

    @pytest.mark.parametrize(
        ("values", "p90"),
        [
            ([7], 7),  # rank ceil(0.9) = 1
            ([20, 22], 22),  # rank ceil(1.8) = 2
            ([23, 9, 17], 23),  # rank ceil(2.7) = 3
            ([1, 2, 5, 5, 7], 7),  # rank ceil(4.5) = 5
            (list(range(1, 11)), 9),  # rank ceil(9.0) = 9: no rounding up past an exact rank
            (list(range(1, 12)), 10),  # rank ceil(9.9) = 10
            (list(range(1, 21)), 18),  # rank 18
            ([3, 3, 3, 3], 3),
            ([], None),
        ],
    )
    def test_the_90th_percentile_is_the_nearest_rank(
        self, values: list[int], p90: int | None
    ) -> None:
        assert nearest_rank(values, 90) == p90

    def test_other_percentiles_by_the_same_method(self) -> None:
        values = [15, 20, 35, 40, 50]  # the textbook example of the nearest-rank method
        assert [nearest_rank(values, p) for p in (5, 30, 40, 50, 100)] == [15, 20, 20, 35, 50]
        assert nearest_rank(values, 0) == 15  # rank at least 1


class TestRefusedOverHttp:
    @pytest.mark.parametrize(
        ("params", "parameter"),
        [
            ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
            ({"from": "2020-01-01", "to": "2025-01-01"}, "to"),
            ({"from": "1066-10-14"}, "from"),
            ({"to": "3000-01-01"}, "to"),
        ],
    )
    def test_a_period_that_cannot_be_is_a_422_naming_the_parameter(
        self, api: Api, params: dict[str, str], parameter: str
    ) -> None:
        response = api.client.get(REPORT, params=params, headers=api.headers("scrutineer"))
        body = assert_problem(response, 422, "/problems/invalid-period")
        assert body["parameter"] == parameter
        assert parameter in body["detail"]

    @pytest.mark.parametrize(
        ("params", "loc"),
        [
            ({"from": "17/06/2026"}, "query.from"),
            ({"from": "2026-02-30"}, "query.from"),
            ({"to": "20260617"}, "query.to"),
            ({"to": "2026-06-17T00:00:00"}, "query.to"),
            ({"from": ""}, "query.from"),
        ],
    )
    def test_a_date_not_written_yyyy_mm_dd_is_a_422_naming_the_parameter(
        self, api: Api, params: dict[str, str], loc: str
    ) -> None:
        response = api.client.get(REPORT, params=params, headers=api.headers("scrutineer"))
        body = assert_problem(response, 422, "/problems/invalid-data")
        assert [e["loc"] for e in body["errors"]] == [loc]
