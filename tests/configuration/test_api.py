"""Partnership configuration over HTTP: the settings a workflow marks configurable, a change as
a new version, and its effect on clocks: new cases count by it, running cases never change.

Dates (England & Wales, statutory-process.md §5 convention: the start is day 0): aware Wednesday
20 May 2026, +15 working days over the late May bank holiday (Monday 25 May) is Thursday 11 June;
notified Wednesday 27 May, +15 working days is Wednesday 17 June.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from cspr_engine.alerts.models import OutboxEvent
from cspr_engine.configuration.models import WorkflowConfiguration
from cspr_engine.db import get_engine
from cspr_engine.deadlines import service as deadline_service
from tests.conftest import NOW
from tests.factories import Api, assert_problem, referral

PATH = "/api/v1/partnerships/TW/workflows/cspr/configuration"
AWARE = "2026-05-20"
NOTIFIED = "2026-05-27"
FROM_AWARENESS = "2026-06-11"
FROM_NOTIFICATION = "2026-06-17"


def read(api: Api, who: str = "chair", path: str = PATH) -> httpx.Response:
    return api.client.get(path, headers=api.headers(who))


def put(
    api: Api,
    values: dict[str, Any],
    who: str = "admin",
    reason: str = "Agreed by the LSPs",
    **h: str,
) -> httpx.Response:
    return api.client.put(
        PATH, json={"values": values, "reason": reason}, headers=api.headers(who, **h)
    )


def settings(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in body["settings"]}


def versions_stored() -> int:
    with Session(get_engine()) as session:
        return int(session.exec(select(func.count()).select_from(WorkflowConfiguration)).one())


def clock(api: Api, case_id: str, key: str) -> dict[str, Any] | None:
    found = [d for d in api.get_case(case_id)["deadlines"] if d["key"] == key]
    return found[-1] if found else None


def new_case(api: Api) -> str:
    incident = {**referral()["incident"], "occurred_on": "2026-05-19"}
    response = api.create_case(became_aware_on=AWARE, partner_reference=None, incident=incident)
    return str(response["id"])


def notify(api: Api, case_id: str) -> dict[str, Any]:
    return api.ok(case_id, "notify_panel", {"notified_on": NOTIFIED}, who="business")


def test_the_settings_are_what_the_workflow_marks_configurable(api: Api) -> None:
    response = read(api)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == '"0"'
    assert (body["partnership"], body["workflow"], body["version"]) == ("TW", "cspr", 0)
    shown = settings(body)
    assert set(shown) == {
        "clocks.rapid_review.start",
        "clocks.lcspr_completion.start",
        "clocks.delay_notice.due",
        "clocks.lcspr_quality_check.due",
        "escalation.warning.offset_working_days",
        "escalation.escalation.offset_working_days",
    }
    start = shown["clocks.rapid_review.start"]
    assert start["options"] == ["became_aware_on", "notified_on"]
    assert (start["default"], start["value"], start["configured"]) == (
        "became_aware_on",
        "became_aware_on",
        False,
    )
    assert "15 working days" in start["basis"]
    quality = shown["clocks.lcspr_quality_check.due"]
    assert (quality["unit"], quality["default"], quality["minimum"]) == ("months", 1, 1)
    warning = shown["escalation.warning.offset_working_days"]
    assert (warning["default"], warning["minimum"], warning["maximum"]) == (-2, -30, -1)
    escalation = shown["escalation.escalation.offset_working_days"]
    assert (escalation["default"], escalation["minimum"], escalation["maximum"]) == (5, 1, 60)


def test_an_admin_sets_a_new_version_and_every_version_is_kept(api: Api) -> None:
    first = put(api, {"clocks.rapid_review.start": "notified_on"})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"1"'
    assert first.json()["version"] == 1
    second = put(
        api,
        {"escalation.warning.offset_working_days": -3, "clocks.lcspr_quality_check.due": 2},
        reason="Monthly checks were too frequent for the reviewers",
        **{"If-Match": '"1"'},
    )
    assert second.status_code == 200, second.text
    shown = settings(read(api).json())
    # A setting not named goes back to its default.
    assert shown["clocks.rapid_review.start"]["value"] == "became_aware_on"
    assert shown["escalation.warning.offset_working_days"]["value"] == -3
    assert shown["clocks.lcspr_quality_check.due"]["configured"] is True
    listed = read(api, path=f"{PATH}/versions").json()
    assert [(v["version"], v["values"]) for v in listed["items"]] == [
        (2, {"escalation.warning.offset_working_days": -3, "clocks.lcspr_quality_check.due": 2}),
        (1, {"clocks.rapid_review.start": "notified_on"}),
    ]
    assert listed["items"][0]["reason"] == "Monthly checks were too frequent for the reviewers"
    page = api.client.get(f"{PATH}/versions?limit=1", headers=api.headers("chair")).json()
    assert [v["version"] for v in page["items"]] == [2]
    rest = api.client.get(
        f"{PATH}/versions?limit=1&cursor={page['next_cursor']}", headers=api.headers("chair")
    ).json()
    assert [v["version"] for v in rest["items"]] == [1]
    assert rest["next_cursor"] is None


def test_a_new_rapid_review_start_changes_new_cases_due_dates_not_existing_ones(
    api: Api,
) -> None:
    before = new_case(api)
    assert clock(api, before, "rapid_review")["due_on"] == FROM_AWARENESS  # type: ignore[index]

    assert put(api, {"clocks.rapid_review.start": "notified_on"}).status_code == 200
    after = new_case(api)
    # Counted from the notification: not running until the Panel is notified.
    assert clock(api, after, "rapid_review") is None

    for case_id in (before, after):
        notify(api, case_id)
    kept = clock(api, before, "rapid_review")
    moved = clock(api, after, "rapid_review")
    assert kept is not None
    assert moved is not None
    assert (kept["due_on"], kept["start_option"], kept["config_version"]) == (
        FROM_AWARENESS,
        "became_aware_on",
        None,
    )
    assert (moved["due_on"], moved["start_option"], moved["config_version"]) == (
        FROM_NOTIFICATION,
        "notified_on",
        1,
    )
    # Every clock of the new case records the version it counts by.
    assert {d["config_version"] for d in api.get_case(after)["deadlines"]} == {1}

    # And a later change leaves the case opened under version 1 as it was.
    assert put(api, {}, reason="Back to the guidance's own start").status_code == 200
    assert clock(api, after, "rapid_review")["due_on"] == FROM_NOTIFICATION  # type: ignore[index]
    latest = new_case(api)
    assert clock(api, latest, "rapid_review")["due_on"] == FROM_AWARENESS  # type: ignore[index]


def test_an_escalation_timing_moves_the_warning_of_new_cases_only(api: Api) -> None:
    before = new_case(api)
    assert put(api, {"escalation.warning.offset_working_days": -4}).status_code == 200
    after = new_case(api)
    # panel_notification: aware 20 May, due Thursday 28 May (5 working days over the bank
    # holiday); the warning 2 working days before (Tuesday 26 May), or 4 (Thursday 21 May).
    old = clock(api, before, "panel_notification")
    new = clock(api, after, "panel_notification")
    assert old is not None
    assert new is not None
    assert old["due_on"] == new["due_on"] == "2026-05-28"
    # The ladder starts at its first rung (the sweep then fires only the latest one due).
    assert old["next_alert_at"] == "2026-05-26T22:59:59Z"
    assert new["next_alert_at"] == "2026-05-21T22:59:59Z"
    assert (old["config_version"], new["config_version"]) == (None, 1)


RAPID_START = "clocks.rapid_review.start"
WARNING = "escalation.warning.offset_working_days"
ESCALATION = "escalation.escalation.offset_working_days"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        (RAPID_START, "panel_response", "one of"),
        ("clocks.rapid_review.due", 10, "not a setting"),
        ("clocks.panel_notification.start", "x", "not a setting"),
        ("clocks.lcspr_quality_check.due", 0, "between 1 and 120"),
        ("clocks.delay_notice.due", "5", "whole number"),
        (WARNING, 1, "between -30 and -1"),
        (ESCALATION, -1, "between 1 and 60"),
        ("escalation.breach.offset_working_days", 2, "not a setting"),
    ],
)
def test_a_value_the_workflow_does_not_allow_is_422_and_changes_nothing(
    api: Api, key: str, value: Any, words: str
) -> None:
    response = put(api, {key: value})
    problem = assert_problem(response, 422)
    assert [(e["loc"], words in e["message"]) for e in problem["errors"]] == [
        (f"values.{key}", True)
    ]
    assert versions_stored() == 0


def test_who_may_read_and_change(api: Api) -> None:
    for who in ("chair", "dsp_police", "scrutineer", "admin"):
        assert read(api, who).status_code == 200, who
    assert_problem(read(api, "chair", path=PATH.replace("/TW/", "/OT/")), 403)
    for who in ("chair", "dsp_la", "lsp_la", "superuser"):
        assert_problem(put(api, {}, who=who), 403, "/problems/not-an-administrator")
    other = api.client.put(
        PATH, json={"values": {}, "reason": "x"}, headers=api.headers("admin", partnership="OT")
    )
    assert_problem(other, 403, "/problems/not-your-partnership")
    assert_problem(
        read(api, path=PATH.replace("/TW/", "/NOPE/")), 404, "/problems/partnership-not-found"
    )
    assert_problem(
        read(api, path=PATH.replace("/cspr/", "/nope/")), 404, "/problems/workflow-not-found"
    )
    assert_problem(api.client.get(PATH), 401)
    assert versions_stored() == 0


def test_a_stale_if_match_is_412_and_a_missing_reason_is_422(api: Api) -> None:
    assert put(api, {"clocks.rapid_review.start": "notified_on"}).status_code == 200
    stale = put(api, {}, **{"If-Match": '"0"'})
    assert_problem(stale, 412, "/problems/configuration-changed")
    blank = api.client.put(PATH, json={"values": {}, "reason": "  "}, headers=api.headers("admin"))
    assert_problem(blank, 422)
    assert versions_stored() == 1
    assert settings(read(api).json())["clocks.rapid_review.start"]["value"] == "notified_on"
    with Session(get_engine()) as session:
        row = session.exec(
            select(WorkflowConfiguration).where(col(WorkflowConfiguration.version) == 1)
        ).one()
    assert row.reason == "Agreed by the LSPs"


def test_the_sweep_fires_each_clocks_ladder_as_its_own_version_sets_it(api: Api) -> None:
    """Aware Monday 15 June: notification due Monday 22 June. The default warning falls 2
    working days before (end of Thursday 18 June); version 1 moves it to 4 (end of Tuesday 16
    June), already past at the suite's clock (Wednesday 17 June, 10:00)."""
    incident = {**referral()["incident"], "occurred_on": "2026-06-14"}
    before = api.create_case(became_aware_on="2026-06-15", incident=incident)["id"]
    assert put(api, {"escalation.warning.offset_working_days": -4}).status_code == 200
    after = api.create_case(became_aware_on="2026-06-15", incident=incident)["id"]
    with Session(get_engine()) as session:
        deadline_service.sweep(session, now=NOW)
        session.commit()
        warned = set(
            session.exec(
                select(col(OutboxEvent.case_id)).where(col(OutboxEvent.type) == "deadline.warning")
            )
        )
    assert warned == {uuid.UUID(after)}
    assert clock(api, before, "panel_notification")["next_alert_at"] == "2026-06-18T22:59:59Z"  # type: ignore[index]
