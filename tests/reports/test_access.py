"""Who may read the timeliness report: the roles that read every case of their partnership
(never a referrer, an administrator or a platform admin); each read is in the access log, and
a read writes nothing else."""

from __future__ import annotations

import pytest

from cspr_engine.access import policy
from cspr_engine.access.policy import CASE_READ, PERMISSIONS, Permission, Reach
from tests.conftest import NOW
from tests.factories import (
    Api,
    Directory,
    access_events,
    assert_problem,
    create_platform_admin,
    stored,
)

REPORT = "/api/v1/reports/timeliness"
READERS = ("chair", "business", "dsp_la", "dsp_police", "dsp_health", "lsp_la", "scrutineer", "qpd")
REFUSED = ("referrer", "referrer_education", "admin")


def test_the_readers_are_roles_that_read_every_case_of_their_partnership() -> None:
    # A report lists case references and counts every case: only a role that may open every
    # case of its partnership may read it.
    readers = PERMISSIONS[Permission.read_reports]
    assert readers == {"panel_chair", "business_unit", "dsp", "lsp", "scrutineer", "qpd"}
    assert all(CASE_READ[role] is Reach.partnership for role in readers)
    assert Permission.read_reports not in policy.PLATFORM_ADMIN


@pytest.mark.parametrize("who", READERS)
def test_each_reader_gets_the_report_of_its_partnership(api: Api, who: str) -> None:
    before = stored()
    response = api.client.get(REPORT, headers=api.headers(who))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["partnership"] == "TW"
    # No case yet: every figure is there, and nothing.
    assert report["figures"]["activity"] == {
        "referrals": 0,
        "notifications": 0,
        "rapid_reviews_completed": 0,
        "panel_outcomes": {
            "agrees_lcspr": 0,
            "agrees_no_lcspr": 0,
            "national_review": 0,
            "further_information_requested": 0,
        },
        "lcspr_commissioned": 0,
        "lcspr_completed": 0,
        "lcspr_published": 0,
        "lcspr_withheld": 0,
    }
    assert list(report["figures"]["clocks"]) == [
        "panel_notification",
        "rapid_review",
        "lcspr_completion",
        "pre_publication_notice",
    ]
    assert {c["due_in_period"] for c in report["figures"]["clocks"].values()} == {0}
    assert {c["median_working_days"] for c in report["figures"]["clocks"].values()} == {None}
    assert report["figures"]["actions"] == {"open": 0, "overdue": 0, "completed": 0}
    assert (report["open_breaches"], report["extensions"]) == ([], [])
    assert stored() == before  # a read changes nothing


@pytest.mark.parametrize("who", REFUSED)
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_other_roles_are_refused(api: Api, who: str, accept: str) -> None:
    response = api.client.get(REPORT, headers=api.headers(who, Accept=accept))
    body = assert_problem(response, 403, "/problems/report-forbidden")
    assert "scrutineer" in body["detail"]


def test_a_refused_role_is_refused_before_its_period_is_looked_at(api: Api) -> None:
    response = api.client.get(
        REPORT, params={"from": "2026-05-02", "to": "2026-05-01"}, headers=api.headers("referrer")
    )
    assert_problem(response, 403, "/problems/report-forbidden")


def test_a_platform_admin_is_refused(api: Api) -> None:
    token = create_platform_admin(NOW)
    response = api.client.get(REPORT, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 403, "/problems/report-forbidden")


def test_without_credentials_it_is_a_401_and_no_access_log_row(api: Api) -> None:
    response = api.client.get(REPORT)
    assert_problem(response, 401)
    assert access_events() == []


def test_reads_and_refusals_are_in_the_access_log(api: Api, directory: Directory) -> None:
    assert api.client.get(REPORT, headers=api.headers("scrutineer")).status_code == 200
    assert api.client.get(REPORT, headers=api.headers("referrer")).status_code == 403
    rows = sorted(access_events(), key=lambda r: r["status"])  # both at the same instant
    assert [
        (r["actor_id"], r["action"], r["path"], r["case_id"], r["outcome"], r["status"])
        for r in rows
    ] == [
        (
            directory.user_ids["TW"]["scrutineer"],
            "case.timeliness_report",
            REPORT,
            None,
            "allowed",
            200,
        ),
        (
            directory.user_ids["TW"]["referrer"],
            "case.timeliness_report",
            REPORT,
            None,
            "denied",
            403,
        ),
    ]
