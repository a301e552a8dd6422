"""The reports page in a real browser (Debian's chromium, Playwright) against the app on a real
uvicorn server: the scrutineer opens it from the navigation, reads a figure, sees the clocks'
chart, picks another period with the date inputs; no serious accessibility violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cspr_engine.kit.clock import FixedClock
from tests.factories import Api
from tests.reports.support import build
from tests.web.conftest import SignIn, screenshot, serious_violations
from tests.web.test_browser import fill_date

pytestmark = pytest.mark.browser


def test_the_scrutineer_reads_the_years_report_and_its_chart(
    signed_in: SignIn, api: Api, clock: FixedClock
) -> None:
    cases = build(api, clock)
    scrutineer = signed_in("scrutineer", bypass_csp=True)
    scrutineer.get_by_role("link", name="Reports").click()
    expect(scrutineer.get_by_role("heading", name="Timeliness and activity report")).to_be_visible()
    expect(scrutineer.locator("#period")).to_contain_text("1 April 2026 to 31 March 2027")

    # A figure: 6 referrals in the financial year 2026/27 (tests/reports/test_timeliness.py).
    expect(scrutineer.locator("#activity-referrals td")).to_have_text("6")
    expect(scrutineer.locator("#clock-rapid_review [data-figure=open]")).to_have_text("2 (1)")

    # The chart is an image named and described for assistive technology, drawn on screen.
    chart = scrutineer.get_by_role("img", name="Statutory clocks due in the period, by outcome")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None
    assert (box["width"] > 300, box["height"] > 100) == (True, True), box
    expect(chart.locator("rect[data-series=met_on_time]").first).to_be_visible()

    # The open breach leads to its case.
    breach = scrutineer.locator("#open-breaches").get_by_role("link", name=cases.ref("C"))
    expect(breach).to_have_attribute("href", f"/ui/cases/{cases.ref('C')}")

    assert serious_violations(scrutineer) == []
    screenshot(scrutineer, "reports")

    # April alone, chosen with the date inputs.
    fill_date(scrutineer, "period-to", "30", "4", "2026")
    scrutineer.get_by_role("button", name="Show the figures").click()
    expect(scrutineer.locator("#period")).to_have_text("1 April 2026 to 30 April 2026")
    expect(scrutineer.locator("#activity-referrals td")).to_have_text("3")
    expect(scrutineer.locator("#no-open-breaches")).to_be_visible()

    # A period that cannot be: the error beside its field, and no figures.
    fill_date(scrutineer, "period-to", "31", "3", "2026")
    scrutineer.get_by_role("button", name="Show the figures").click()
    expect(scrutineer.locator(".govuk-error-summary")).to_contain_text(
        "To must be on or after from (2026-04-01)."
    )
    expect(scrutineer.locator("#period")).to_have_count(0)
    assert serious_violations(scrutineer) == []
