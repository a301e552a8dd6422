"""The workflow rules page (/ui/admin/configuration): a partnership's choices among the rules its
workflows mark configurable, each saved change a new version. Each test reads the page's HTML
and the database (or the API), so a page that claims a change it did not make, or makes one it
should have refused, fails.

The suite's clock stands at Wednesday 17 June 2026, 10:00 in London. Aware Monday 15 June, 15
working days end on Monday 6 July (no bank holiday between)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import User
from cspr_engine.configuration import service as configuration_service
from cspr_engine.configuration.models import WorkflowConfiguration
from cspr_engine.db import get_engine
from cspr_engine.workflow import service as workflow_service
from tests.conftest import NOW
from tests.factories import Api, Directory, create_platform_admin, referral
from tests.web.test_router import (
    Element,
    WebClient,
    error_summary,
    hidden_inputs,
    inline_errors,
    page,
)

PAGE = "/ui/admin/configuration"
CSPR = f"{PAGE}/cspr"
API = "/api/v1/partnerships/{code}/workflows/cspr/configuration"
RAPID = "clocks.rapid_review.start"
QUALITY = "clocks.lcspr_quality_check.due"
DELAY = "clocks.delay_notice.due"
WARNING = "escalation.warning.offset_working_days"
APPLIES = (
    "Changes apply to cases opened from now on. "
    "Cases already open keep the rules they were opened with."
)
CSPR_TITLE = "Serious child safeguarding incident, rapid review and local CSPR (England)"
AWARE_LABEL = "The referral: date the local authority became aware"
NOTIFIED_LABEL = "Notify the Panel: date the Panel was notified"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Page tests, not password tests: argon2id at its cheapest.
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def signed_in(app: FastAPI, directory: Directory) -> Iterator[Any]:
    """`signed_in("admin", "OT")` -> a browser's view of the server, signed in as that user
    (an e-mail address for anyone outside the directory)."""
    made: list[WebClient] = []

    def make(who: str, partnership: str = "TW") -> WebClient:
        email = who if "@" in who else f"{who}@{partnership.lower()}.example"
        client = WebClient(app).sign_in(email)
        made.append(client)
        return client

    yield make
    for client in made:
        client.http.close()


def label(workflow: str, key: str) -> str:
    found = configuration_service.settings_of(workflow_service.latest(workflow))
    return next(s.label for s in found if s.key == key)


def field_id(key: str, workflow: str = "cspr") -> str:
    return f"{workflow}-{key}".replace(".", "-").replace("_", "-")


def shown_form(doc: Element, action: str) -> dict[str, str]:
    """What the browser would post from the form as the page shows it."""
    form = doc.find("form", action=action)
    data = {
        i.attrs["name"]: i.attrs.get("value", "")
        for i in form.find_all("input")
        if "name" in i.attrs
    }
    for chooser in form.find_all("select"):
        options = chooser.find_all("option")
        chosen = [o for o in options if "selected" in o.attrs] or options[:1]
        data[chooser.attrs["name"]] = chosen[0].attrs["value"]
    for area in form.find_all("textarea"):
        data[area.attrs["name"]] = area.text
    data.pop("csrf_token", None)  # WebClient.post adds the session's own
    return data


def save(admin: WebClient, changes: dict[str, str], *, url: str = PAGE, action: str = CSPR) -> Any:
    """Change the shown form's fields and post it."""
    return admin.post(action, {**shown_form(page(admin.get(url)), action), **changes})


def stored(code: str | None = None) -> list[WorkflowConfiguration]:
    with Session(get_engine()) as session:
        query = select(WorkflowConfiguration).order_by(col(WorkflowConfiguration.version))
        if code is not None:
            partnership = accounts_repository.partnership_by_code(session, code)
            assert partnership is not None
            query = query.where(col(WorkflowConfiguration.partnership_id) == partnership.id)
        return list(session.exec(query))


def section(doc: Element, workflow: str = "cspr") -> Element:
    return doc.find("section", data_workflow=workflow)


def sections(doc: Element) -> list[Element]:
    return [s for s in doc.find_all("section") if "data-workflow" in s.attrs]


def selected(doc: Element, key: str) -> str:
    found = [o for o in doc.by_id(field_id(key)).find_all("option") if "selected" in o.attrs]
    assert len(found) == 1, key
    return found[0].attrs["value"]


def api_settings(api: Api, code: str = "TW", who: str = "chair") -> dict[str, Any]:
    response = api.client.get(API.format(code=code), headers=api.headers(who, partnership=code))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_page_shows_each_workflows_settings_with_their_defaults(signed_in: Any) -> None:
    admin = signed_in("admin")
    response = admin.get(PAGE)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    doc = page(response)
    assert doc.by_id("configuration-applies").text == APPLIES
    # One section for each workflow the service runs, in its latest definition.
    names = sorted({name for name, _ in workflow_service.get_definitions()})
    assert [s.attrs["data-workflow"] for s in sections(doc)] == names
    cspr = section(doc)
    assert cspr.attrs["data-version"] == "0"
    assert cspr.find("h2").text == CSPR_TITLE
    assert "has not changed any rule" in cspr.by_id("workflow-cspr-current").text
    # Every setting the workflow marks configurable, in the file's order.
    keys = [s.key for s in configuration_service.settings_of(workflow_service.latest("cspr"))]
    groups = cspr.find("form").find_all("div", cls="govuk-form-group")
    assert [g.attrs.get("data-setting") for g in groups] == [*keys, None]  # and the reason
    assert len(keys) == 6

    start = cspr.by_id(field_id(RAPID))
    assert start.tag == "select"
    assert [
        (o.attrs["value"], o.text, "selected" in o.attrs) for o in start.find_all("option")
    ] == [
        ("became_aware_on", f"{AWARE_LABEL} (default)", True),
        ("notified_on", NOTIFIED_LABEL, False),
    ]
    assert cspr.find("label", for_=field_id(RAPID)).text == label("cspr", RAPID)
    assert "15 working days of becoming aware" in cspr.by_id(f"{field_id(RAPID)}-hint").text

    quality = cspr.by_id(field_id(QUALITY))
    assert (quality.tag, quality.attrs["value"], quality.attrs["inputmode"]) == (
        "input",
        "1",
        "numeric",
    )
    hint = cspr.by_id(f"{field_id(QUALITY)}-hint").text
    assert "Regs 2018 reg 14" in hint  # the basis
    assert "In months: a whole number from 1 to 120. The default is 1." in hint
    warning = cspr.by_id(field_id(WARNING))
    assert warning.attrs["value"] == "-2"
    assert "inputmode" not in warning.attrs  # a numeric keypad has no minus sign
    assert (
        "In working days before the due date: a whole number from -30 to -1. The default is -2."
        in cspr.by_id(f"{field_id(WARNING)}-hint").text
    )
    assert cspr.by_id("cspr-reason").tag == "textarea"
    assert hidden_inputs(doc, CSPR) == {"csrf_token": admin.csrf, "version": "0"}
    assert not cspr.has_id("workflow-cspr-history")
    assert stored() == []


def test_a_saved_change_is_version_1_on_the_page_and_in_the_api(
    signed_in: Any, api: Api, directory: Directory
) -> None:
    admin = signed_in("admin")
    response = save(
        admin, {RAPID: "notified_on", WARNING: "-3", "reason": "Agreed by the LSPs on 10 June"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == PAGE

    doc = page(admin.get(PAGE))
    banner = doc.find("div", cls="govuk-notification-banner--success").text
    assert f"Version 1 of the rules for “{CSPR_TITLE}” was saved" in banner
    cspr = section(doc)
    assert cspr.attrs["data-version"] == "1"
    current = cspr.by_id("workflow-cspr-current").text
    assert "Version in force 1" in current
    assert "Saved 17 June 2026 at 10:00am by admin" in current
    assert "Reason Agreed by the LSPs on 10 June" in current
    assert selected(cspr, RAPID) == "notified_on"
    assert cspr.by_id(field_id(WARNING)).attrs["value"] == "-3"
    assert hidden_inputs(doc, CSPR)["version"] == "1"
    rows = cspr.by_id("workflow-cspr-history").find("tbody").find_all("tr")
    assert [r.attrs["data-version"] for r in rows] == ["1"]
    assert [li.text for li in rows[0].find_all("li")] == [
        f"{label('cspr', RAPID)} Was {AWARE_LABEL}, now {NOTIFIED_LABEL}",
        f"{label('cspr', WARNING)} Was -2 working days, now -3 working days",
    ]
    # The other workflow is untouched.
    assert [s.attrs["data-version"] for s in sections(doc) if s is not cspr] == ["0"] * (
        len(sections(doc)) - 1
    )

    # Settings left at their default are not stored: a stored value means a choice.
    (row,) = stored()
    assert row.values == {RAPID: "notified_on", WARNING: -3}
    assert (row.workflow, row.version, row.reason) == ("cspr", 1, "Agreed by the LSPs on 10 June")
    assert str(row.created_by) == directory.user_ids["TW"]["admin"]
    assert stored("OT") == []
    body = api_settings(api)
    assert body["version"] == 1
    shown = {s["key"]: (s["value"], s["configured"]) for s in body["settings"]}
    assert shown[RAPID] == ("notified_on", True)
    assert shown[WARNING] == (-3, True)
    assert shown[QUALITY] == (1, False)


def test_a_later_change_is_a_new_version_and_the_history_says_what_changed(
    signed_in: Any,
) -> None:
    admin = signed_in("admin")
    assert save(admin, {RAPID: "notified_on", "reason": "First"}).status_code == 303
    assert (
        save(admin, {RAPID: "became_aware_on", QUALITY: "2", "reason": "Second"}).status_code == 303
    )
    assert save(admin, {"reason": "Recorded again"}).status_code == 303
    assert [(r.version, r.values) for r in stored()] == [
        (1, {RAPID: "notified_on"}),
        (2, {QUALITY: 2}),
        (3, {QUALITY: 2}),
    ]
    cspr = section(page(admin.get(PAGE)))
    rows = cspr.by_id("workflow-cspr-history").find("tbody").find_all("tr")
    assert [r.attrs["data-version"] for r in rows] == ["3", "2", "1"]
    changes = [[li.text for li in r.find_all("li")] for r in rows]
    assert changes[1] == [
        f"{label('cspr', RAPID)} Was {NOTIFIED_LABEL}, now {AWARE_LABEL}",
        f"{label('cspr', QUALITY)} Was 1 month, now 2 months",
    ]
    assert changes[0] == []
    assert "No change to the rules" in rows[0].text
    assert "Recorded again" in rows[0].text
    assert selected(cspr, RAPID) == "became_aware_on"
    assert cspr.by_id(field_id(QUALITY)).attrs["value"] == "2"


def test_invalid_values_are_shown_beside_their_fields_and_nothing_is_stored(
    signed_in: Any,
) -> None:
    admin = signed_in("admin")
    response = save(
        admin, {RAPID: "panel_response", DELAY: "five", QUALITY: "0", WARNING: "", "reason": " "}
    )
    assert response.status_code == 422
    doc = page(response)
    assert doc.find("title").text.startswith("Error: Workflow rules")
    delay_clock = (
        "Tell the Panel and the Secretary of State why publication or the review is delayed"
    )
    expected = [
        (
            f"#{field_id(RAPID)}",
            "Select the start of “Complete the rapid review and send it to the Panel” "
            "from the list",
        ),
        (f"#{field_id(DELAY)}", f"The time allowed for “{delay_clock}” must be a whole number"),
        (
            f"#{field_id(QUALITY)}",
            "The time allowed for “Monitor the review's time and quality” must be between 1 "
            "and 120",
        ),
        (f"#{field_id(WARNING)}", "Enter the escalation ladder's warning"),
        ("#cspr-reason", "Enter the reason for the change"),
    ]
    assert error_summary(doc) == expected
    inline = inline_errors(doc)
    assert {f"#{k.removesuffix('-error')}": v for k, v in inline.items()} == dict(expected)
    # What was typed is kept.
    cspr = section(doc)
    assert cspr.by_id(field_id(DELAY)).attrs["value"] == "five"
    assert cspr.by_id(field_id(QUALITY)).attrs["value"] == "0"
    assert stored() == []

    too_long = save(admin, {"reason": "x" * 2_001})
    assert too_long.status_code == 422
    assert error_summary(page(too_long)) == [
        ("#cspr-reason", "Reason for the change must be 2000 characters or fewer")
    ]
    assert stored() == []


def test_a_form_shown_before_someone_elses_change_is_refused_and_shows_the_rules_in_force(
    signed_in: Any, api: Api
) -> None:
    admin = signed_in("admin")
    before = shown_form(page(admin.get(PAGE)), CSPR)
    other = api.client.put(
        API.format(code="TW"),
        json={"values": {RAPID: "notified_on"}, "reason": "Changed through the API"},
        headers=api.headers("admin"),
    )
    assert other.status_code == 200, other.text
    # Posted whole, the stale form would put the rapid review start back to its default.
    response = admin.post(CSPR, {**before, QUALITY: "3", "reason": "Quarterly checks"})
    assert response.status_code == 412
    doc = page(response)
    ((anchor, message),) = error_summary(doc)
    assert anchor == f"#{field_id(RAPID)}"
    assert message.startswith("Someone else changed these rules while you were editing them.")
    cspr = section(doc)
    assert selected(cspr, RAPID) == "notified_on"
    assert cspr.by_id(field_id(QUALITY)).attrs["value"] == "1"
    assert cspr.by_id("cspr-reason").text == "Quarterly checks"
    assert hidden_inputs(doc, CSPR)["version"] == "1"
    assert [(r.version, r.values) for r in stored()] == [(1, {RAPID: "notified_on"})]


def test_a_change_applies_to_cases_opened_after_it_not_to_running_ones(
    signed_in: Any, api: Api
) -> None:
    incident = {**referral()["incident"], "occurred_on": "2026-06-14"}
    before = str(api.create_case(became_aware_on="2026-06-15", incident=incident)["id"])
    admin = signed_in("admin")
    assert save(admin, {RAPID: "notified_on", "reason": "The Panel's guidance"}).status_code == 303
    after = str(api.create_case(became_aware_on="2026-06-15", incident=incident)["id"])

    def clocks(case_id: str) -> dict[str, dict[str, Any]]:
        return {d["key"]: d for d in api.get_case(case_id)["deadlines"]}

    kept = clocks(before)
    assert (kept["rapid_review"]["due_on"], kept["rapid_review"]["config_version"]) == (
        "2026-07-06",
        None,
    )
    # Counted from the Panel's notification: not running until it is recorded.
    new = clocks(after)
    assert "rapid_review" not in new
    assert {d["config_version"] for d in new.values()} == {1}


def test_anyone_but_an_administrator_is_refused_and_changes_nothing(signed_in: Any) -> None:
    for who in ("chair", "lsp_la", "superuser"):
        person = signed_in(who)
        response = person.get(PAGE)
        assert response.status_code == 403, who
        assert "Only an administrator" in page(response).text
        posted = person.post(CSPR, {"version": "0", RAPID: "notified_on", "reason": "x"})
        assert posted.status_code == 403, who
    admin = signed_in("admin")
    forged = admin.post_without_csrf(
        CSPR, {"version": "0", RAPID: "notified_on", "reason": "No token"}
    )
    assert forged.status_code == 403
    assert "This form has expired or did not come from this service" in page(forged).text
    assert admin.post(f"{PAGE}/nope", {"version": "0", "reason": "x"}).status_code == 404
    assert stored() == []


def test_another_partnerships_admin_sees_and_changes_only_its_own(signed_in: Any, api: Api) -> None:
    admin = signed_in("admin", "OT")
    # The partnership picker is the platform admin's: anyone else's page is about their own.
    doc = page(admin.get(f"{PAGE}?partnership=TW"))
    assert doc.find("span", cls="govuk-caption-l").text == "OT"
    assert not doc.has_id("scope-partnership")
    response = save(
        admin,
        {RAPID: "notified_on", "reason": "OT's own choice"},
        url=f"{PAGE}?partnership=TW",
        action=CSPR,
    )
    assert response.status_code == 303
    smuggled = admin.post(
        f"{CSPR}?partnership=TW",
        {**shown_form(page(admin.get(PAGE)), CSPR), QUALITY: "2", "reason": "Still OT"},
    )
    assert smuggled.status_code == 303
    assert [r.version for r in stored("OT")] == [1, 2]
    assert stored("TW") == []
    assert api_settings(api, "TW")["version"] == 0


def test_a_platform_admin_chooses_the_partnership(signed_in: Any, api: Api) -> None:
    create_platform_admin(NOW, email="root@platform.example")
    root = signed_in("root@platform.example")
    doc = page(root.get(f"{PAGE}?partnership=TW"))
    picker = doc.by_id("scope-partnership")
    assert [(o.attrs["value"], "selected" in o.attrs) for o in picker.find_all("option")] == [
        ("OT", False),
        ("TW", True),
    ]
    action = f"{CSPR}?partnership=TW"
    response = save(
        root,
        {RAPID: "notified_on", "reason": "At the partnership's request"},
        url=f"{PAGE}?partnership=TW",
        action=action,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{PAGE}?partnership=TW"
    (row,) = stored("TW")
    with Session(get_engine()) as session:
        author = session.get(User, row.created_by)
        assert author is not None
        assert author.is_platform_admin
    assert stored("OT") == []
    assert api_settings(api, "TW")["version"] == 1
    current = section(page(root.get(f"{PAGE}?partnership=TW"))).by_id("workflow-cspr-current")
    assert "by Platform admin" in current.text
    # Without a choice, the first partnership by code.
    assert section(page(root.get(PAGE))).attrs["data-version"] == "0"
    assert page(root.get(f"{PAGE}?partnership=NOPE")).find("h1").text == "Page not found"


def test_the_administration_index_links_to_the_page(signed_in: Any) -> None:
    doc = page(signed_in("admin").get("/ui/admin"))
    links = doc.by_id("admin-pages").find_all("a", href=PAGE)
    assert [a.text for a in links] == ["Workflow rules"]


def test_a_platform_admin_with_no_partnership_yet_is_told_so(app: FastAPI) -> None:
    create_platform_admin(NOW, email="root@platform.example")
    root = WebClient(app).sign_in("root@platform.example")
    try:
        doc = page(root.get(PAGE))
        assert doc.has_id("no-partnerships")
        assert sections(doc) == []
        refused = root.post(CSPR, {"version": "0", "reason": "x"})
        assert refused.status_code == 404
        assert stored() == []
    finally:
        root.http.close()
