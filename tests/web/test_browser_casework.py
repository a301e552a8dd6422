"""Casework pages in a real browser (Debian's chromium, Playwright) against the app on a real
uvicorn server: the business unit asks agencies for information returns, the police answer,
the chair completes the rapid review with a reason for the missing one; the quality group adds
an improvement action, its owner agency completes it, and the chair closes the case."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.factories import Api
from tests.web.conftest import SignIn, screenshot, serious_violations
from tests.web.test_browser import fill_date, open_action

pytestmark = pytest.mark.browser


def notified_case(api: Api) -> dict[str, Any]:
    """A case in rapid review: aware Monday 15 June 2026, the Panel told on the 16th."""
    incident = {"occurred_on": "2026-06-14", "outcome": "serious_harm", "abuse_or_neglect": "known"}
    case = api.create_case(became_aware_on="2026-06-15", incident=incident)
    api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-16"})
    return case


def test_information_returns_are_asked_for_answered_and_a_missing_one_explained(
    signed_in: SignIn, api: Api
) -> None:
    case = notified_case(api)
    reference = case["reference"]

    business = signed_in("business")
    business.goto(f"/ui/cases/{reference}")
    business.get_by_role("link", name="Information requests").click()
    expect(business.locator("#no-requests")).to_be_visible()
    # Asked with nothing filled in: the API's own errors, beside the fields.
    business.locator("#ask-submit").click()
    expect(business.locator(".govuk-error-summary")).to_contain_text("Select the agencies to ask")
    expect(business.locator("#ask-asked-error")).to_be_visible()

    ask = business.locator("form#ask")
    ask.get_by_label("Police", exact=True).check()
    ask.get_by_label("Health", exact=True).check()
    ask.get_by_label("What do you ask them for?").fill(
        "A summary of your involvement with the family, and a chronology."
    )
    business.locator("#ask-submit").click()
    expect(business.locator("#done")).to_be_visible()
    police = business.locator("tr#request-1")
    expect(police).to_have_attribute("data-agency", "police")
    expect(police).to_have_attribute("data-status", "open")
    # No due date given: 5 working days from Wednesday 17 June is Wednesday 24 June.
    expect(police).to_contain_text("24 June 2026")
    expect(business.locator("tr#request-2")).to_have_attribute("data-agency", "health")

    # The police case system's user answers: the agency was asked, so it reads the case.
    referrer = signed_in("referrer")
    referrer.goto(f"/ui/cases/{reference}/information-requests")
    expect(referrer.locator("details#answer-2")).to_have_count(0)  # health's, not theirs
    referrer.locator("details#answer-1 summary").click()
    referrer.locator("#answer-1-submit").click()
    expect(referrer.locator(".govuk-error-summary")).to_contain_text("Enter the summary")
    answer = referrer.locator("details#answer-1")
    answer.get_by_label("Yes", exact=True).check()
    answer.get_by_label("Summary of your agency's involvement").fill(
        "Two domestic abuse call-outs in 2025; no arrests."
    )
    referrer.locator("#answer-1-submit").click()
    expect(referrer.locator("tr#request-1")).to_have_attribute("data-status", "answered")
    expect(referrer.locator("tr#request-1 [data-return]")).to_have_attribute("data-return", "yes")
    screenshot(referrer, "information-requests")

    # Health's return is still awaited: completing the rapid review needs the reason, and the
    # refusal is shown on that field.
    chair = signed_in("chair")
    chair.goto(f"/ui/cases/{reference}")
    open_action(chair, "Complete the rapid review")
    form = chair.locator("#action-complete_rapid_review form")
    fill_date(form, "complete-rapid-review-completed-on", "17", "6", "2026")
    form.get_by_label("No LCSPR", exact=True).check()
    form.get_by_label("Rationale", exact=True).fill("Learning is single-agency.")
    form.get_by_role("button", name="Complete the rapid review").click()
    reason_error = chair.locator("#complete-rapid-review-missing-returns-reason-error")
    expect(reason_error).to_contain_text("Information returns are still awaited from: health")
    assert api.get_case(reference)["state"] == "rapid_review"
    form = chair.locator("#action-complete_rapid_review form")
    form.get_by_label(re.compile("completed without every information return")).fill(
        "Health's return is promised after the GP review; the partners agreed to go on."
    )
    form.get_by_role("button", name="Complete the rapid review").click()
    expect(chair.locator("#case-state")).to_have_text("DSP joint decision")
    expect(chair.locator("#timeline")).to_contain_text("Information return made")
    stored = api.get_case(reference)["recorded"]["complete_rapid_review"]
    assert stored["missing_returns_reason"].startswith("Health's return is promised")


def monitored_case(api: Api) -> dict[str, Any]:
    """A case in action monitoring: the Panel agreed no local review was needed."""
    case = notified_case(api)
    api.ok(
        case["id"],
        "complete_rapid_review",
        {
            "completed_on": "2026-06-17",
            "recommendation": "no_lcspr",
            "rationale": "Single-agency learning.",
            "immediate_actions": "Health visiting to review its safe-sleep advice.",
        },
    )
    for who in ("dsp_la", "dsp_police", "dsp_health"):
        assert api.vote(case["id"], who).status_code == 200
    api.ok(case["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"})
    api.ok(
        case["id"],
        "record_panel_response",
        {"received_on": "2026-06-17", "outcome": "agrees_no_lcspr"},
    )
    return case


def test_an_improvement_action_is_added_completed_by_its_owner_and_the_case_closed(
    signed_in: SignIn, api: Api
) -> None:
    case = monitored_case(api)
    reference = case["reference"]

    qpd = signed_in("qpd")
    qpd.goto(f"/ui/cases/{reference}/actions")
    expect(qpd.locator("#source-immediate-actions")).to_contain_text("safe-sleep advice")
    form = qpd.locator("#add-action-form")
    form.get_by_label("An immediate action from the rapid review").check()
    form.get_by_label("What will be done").fill(
        "Health visiting reviews its safe-sleep advice and trains every visitor."
    )
    form.locator("#action-owner-agency").select_option("health")
    # A due date before the local authority knew of the incident: refused beside the field.
    fill_date(form, "action-due-on", "1", "6", "2026")
    qpd.locator("#add-action-button").click()
    expect(qpd.locator(".govuk-error-summary")).to_be_visible()
    expect(qpd.locator("#action-due-on-error")).to_be_visible()
    assert (
        api.client.get(f"/api/v1/cases/{case['id']}/actions", headers=api.headers("qpd")).json()[
            "items"
        ]
        == []
    )
    fill_date(qpd.locator("#add-action-form"), "action-due-on", "31", "7", "2026")
    qpd.locator("#add-action-button").click()
    expect(qpd.locator("#done")).to_contain_text("Action A1 added")
    expect(qpd.locator("#summary-status [data-status]")).to_have_attribute("data-status", "open")
    qpd.locator("#back-to-actions").click()
    row = qpd.locator("tr#action-row-A1")
    expect(row).to_have_attribute("data-status", "open")
    expect(row).to_have_attribute("data-owner", "health")
    expect(row).to_have_attribute("data-rag", "green")

    # The case cannot close while the action is open.
    chair = signed_in("chair")
    chair.goto(f"/ui/cases/{reference}")
    open_action(chair, "Close the case")
    chair.locator("#action-close form").get_by_role("button", name="Close the case").click()
    expect(chair.locator("#problem")).to_contain_text("improvement action(s) are still open")
    assert api.get_case(reference)["state"] == "action_monitoring"

    # Health's DSP reports on its own action: completed, with the evidence of impact.
    dsp = signed_in("dsp_health")
    dsp.goto(f"/ui/cases/{reference}/actions/A1")
    update = dsp.locator("#update-action-form")
    update.get_by_label("Completed", exact=True).check()
    update.get_by_label("Evidence of impact").fill("Audit of 40 visits: advice given in all.")
    update.get_by_label("Note for the update history").fill("Training done in July.")
    dsp.locator("#update-action-button").click()
    expect(dsp.locator("#summary-status [data-status]")).to_have_attribute(
        "data-status", "completed"
    )
    expect(dsp.locator("#action-history tr[data-seq]")).to_have_count(2)
    screenshot(dsp, "improvement-action")

    chair.goto(f"/ui/cases/{reference}")
    open_action(chair, "Close the case")
    chair.locator("#action-close form").get_by_role("button", name="Close the case").click()
    expect(chair.locator("#case-state")).to_have_text("Closed")
    assert api.get_case(reference)["closed_at"] is not None


def test_the_casework_pages_have_no_serious_accessibility_violations(
    signed_in: SignIn, api: Api
) -> None:
    case = monitored_case(api)
    reference = case["reference"]
    api.client.post(
        f"/api/v1/cases/{case['id']}/actions",
        json={
            "source": "immediate_action",
            "description": "Review safe-sleep advice.",
            "owner_agency": "health",
            "due_on": "2026-07-31",
        },
        headers=api.headers("qpd"),
    ).raise_for_status()
    chair = signed_in("chair", bypass_csp=True)
    found: dict[str, list[dict[str, object]]] = {}
    for tail in ("/information-requests", "/actions", "/actions/A1", "/links", "/documents"):
        response = chair.goto(f"/ui/cases/{reference}{tail}")
        assert response is not None
        assert response.status == 200, tail
        chair.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        found[tail] = serious_violations(chair)
    assert {page: v for page, v in found.items() if v} == {}
