"""The web UI in a real browser (Debian's chromium, driven by Playwright) against the app on a
real uvicorn server: the panel chair's and the DSPs' path from a referral to the Panel, a late
referral on the dashboard, inline validation errors, another partnership's user kept out, and
an accessibility check of the main pages (axe-core)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.factories import Api
from tests.web.conftest import SignIn, screenshot, serious_violations

pytestmark = pytest.mark.browser

# The suite's clock stands at Wednesday 17 June 2026, 10:00 in London.
TODAY = ("17", "6", "2026")


def fill_date(page: Page | Locator, field_id: str, day: str, month: str, year: str) -> None:
    page.locator(f"#{field_id}-day").fill(day)
    page.locator(f"#{field_id}-month").fill(month)
    page.locator(f"#{field_id}-year").fill(year)


def referred(api: Api, became_aware_on: str, **overrides: object) -> dict[str, object]:
    """A case opened through the API (the incident dated the day it became known)."""
    incident = {"occurred_on": became_aware_on, "outcome": "death", "abuse_or_neglect": "known"}
    return api.create_case(became_aware_on=became_aware_on, incident=incident, **overrides)


def open_action(page: Page, label: str) -> None:
    page.locator("summary", has_text=label).first.click()


def state_of(page: Page) -> str:
    return page.locator("#case-state").inner_text()


def test_the_chair_and_the_dsps_take_a_case_from_referral_to_the_panel(
    signed_in: SignIn, api: Api
) -> None:
    chair = signed_in("chair")
    chair.get_by_role("button", name="Record a new referral").click()
    expect(chair.get_by_role("heading", name="Record a new referral")).to_be_visible()
    fill_date(chair, "became-aware-on", "15", "6", "2026")
    chair.get_by_label("Referring agency").select_option("police")
    chair.get_by_label("Your case reference (optional)").fill("POL-UI-1")
    chair.get_by_label("Serious harm").check()
    chair.get_by_label("Suspected").check()
    chair.get_by_label("Neglect").check()
    chair.get_by_role("button", name="Record the referral").click()

    chair.wait_for_url(re.compile(r"/ui/cases/TW-2026-\d{4}"))
    reference = chair.url.rsplit("/", 1)[-1].split("?")[0]
    expect(chair.locator(".govuk-notification-banner--success")).to_contain_text(
        "Referral recorded"
    )
    assert state_of(chair) == "Referred"
    # Aware Monday 15 June: 5 working days end on Monday 22 June; 3 are left on the 17th.
    clock = chair.locator('#clocks tr[data-clock="panel_notification"]')
    expect(clock).to_contain_text("On track")
    expect(clock).to_contain_text("3 working days left, due 22 June 2026")
    stored = api.get_case(reference, who="chair")
    assert stored["partner_reference"] == "POL-UI-1"
    assert stored["incident"]["categories"] == ["neglect"]
    assert stored["incident"]["abuse_or_neglect"] == "suspected"

    # Notify the Panel.
    open_action(chair, "Notify the Panel")
    form = chair.locator("#action-notify_panel form")
    fill_date(form, "notify-panel-notified-on", "16", "6", "2026")
    form.get_by_role("button", name="Notify the Panel").click()
    expect(chair.locator("#case-state")).to_have_text("Rapid review")
    expect(chair.locator('#flow [aria-current="step"]')).to_contain_text("Rapid review")
    expect(chair.locator('#flow [data-state="referred"]')).to_have_class(
        re.compile("app-flow__state--done")
    )
    expect(chair.locator('#clocks tr[data-clock="panel_notification"]')).to_contain_text("Met")

    # A validation error is shown inline, from the API's own rule, and changes nothing.
    open_action(chair, "Complete the rapid review")
    form = chair.locator("#action-complete_rapid_review form")
    fill_date(form, "complete-rapid-review-completed-on", *TODAY)
    form.get_by_label("LCSPR", exact=True).check()
    form.get_by_label("Rationale").fill("Criteria met; learning for the partnership.")
    form.get_by_role("button", name="Complete the rapid review").click()
    summary = chair.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text(
        "Regulation 11 criteria relied on: needs at least one value when recommendation is lcspr"
    )
    # GOV.UK Frontend's script (loaded under the page's CSP) moves focus to the summary.
    expect(summary).to_be_focused()
    inline = chair.locator("#complete-rapid-review-criteria-error")
    expect(inline).to_contain_text("needs at least one value")
    assert state_of(chair) == "Rapid review"
    assert api.get_case(reference)["state"] == "rapid_review"
    # What was typed is kept; the link in the summary leads to the field.
    form = chair.locator("#action-complete_rapid_review form")
    expect(form.get_by_label("Rationale")).to_have_value(
        "Criteria met; learning for the partnership."
    )
    summary.get_by_role("link").first.click()
    expect(chair.locator("#complete-rapid-review-criteria")).to_be_focused()
    form.get_by_label("A", exact=True).check()
    form.get_by_role("button", name="Complete the rapid review").click()
    expect(chair.locator("#case-state")).to_have_text("DSP joint decision")

    # Each delegated safeguarding partner agrees, in a browser of their own.
    for who, code, party in (
        ("dsp_la", "dsp:local_authority", "DSP (local authority)"),
        ("dsp_police", "dsp:police", "DSP (police)"),
        ("dsp_health", "dsp:health", "DSP (health)"),
    ):
        dsp = signed_in(who)
        dsp.goto(f"/ui/cases/{reference}")
        dsp.locator("summary", has_text=f"Record your decision as {party}").click()
        vote = dsp.locator("#vote-dsp_joint_decision form")
        vote.get_by_label("Agree", exact=True).check()
        vote.get_by_label("Rationale").fill(f"{party} agrees the criteria are met.")
        vote.get_by_role("button", name="Record decision").click()
        expect(dsp.locator(".govuk-notification-banner--success")).to_contain_text(
            "Your decision is recorded"
        )
        row = dsp.locator(f'#votes-dsp_joint_decision tr[data-party="{code}"]')
        expect(row).to_contain_text("Agree")
        # A DSP may not submit the review: no such form is offered.
        expect(dsp.locator("#action-submit_rapid_review")).to_have_count(0)

    chair.reload()
    expect(chair.locator("#gate-dsp_joint_decision + p")).to_contain_text("Agreed")
    open_action(chair, "Submit the rapid review to the Panel")
    form = chair.locator("#action-submit_rapid_review form")
    fill_date(form, "submit-rapid-review-submitted-on", *TODAY)
    form.get_by_role("button", name="Submit the rapid review to the Panel").click()
    expect(chair.locator("#case-state")).to_have_text("Awaiting Panel response")
    expect(chair.locator("#timeline li").first).to_contain_text(
        "Submit the rapid review to the Panel"
    )
    screenshot(chair, "case")

    triggers = [e["trigger"] for e in api.events(reference) if e["trigger"]]
    assert triggers == ["notify_panel", "complete_rapid_review", "submit_rapid_review"]
    assert api.get_case(reference)["approvals"]["dsp_joint_decision"]["status"] == "closed"


def test_a_late_referrals_breached_clock_leads_the_dashboard(signed_in: SignIn, api: Api) -> None:
    on_time = referred(api, "2026-06-16", partner_reference="ON-TIME")
    due_soon = referred(api, "2026-06-12", partner_reference="DUE-SOON")
    # Aware on Monday 1 June: the Panel should have been told by the end of Monday 8 June.
    late = referred(api, "2026-06-01", partner_reference="LATE", referring_agency="health")
    notified = referred(api, "2026-06-15", partner_reference="NOTIFIED")
    api.ok(str(notified["id"]), "notify_panel", {"notified_on": "2026-06-16"})

    chair = signed_in("chair")
    rows = chair.locator("#cases tbody tr")
    expect(rows).to_have_count(4)
    first = rows.first
    assert first.get_attribute("data-case") == late["reference"]
    expect(first).to_have_class(re.compile("app-row--breached"))
    expect(first).to_contain_text("Breached")
    expect(first).to_contain_text("Notify the Panel: was due 8 June 2026")
    # Then the soonest due: aware Friday 12 June, due Friday 19 June, 2 working days left.
    second = rows.nth(1)
    assert second.get_attribute("data-case") == due_soon["reference"]
    expect(second).to_contain_text("Due soon")
    expect(second).to_contain_text("2 working days left, due 19 June 2026")
    expect(chair.locator(".govuk-warning-text")).to_contain_text(
        "1 case has a breached statutory clock"
    )
    # The breach is marked by words as well as colour, and the row's rule is really red.
    border = first.locator("td").first.evaluate("e => getComputedStyle(e).boxShadow")
    assert "rgb(" in border
    screenshot(chair, "dashboard")

    chair.get_by_label("Clocks").select_option("breached")
    chair.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-case") == late["reference"]
    chair.get_by_role("link", name="Clear filters").click()
    expect(rows).to_have_count(4)
    assert on_time["reference"] in chair.locator("#cases").inner_text()


def test_a_user_of_another_partnership_cannot_open_the_case(signed_in: SignIn, api: Api) -> None:
    case = api.create_case(partner_reference="TW-ONLY-REF")
    outsider = signed_in("chair", "OT")
    for key in (case["reference"], case["id"]):
        response = outsider.goto(f"/ui/cases/{key}")
        assert response is not None
        assert response.status == 404
        expect(outsider.get_by_role("heading", level=1)).to_have_text("Page not found")
        text = outsider.locator("main").inner_text()
        assert "TW-ONLY-REF" not in text
        assert "fractures" not in text
    expect(outsider.locator("#no-cases")).to_have_count(0)
    outsider.goto("/ui")
    expect(outsider.locator("#no-cases")).to_have_text("You have no open cases.")


def test_the_main_pages_have_no_serious_accessibility_violations(
    signed_in: SignIn, api: Api, live_server: str, browser: Browser
) -> None:
    case = referred(api, "2026-06-01")
    api.ok(str(case["id"]), "notify_panel", {"notified_on": "2026-06-02"})
    found: dict[str, list[dict[str, object]]] = {}

    chair = signed_in("chair", bypass_csp=True)
    anonymous = browser.new_context(base_url=live_server, bypass_csp=True)
    try:
        sign_in_page = anonymous.new_page()
        sign_in_page.goto("/ui/sign-in")
        found["sign-in"] = serious_violations(sign_in_page)
        sign_in_page.get_by_role("button", name="Sign in").click()
        expect(sign_in_page.locator(".govuk-error-summary")).to_be_visible()
        found["sign-in with errors"] = serious_violations(sign_in_page)
    finally:
        anonymous.close()

    found["dashboard"] = serious_violations(chair)
    chair.goto("/ui/cases/new")
    found["referral"] = serious_violations(chair)
    chair.get_by_role("button", name="Record the referral").click()
    expect(chair.locator(".govuk-error-summary")).to_be_visible()
    found["referral with errors"] = serious_violations(chair)
    chair.goto(f"/ui/cases/{case['reference']}")
    # Every form on the page, opened, is checked too.
    chair.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    found["case"] = serious_violations(chair)
    chair.goto("/ui/alerts")
    found["alerts"] = serious_violations(chair)

    admin = signed_in("admin", bypass_csp=True)
    for path in (
        "/ui/admin",
        "/ui/admin/users",
        "/ui/admin/users/new",
        "/ui/admin/tokens",
        "/ui/admin/webhooks",
        "/ui/admin/calendar",
        "/ui/admin/configuration",
    ):
        response = admin.goto(path)
        assert response is not None
        assert response.status == 200, path
        found[path] = serious_violations(admin)
    admin.goto("/ui/admin/users/new")
    admin.get_by_role("button", name=re.compile("Add")).first.click()
    expect(admin.locator(".govuk-error-summary")).to_be_visible()
    found["new user with errors"] = serious_violations(admin)

    assert {page: v for page, v in found.items() if v} == {}
    assert set(found) == {
        "sign-in",
        "sign-in with errors",
        "dashboard",
        "referral",
        "referral with errors",
        "case",
        "alerts",
        "/ui/admin",
        "/ui/admin/users",
        "/ui/admin/users/new",
        "/ui/admin/tokens",
        "/ui/admin/webhooks",
        "/ui/admin/calendar",
        "/ui/admin/configuration",
        "new user with errors",
    }


def test_the_accessibility_check_would_find_a_violation(signed_in: SignIn) -> None:
    """The check above is not vacuous: on a page with an unlabelled field and an image without
    a text alternative, it reports both."""
    page = signed_in("chair", bypass_csp=True)
    page.evaluate(
        """() => {
            const main = document.querySelector("main");
            main.insertAdjacentHTML("beforeend",
                '<input type="text" id="unlabelled"><img src="/ui/static/favicon.svg">');
        }"""
    )
    found = {str(v["id"]) for v in serious_violations(page)}
    assert {"label", "image-alt"} <= found
