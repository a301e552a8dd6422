"""The reports page over HTTP, without a browser: the year's figures in tables (the same as the
API's, tests/reports/test_timeliness.py), the charts as inline SVG images with their numbers
in words, the period form and its errors, the CSV download, and who may see any of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from cspr_engine.accounts import service as accounts_service
from cspr_engine.kit.clock import FixedClock
from tests.factories import Api, Directory
from tests.reports.support import Driver, build
from tests.reports.test_timeliness import APRIL_2026, FY_2026
from tests.web.test_router import Element, WebClient, error_summary, inline_errors, page

PAGE = "/ui/reports"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Page tests, not password tests: argon2id at its cheapest.
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def signed_in(app: FastAPI, directory: Directory) -> Iterator[Any]:
    """`signed_in("scrutineer")` -> a browser's view of the server, signed in as that TW person."""
    made: list[WebClient] = []

    def make(who: str, partnership: str = "TW") -> WebClient:
        client = WebClient(app).sign_in(f"{who}@{partnership.lower()}.example")
        made.append(client)
        return client

    yield make
    for client in made:
        client.http.close()


@pytest.fixture
def cases(api: Api, clock: FixedClock) -> Driver:
    return build(api, clock)


def figure(doc: Element, table: str, name: str, row: str | None = None) -> str:
    scope = doc.by_id(table) if row is None else doc.by_id(row)
    return scope.find("td", data_figure=name).text


def nav_links(doc: Element) -> list[str]:
    return [a.text for a in doc.by_id("navigation").find_all("a")]


def date_values(doc: Element, ident: str) -> tuple[str, str, str]:
    return (
        doc.by_id(f"{ident}-day").attrs["value"],
        doc.by_id(f"{ident}-month").attrs["value"],
        doc.by_id(f"{ident}-year").attrs["value"],
    )


def test_the_scrutineer_sees_the_years_figures_in_tables_and_charts(
    signed_in: Any, cases: Driver
) -> None:
    response = signed_in("scrutineer").get(PAGE)
    assert response.status_code == 200
    doc = page(response)
    assert doc.find("h1").text == "Timeliness and activity report"
    # The default period, shown in the form and above the figures.
    assert date_values(doc, "period-from") == ("1", "4", "2026")
    assert date_values(doc, "period-to") == ("31", "3", "2027")
    period = doc.by_id("period")
    assert (period.attrs["data-from"], period.attrs["data-to"]) == ("2026-04-01", "2027-03-31")
    assert period.text == "1 April 2026 to 31 March 2027 (financial year 2026/27)"
    # "Reports" is the current page in the navigation.
    current = doc.by_id("navigation").find("a", aria_current="page")
    assert (current.attrs["href"], current.text) == ("/ui/reports", "Reports")

    activity = FY_2026["activity"]
    for name in ("referrals", "notifications", "rapid_reviews_completed", "lcspr_withheld"):
        assert figure(doc, "activity", f"activity.{name}") == str(activity[name])
    for outcome, count in activity["panel_outcomes"].items():
        assert figure(doc, "panel-outcomes", f"panel_outcomes.{outcome}") == str(count)
    review = FY_2026["clocks"]["rapid_review"]
    row = "clock-rapid_review"
    for name in ("due_in_period", "met_on_time", "met_late", "breached", "cancelled", "extended"):
        assert figure(doc, "clocks", name, row) == str(review[name]), name
    assert figure(doc, "clocks", "open", row) == "2 (1)"  # of which overdue
    timing = "working-days-rapid_review"
    assert figure(doc, "working-days", "median_working_days", timing) == "17"
    assert figure(doc, "working-days", "p90_working_days", timing) == "23"
    assert figure(doc, "working-days", "median_working_days", "working-days-lcspr_completion") == (
        "21"
    )
    assert "Not measured" in doc.by_id("working-days-pre_publication_notice").text
    for name, count in FY_2026["actions"].items():
        assert figure(doc, "actions", f"actions.{name}") == str(count)
    # Every table has a caption.
    for table in doc.find("main").find_all("table"):
        assert table.find("caption").text

    # The open breach, linked to its case; the extensions with their reasons.
    breach = doc.by_id("open-breaches").find("tr", data_case=cases.ref("C"))
    assert breach.find("a").attrs["href"] == f"/ui/cases/{cases.ref('C')}"
    assert breach.text.endswith("9 June 2026 6")
    extensions = doc.by_id("extensions").find_all("tr", data_case=cases.ref("B"))
    assert len(extensions) == 1
    assert "Police disclosure is delayed." in extensions[0].text
    assert "Agreed with The Panel secretariat" in extensions[0].text
    assert (
        "recorded as a delay" in doc.by_id("extensions").find("tr", data_case=cases.ref("F")).text
    )
    # What each figure counts.
    assert "nearest-rank" in doc.by_id("definitions").text

    link = doc.by_id("download-csv")
    assert link.attrs["href"] == "/ui/reports/timeliness.csv?from=2026-04-01&to=2027-03-31"
    assert link.children[0] == "Download CSV"
    assert link.find("span", cls="govuk-visually-hidden").children == [" of these figures"]

    # The charts: images named by their titles, their numbers in words.
    chart = doc.find("svg", id_="chart-clocks")
    assert chart.attrs["role"] == "img"
    assert chart.attrs["aria-labelledby"] == "chart-clocks-title chart-clocks-desc"
    assert doc.by_id("chart-clocks-title").text == "Statutory clocks due in the period, by outcome"
    desc = doc.by_id("chart-clocks-desc").text
    assert (
        "Complete the rapid review and send it to the Panel (D5): 7 in all, 2 met on time, "
        "1 met late, 1 open and overdue, 1 open, not yet due, 2 cancelled before due."
    ) in desc
    assert "Notify the Panel (D1, D2): 7 in all, 4 met on time, 1 met late, 1 breached, closed" in (
        desc
    )
    # A segment per outcome of each bar, sized by its count (the largest bar spans 720).
    drawn = [
        (r.attrs["data-series"], r.attrs["data-value"], r.attrs["width"])
        for r in chart.find_all("rect")
        if "data-series" in r.attrs
    ]
    assert drawn[:4] == [
        ("met_on_time", "4", f"{720 * 4 / 7:g}"),
        ("met_late", "1", f"{720 / 7:g}"),
        ("breached", "1", f"{720 / 7:g}"),
        ("open_running", "1", f"{720 / 7:g}"),
    ]
    assert doc.find("svg", id_="chart-activity").attrs["role"] == "img"
    assert "Referrals: 6. Notifications to the Panel: 5." in doc.by_id("chart-activity-desc").text
    # No script and no inline style anywhere in the page's own markup (the CSP allows neither).
    assert re.findall(r"<script[^>]*>", response.text) == [
        '<script type="module" src="/ui/static/app.mjs">'
    ]
    assert " style=" not in response.text


def test_a_period_is_chosen_with_the_date_inputs_and_its_csv_downloaded(
    api: Api, signed_in: Any, cases: Driver
) -> None:
    query = "from-day=1&from-month=4&from-year=2026&to-day=30&to-month=4&to-year=2026"
    doc = page(signed_in("chair").get(f"{PAGE}?{query}"))
    assert doc.by_id("period").text == "1 April 2026 to 30 April 2026"
    assert figure(doc, "activity", "activity.referrals") == str(APRIL_2026["activity"]["referrals"])
    assert doc.has_id("no-open-breaches")
    assert doc.has_id("no-extensions")
    assert doc.by_id("download-csv").attrs["href"] == (
        "/ui/reports/timeliness.csv?from=2026-04-01&to=2026-04-30"
    )
    # Only the start: to the end of its financial year.
    doc = page(signed_in("chair").get(f"{PAGE}?from-day=1&from-month=10&from-year=2025"))
    assert doc.by_id("period").text == "1 October 2025 to 31 March 2026"
    assert date_values(doc, "period-to") == ("31", "3", "2026")

    # April's CSV, downloaded from the page, is the API's.
    response = signed_in("lsp_la").get("/ui/reports/timeliness.csv?from=2026-04-01&to=2026-04-30")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        'attachment; filename="timeliness-TW-2026-04-01-to-2026-04-30.csv"'
    )
    from_api = api.client.get(
        "/api/v1/reports/timeliness?from=2026-04-01&to=2026-04-30",
        headers=api.headers("scrutineer", Accept="text/csv"),
    )
    assert response.text == from_api.text
    assert "activity,referrals,count,3\r\n" in response.text


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "from-day=31&from-month=2&from-year=2026",
            {"period-from-error": "From must be a real date"},
        ),
        (
            "from-day=1&from-month=4&to-day=30&to-month=4&to-year=2026",
            {"period-from-error": "From must include a year"},
        ),
        (
            "from-day=2&from-month=5&from-year=2026&to-day=1&to-month=5&to-year=2026",
            {"period-to-error": "To must be on or after from (2026-05-02)."},
        ),
        (
            "from-day=1&from-month=4&from-year=2020&to-day=1&to-month=4&to-year=2025",
            {"period-to-error": "The period may be at most 5 years: to must be before 2025-04-01."},
        ),
        (
            "to-day=1&to-month=1&to-year=3000",
            {"period-to-error": "To must be a date from 1900-01-01 to 2999-12-31."},
        ),
    ],
)
def test_a_period_that_cannot_be_is_shown_beside_its_field(
    signed_in: Any, query: str, errors: dict[str, str]
) -> None:
    response = signed_in("scrutineer").get(f"{PAGE}?{query}")
    assert response.status_code == 422
    doc = page(response)
    assert inline_errors(doc) == errors
    (anchor,) = [a for a, _ in error_summary(doc)]
    assert anchor == "#" + next(iter(errors)).removesuffix("-error") + "-day"
    assert doc.find("title").text.startswith("Error: ")
    assert not doc.has_id("period")  # no figures for a period that cannot be
    assert not doc.has_id("download-csv")


def test_roles_that_may_not_read_reports_are_refused_and_not_offered_the_page(
    signed_in: Any,
) -> None:
    referrer = signed_in("referrer")
    assert "Reports" not in nav_links(page(referrer.get("/ui")))
    for url in (PAGE, "/ui/reports/timeliness.csv"):
        response = referrer.get(url)
        assert response.status_code == 403
        assert "panel chair, the business unit" in page(response).text
    assert "Reports" not in nav_links(page(signed_in("admin").get("/ui/alerts")))
    for who in ("chair", "business", "dsp_health", "lsp_la", "scrutineer", "qpd"):
        assert "Reports" in nav_links(page(signed_in(who).get("/ui/alerts"))), who


def test_the_pages_need_a_session(app: FastAPI, directory: Directory) -> None:
    browser = WebClient(app)
    for url in (PAGE, "/ui/reports/timeliness.csv"):
        response = browser.get(url)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/sign-in?next=/ui/reports")
    browser.http.close()


def test_a_download_link_altered_by_hand_is_a_page_not_a_500(signed_in: Any) -> None:
    scrutineer = signed_in("scrutineer")
    response = scrutineer.get("/ui/reports/timeliness.csv?from=yesterday")
    assert response.status_code == 400
    assert page(response).find("h1").text == "The request could not be read"
    response = scrutineer.get("/ui/reports/timeliness.csv?from=2026-05-02&to=2026-05-01")
    assert response.status_code == 422
    assert "to must be on or after from" in page(response).text
