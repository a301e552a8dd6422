"""The workflow rules page in a real browser (Debian's chromium, Playwright) against the app on a
real uvicorn server: a partnership admin finds it from the administration pages, is told a
change applies to new cases only, is refused a value the workflow does not allow, changes the
rapid review clock's start and sees version 1; no serious accessibility violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import Api
from tests.web.conftest import SignIn, screenshot, serious_violations

pytestmark = pytest.mark.browser

RAPID = "#cspr-clocks-rapid-review-start"
QUALITY = "#cspr-clocks-lcspr-quality-check-due"


def test_an_admin_changes_the_rapid_review_start_and_sees_version_1(
    signed_in: SignIn, api: Api
) -> None:
    admin = signed_in("admin", bypass_csp=True)
    admin.get_by_role("link", name="Administration").click()
    admin.get_by_role("link", name="Workflow rules").click()
    expect(admin.get_by_role("heading", name="Workflow rules", exact=True)).to_be_visible()
    expect(admin.locator("#configuration-applies")).to_have_text(
        "Changes apply to cases opened from now on. "
        "Cases already open keep the rules they were opened with."
    )
    cspr = admin.locator('section[data-workflow="cspr"]')
    expect(cspr).to_have_attribute("data-version", "0")
    expect(admin.locator(RAPID)).to_have_value("became_aware_on")
    assert serious_violations(admin) == []

    # A number the workflow does not allow: the error beside its field, and nothing saved.
    admin.locator(RAPID).select_option("notified_on")
    admin.locator(QUALITY).fill("0")
    cspr.get_by_label("Reason for the change").fill("Agreed by the lead safeguarding partners")
    cspr.get_by_role("button", name="Save the rules").click()
    summary = admin.locator(".govuk-error-summary")
    expect(summary).to_contain_text("must be between 1 and 120")
    expect(summary).to_be_focused()
    expect(admin.locator(f"{QUALITY}-error")).to_contain_text("must be between 1 and 120")
    # What was chosen and typed is kept.
    expect(admin.locator(RAPID)).to_have_value("notified_on")
    expect(cspr.get_by_label("Reason for the change")).to_have_value(
        "Agreed by the lead safeguarding partners"
    )
    assert serious_violations(admin) == []
    assert (
        api.client.get(
            "/api/v1/partnerships/TW/workflows/cspr/configuration", headers=api.headers("chair")
        ).json()["version"]
        == 0
    )

    admin.locator(QUALITY).fill("1")
    cspr.get_by_role("button", name="Save the rules").click()
    expect(admin.locator(".govuk-notification-banner--success")).to_contain_text(
        "Version 1 of the rules for"
    )
    expect(cspr).to_have_attribute("data-version", "1")
    expect(admin.locator("#workflow-cspr-current")).to_contain_text(
        "Agreed by the lead safeguarding partners"
    )
    expect(admin.locator(RAPID)).to_have_value("notified_on")
    expect(admin.locator('#workflow-cspr-history tr[data-version="1"]')).to_contain_text(
        "Notify the Panel: date the Panel was notified"
    )
    screenshot(admin, "workflow-rules")

    body = api.client.get(
        "/api/v1/partnerships/TW/workflows/cspr/configuration", headers=api.headers("chair")
    ).json()
    assert body["version"] == 1
    start = next(s for s in body["settings"] if s["key"] == "clocks.rapid_review.start")
    assert (start["value"], start["configured"]) == ("notified_on", True)
