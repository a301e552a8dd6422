"""The timeliness and activity report against the fixture set (tests/reports/support.py):
every figure worked out by hand below, for the financial year 2026/27 (the default), for April
2026 alone, and for the financial year before; the CSV read back with the `csv` module gives
the same figures.

Working days are England & Wales working days after the start date up to and including the
end date (Good Friday 3 April, Easter Monday 6 April, 4 May and 25 May 2026 are holidays).
Percentiles: nearest rank, the value at rank ceil(0.9 * n) of the n values in order."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from cspr_engine.kit.clock import FixedClock
from cspr_engine.workflow.service import latest
from tests.factories import Api
from tests.reports.support import Driver, build

REPORT = "/api/v1/reports/timeliness"


@pytest.fixture
def cases(api: Api, clock: FixedClock) -> Driver:
    return build(api, clock)


def get(api: Api, who: str = "scrutineer", partnership: str = "TW", **params: str) -> Any:
    response = api.client.get(REPORT, params=params, headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def clock(
    key: str,
    due: int,
    on_time: int,
    late: int,
    breached: int,
    open_: int,
    open_breached: int,
    cancelled: int,
    extended: int,
    timed: int,
    median: float | None,
    p90: int | None,
) -> dict[str, Any]:
    """A clock's expected figures, named as the workflow names the clock."""
    definition = latest("cspr").clocks[key]
    assert due == on_time + late + breached + open_ + cancelled, "the outcomes must add up"
    return {
        "label": definition.label,
        "rule": definition.rule,
        "basis": definition.basis,
        "due_in_period": due,
        "met_on_time": on_time,
        "met_late": late,
        "breached": breached,
        "open": open_,
        "open_breached": open_breached,
        "cancelled": cancelled,
        "extended": extended,
        "timed": timed,
        "median_working_days": median,
        "p90_working_days": p90,
    }


def outcomes(
    agrees_lcspr: int = 0,
    agrees_no_lcspr: int = 0,
    national_review: int = 0,
    further_information_requested: int = 0,
) -> dict[str, int]:
    return {
        "agrees_lcspr": agrees_lcspr,
        "agrees_no_lcspr": agrees_no_lcspr,
        "national_review": national_review,
        "further_information_requested": further_information_requested,
    }


# -- the financial year 2026/27 ----------------------------------------------------------------

# Activity, by each event's own date:
#   referrals (became_aware_on): A 1 Apr, F 7 Apr, D 20 Apr, B 1 May, C 18 May, E 15 Jun = 6
#     (P, aware 25 March, and Q, 2 March, are the year before)
#   notifications (notified_on): P 1 Apr, A 2 Apr, F 14 Apr, B 13 May, C 20 May = 5
#   rapid reviews completed: A 14 Apr, F 27 Apr, B 3 Jun and again 15 Jun = 4
#   the Panel: A agrees 22 Apr, F agrees 6 May; B asks for more 12 Jun, then no LCSPR 17 Jun
#   LCSPRs: commissioned A 24 Apr, F 8 May; final reports A 14 May, F 1 Jun; A published
#   5 Jun; F withheld 12 Jun (recorded that day)
#
# panel_notification (5 working days from became_aware_on), due in the year:
#   P due 1 Apr, notified 1 Apr: on time, 5 days (26, 27, 30, 31 Mar, 1 Apr)
#   A due 10 Apr, notified 2 Apr: on time, 1 day
#   F due 14 Apr, notified 14 Apr: on time, 5 days (8, 9, 10, 13, 14 Apr)
#   D due 27 Apr, referred 29 Apr (breached at once), then not notifiable: breached, closed
#   B due 11 May, notified 13 May: late, 7 days (5-8, 11-13 May)
#   C due 26 May, notified 20 May: on time, 2 days
#   E due 22 Jun: open, not yet due
#   -> 7 due: 4 on time, 1 late, 1 breached, 1 open; times 1, 2, 5, 5, 7: median 5,
#      90th percentile rank ceil(4.5) = 5 -> 7
# rapid_review (15 working days from became_aware_on), due in the year:
#   P due 17 Apr, withdrawn 16 Apr: cancelled in time
#   A due 24 Apr, submitted 16 Apr: on time, 9 days
#   F due 28 Apr, submitted 30 Apr: late, 17 days
#   D due 12 May, closed 29 Apr: cancelled in time
#   B due 26 May, extended on 20 May to 9 Jun, submitted 5 Jun: on time, 23 days
#   C due 9 Jun, never submitted: open and overdue, 6 working days (10-12, 15-17 Jun)
#   E due 6 Jul: open, not yet due
#   -> 7 due: 2 on time, 1 late, 2 open (1 overdue), 2 cancelled, 1 extended; times 9, 17,
#      23: median 17, 90th percentile rank ceil(2.7) = 3 -> 23
# lcspr_completion (6 months from the DSPs' agreement):
#   A agreed 15 Apr, due 15 Oct, final report 14 May: on time, 20 days
#   F agreed 28 Apr, due 28 Oct, delay recorded 29 May to 30 Nov, final report 1 Jun: on
#   time, 22 days, extended
#   -> 2 due, both on time, 1 extended; median (20 + 22) / 2 = 21, rank ceil(1.8) = 2 -> 22
# pre_publication_notice (7 working days before the planned publication; not timed):
#   A planned 5 Jun, due 27 May, sent 20 May: on time
#   F planned 15 Jun, due 4 Jun, sent 5 Jun: late
# Improvement actions (today, 17 June): open A's due 10 Jun (overdue), A's in progress due
# 31 Jul, C's due today (not yet overdue) = 3 open, 1 overdue; B's completed 16 Jun = 1
# (Q's was completed 31 March, the year before; B's other one was closed with a rationale).
# Not counted: the OT case shared with TW, and its overdue action.
FY_2026: dict[str, Any] = {
    "activity": {
        "referrals": 6,
        "notifications": 5,
        "rapid_reviews_completed": 4,
        "panel_outcomes": outcomes(
            agrees_lcspr=2, agrees_no_lcspr=1, further_information_requested=1
        ),
        "lcspr_commissioned": 2,
        "lcspr_completed": 2,
        "lcspr_published": 1,
        "lcspr_withheld": 1,
    },
    "clocks": {
        "panel_notification": clock("panel_notification", 7, 4, 1, 1, 1, 0, 0, 0, 5, 5.0, 7),
        "rapid_review": clock("rapid_review", 7, 2, 1, 0, 2, 1, 2, 1, 3, 17.0, 23),
        "lcspr_completion": clock("lcspr_completion", 2, 2, 0, 0, 0, 0, 0, 1, 2, 21.0, 22),
        "pre_publication_notice": clock(
            "pre_publication_notice", 2, 1, 1, 0, 0, 0, 0, 0, 0, None, None
        ),
    },
    "actions": {"open": 3, "overdue": 1, "completed": 1},
}


def test_the_financial_year_figures_are_the_hand_computed_ones(api: Api, cases: Driver) -> None:
    report = get(api)  # no period: the financial year containing 17 June 2026

    assert report["partnership"] == "TW"
    assert report["period"] == {
        "from": "2026-04-01",
        "to": "2027-03-31",
        "financial_year": "2026/27",
    }
    assert report["as_of"] == "2026-06-17T09:00:00Z"
    assert report["figures"] == FY_2026
    assert report["open_breaches"] == [
        {
            "case_id": cases.cases["C"]["id"],
            "case_reference": cases.ref("C"),
            "clock": "rapid_review",
            "label": latest("cspr").clocks["rapid_review"].label,
            "rule": "D5",
            "due_on": "2026-06-09",
            "working_days_overdue": 6,
        }
    ]
    assert report["extensions"] == [
        {
            "case_id": cases.cases["B"]["id"],
            "case_reference": cases.ref("B"),
            "clock": "rapid_review",
            "previous_due_on": "2026-05-26",
            "new_due_on": "2026-06-09",
            "reason": "Police disclosure is delayed.",
            "agreed_with": "The Panel secretariat",
            "source": "api",
            "extended_on": "2026-05-20",
        },
        {
            "case_id": cases.cases["F"]["id"],
            "case_reference": cases.ref("F"),
            "clock": "lcspr_completion",
            "previous_due_on": "2026-10-28",
            "new_due_on": "2026-11-30",
            "reason": "The reviewer is unwell.",
            "agreed_with": None,
            "source": "trigger:record_delay",
            "extended_on": "2026-05-29",
        },
    ]
    # Every figure is defined, by the path it is found at.
    definitions = report["definitions"]
    for name in FY_2026["activity"]:
        assert f"activity.{name}" in definitions
    for name in FY_2026["clocks"]["rapid_review"]:
        if name not in ("label", "rule", "basis"):
            assert f"clocks.{name}" in definitions
    for name in FY_2026["actions"]:
        assert f"actions.{name}" in definitions
    assert "nearest-rank" in definitions["clocks.p90_working_days"]

    # The same period asked for explicitly is the same report.
    assert get(api, **{"from": "2026-04-01", "to": "2027-03-31"}) == report
    # Only `from`: to the end of its financial year; only `to`: from the start of its year.
    assert get(api, **{"from": "2026-04-01"}) == report
    assert get(api, to="2027-03-31") == report


# -- April 2026 alone ----------------------------------------------------------------------------

# referrals A, F, D = 3; notifications P, A, F = 3; rapid reviews completed A, F = 2; the
# Panel agreed A's local review (22 Apr) = 1; A's commissioned (24 Apr) = 1; nothing
# completed, published or withheld.
# panel_notification due in April: P 1 Apr, A 10 Apr, F 14 Apr on time (5, 1, 5 days), D
# 27 Apr breached: median 5, rank ceil(2.7) = 3 -> 5
# rapid_review due in April: P 17 Apr cancelled, A 24 Apr on time (9), F 28 Apr late (17):
# median 13, rank ceil(1.8) = 2 -> 17. No other clock is due in April; no extension; the
# open breach (C's, due 9 June) is not April's. Actions open and overdue are as of today;
# none was completed in April.
APRIL_2026: dict[str, Any] = {
    "activity": {
        "referrals": 3,
        "notifications": 3,
        "rapid_reviews_completed": 2,
        "panel_outcomes": outcomes(agrees_lcspr=1),
        "lcspr_commissioned": 1,
        "lcspr_completed": 0,
        "lcspr_published": 0,
        "lcspr_withheld": 0,
    },
    "clocks": {
        "panel_notification": clock("panel_notification", 4, 3, 0, 1, 0, 0, 0, 0, 3, 5.0, 5),
        "rapid_review": clock("rapid_review", 3, 1, 1, 0, 0, 0, 1, 0, 2, 13.0, 17),
        "lcspr_completion": clock("lcspr_completion", 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None),
        "pre_publication_notice": clock(
            "pre_publication_notice", 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None
        ),
    },
    "actions": {"open": 3, "overdue": 1, "completed": 0},
}


# -- the financial year 2025/26 --------------------------------------------------------------------

# referrals Q (2 Mar), P (25 Mar) = 2; notifications Q (4 Mar) = 1 (P's, 1 April, is the
# next year's). panel_notification: Q due 9 Mar, notified 4 Mar: on time, 2 days (P's is due
# 1 April). rapid_review: Q due 23 Mar, never submitted: open and overdue, 58 working days to
# 17 June (24 Mar to 2 Apr: 8; 7 Apr to 1 May: 19; 5 to 29 May, less the 25th: 18; 1 to 17
# June: 13). Actions: Q's completed 31 March.
FY_2025: dict[str, Any] = {
    "activity": {
        "referrals": 2,
        "notifications": 1,
        "rapid_reviews_completed": 0,
        "panel_outcomes": outcomes(),
        "lcspr_commissioned": 0,
        "lcspr_completed": 0,
        "lcspr_published": 0,
        "lcspr_withheld": 0,
    },
    "clocks": {
        "panel_notification": clock("panel_notification", 1, 1, 0, 0, 0, 0, 0, 0, 1, 2.0, 2),
        "rapid_review": clock("rapid_review", 1, 0, 0, 0, 1, 1, 0, 0, 0, None, None),
        "lcspr_completion": clock("lcspr_completion", 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None),
        "pre_publication_notice": clock(
            "pre_publication_notice", 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None
        ),
    },
    "actions": {"open": 3, "overdue": 1, "completed": 1},
}


def test_other_periods_count_only_what_happened_or_fell_due_in_them(
    api: Api, cases: Driver
) -> None:
    report = get(api, **{"from": "2026-04-01", "to": "2026-04-30"})
    assert report["period"] == {"from": "2026-04-01", "to": "2026-04-30", "financial_year": None}
    assert report["figures"] == APRIL_2026
    assert report["open_breaches"] == []
    assert report["extensions"] == []

    # The financial year before: its open breach is listed, still open.
    report = get(api, to="2026-03-31")
    assert report["period"] == {
        "from": "2025-04-01",
        "to": "2026-03-31",
        "financial_year": "2025/26",
    }
    assert report["figures"] == FY_2025
    assert [
        (b["case_reference"], b["clock"], b["due_on"], b["working_days_overdue"])
        for b in report["open_breaches"]
    ] == [(cases.ref("Q"), "rapid_review", "2026-03-23", 58)]


# -- the other partnership ------------------------------------------------------------------------


def test_another_partnership_counts_its_own_case_only(api: Api, cases: Driver) -> None:
    # OT's one case: aware Mon 11 May, notification due 18 May, notified 20 May (late, 7
    # working days: 12-15, 18-20 May); its rapid review due 2 June (15 working days, 25 May a
    # holiday), not submitted: 11 working days overdue (3-5, 8-12, 15-17 June). Its action,
    # due 1 June, is open and overdue. TW's cases shared with nobody are not OT's business.
    report = get(api, "scrutineer", "OT")
    assert report["partnership"] == "OT"
    figures = report["figures"]
    assert figures["activity"]["referrals"] == 1
    assert figures["activity"]["notifications"] == 1
    assert figures["clocks"]["panel_notification"] == clock(
        "panel_notification", 1, 0, 1, 0, 0, 0, 0, 0, 1, 7.0, 7
    )
    assert figures["clocks"]["rapid_review"] == clock(
        "rapid_review", 1, 0, 0, 0, 1, 1, 0, 0, 0, None, None
    )
    assert figures["actions"] == {"open": 1, "overdue": 1, "completed": 0}
    assert [(b["case_reference"], b["working_days_overdue"]) for b in report["open_breaches"]] == [
        (cases.ref("O"), 11)
    ]


# -- CSV -------------------------------------------------------------------------------------------


def read_back(response: httpx.Response) -> dict[str, Any]:
    """The CSV parsed with the csv module into the JSON report's shape: numbers as numbers,
    empty cells as null."""
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["section", "key", "metric", "value"]
    out: dict[str, Any] = {
        "report": {},
        "figures": {"activity": {"panel_outcomes": {}}, "clocks": {}, "actions": {}},
        "open_breaches": {},
        "extensions": {},
        "definitions": {},
    }
    for section, key, metric, raw in rows[1:]:
        value = number(raw)
        match section:
            case "report":
                out["report"][metric] = value
            case "activity":
                assert metric == "count"
                out["figures"]["activity"][key] = value
            case "panel_outcomes":
                out["figures"]["activity"]["panel_outcomes"][key] = value
            case "clocks":
                out["figures"]["clocks"].setdefault(key, {})[metric] = value
            case "actions":
                assert key == "improvement_actions"
                out["figures"]["actions"][metric] = value
            case "open_breaches" | "extensions":
                out[section].setdefault(int(key), {})[metric] = value
            case "definitions":
                out["definitions"][key] = raw
            case _:
                raise AssertionError(f"unexpected section {section!r}")
    for section in ("open_breaches", "extensions"):
        out[section] = [out[section][i] for i in sorted(out[section])]
    return out


def number(raw: str) -> Any:
    if raw == "":
        return None
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def test_the_csv_read_back_gives_the_same_figures(api: Api, cases: Driver) -> None:
    as_json = get(api)
    response = api.client.get(REPORT, headers=api.headers("scrutineer", Accept="text/csv"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="timeliness-TW-2026-04-01-to-2027-03-31.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    back = read_back(response)
    assert back["report"] == {
        "partnership": "TW",
        "from": "2026-04-01",
        "to": "2027-03-31",
        "financial_year": "2026/27",
        "as_of": "2026-06-17T09:00:00Z",
    }
    assert back["figures"] == as_json["figures"] == FY_2026
    assert back["definitions"] == as_json["definitions"]

    assert back["extensions"] == as_json["extensions"]


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        ("text/csv", True),
        ("text/csv;q=0.9, application/json;q=0.5", True),
        ("text/*", True),
        ("application/json", False),
        ("*/*", False),
        ("application/json, text/csv", False),  # a tie: JSON
        ("application/json;q=0.2, text/csv;q=0.8", True),
        ("text/csv;q=0, */*", False),
        ("text/csv;q=nonsense", False),
        (None, False),
    ],
)
def test_accept_chooses_csv_only_when_preferred(
    api: Api, accept: str | None, csv_wanted: bool
) -> None:
    headers = api.headers("scrutineer", **({"Accept": accept} if accept else {}))
    response = api.client.get(REPORT, headers=headers)
    assert response.status_code == 200, response.text
    kind = response.headers["content-type"]
    assert kind == ("text/csv; charset=utf-8" if csv_wanted else "application/json"), accept


def test_a_child_death_notified_for_review_is_no_serious_incident_referral(
    api: Api, cases: Driver
) -> None:
    """A child death review case (a workflow that never notifies the Panel) in the period is
    not counted among the referrals; its local clocks are no statutory figures."""
    death = api.client.post(
        "/api/v1/cases",
        json={
            "workflow": "child_death_review",
            "became_aware_on": "2026-06-15",
            "referring_agency": "health",
            "incident": {
                "occurred_on": "2026-06-14",
                "outcome": "death",
                "abuse_or_neglect": "not_suspected",
            },
        },
        headers=api.headers("business"),
    )
    assert death.status_code == 201, death.text
    assert get(api)["figures"] == FY_2026
