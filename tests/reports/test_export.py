"""GET /api/v1/cases/export.csv: one row per case the caller can read (as GET /cases lists
them: a case shared in too), with each statutory clock's due date and status, and nothing of
the child's."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import Api, access_events, assert_problem, create_platform_admin

EXPORT = "/api/v1/cases/export.csv"
HEADER = [
    "reference",
    "id",
    "partnership",
    "workflow",
    "state",
    "state_label",
    "referring_agency",
    "partner_reference",
    "became_aware_on",
    "created_at",
    "closed_at",
    "panel_notification_due_on",
    "panel_notification_status",
    "rapid_review_due_on",
    "rapid_review_status",
    "lcspr_completion_due_on",
    "lcspr_completion_status",
    "pre_publication_notice_due_on",
    "pre_publication_notice_status",
]


def export(
    api: Api, who: str, partnership: str = "TW", today: str = "2026-06-17"
) -> list[dict[str, str]]:
    response = api.client.get(EXPORT, headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="cases-{partnership}-{today}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == HEADER
    assert "Infant admitted" not in response.text  # the summary, as the fixtures write it
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


@pytest.fixture
def cases(api: Api, clock: FixedClock) -> dict[str, dict[str, Any]]:
    """Opened a minute apart (the export is oldest first)."""
    made: dict[str, dict[str, Any]] = {}
    clock.set(NOW)
    # Aware Wed 10 June: notification due 17 June, rapid review 1 July; a partner reference a
    # spreadsheet would run as a formula.
    made["police"] = api.create_case(partner_reference="=HYPERLINK(1)")
    clock.set(NOW + timedelta(minutes=1))
    # Aware Mon 1 June: notification due 8 June (met on the 3rd), rapid review 22 June.
    incident = {"occurred_on": "2026-06-01", "outcome": "death", "abuse_or_neglect": "known"}
    made["health"] = api.create_case(
        became_aware_on="2026-06-01",
        referring_agency="health",
        partner_reference="NHS-TRUST-9",
        incident=incident,
    )
    api.ok(made["health"]["id"], "notify_panel", {"notified_on": "2026-06-03"})
    clock.set(NOW + timedelta(minutes=2))
    made["shared"] = api.create_case(partnership="OT", partner_reference="OT-1")
    shared = api.client.post(
        f"/api/v1/cases/{made['shared']['id']}/shares",
        json={"partnership": "TW", "reason": "The family moved to TW."},
        headers=api.headers("chair", "OT"),
    )
    assert shared.status_code == 201, shared.text
    clock.set(NOW + timedelta(minutes=3))
    made["other"] = api.create_case(partnership="OT", partner_reference="OT-2")
    clock.set(NOW)
    return made


def row(
    case: dict[str, Any], partnership: str, state: str, label: str, agency: str, minute: int
) -> dict[str, str]:
    return {
        "reference": case["reference"],
        "id": case["id"],
        "partnership": partnership,
        "workflow": "cspr",
        "state": state,
        "state_label": label,
        "referring_agency": agency,
        "partner_reference": case["partner_reference"],
        "became_aware_on": case["became_aware_on"],
        "created_at": f"2026-06-17T09:0{minute}:00Z",
        "closed_at": "",
    }


def no_lcspr() -> dict[str, str]:
    return {
        "lcspr_completion_due_on": "",
        "lcspr_completion_status": "",
        "pre_publication_notice_due_on": "",
        "pre_publication_notice_status": "",
    }


def test_the_scrutineer_exports_its_cases_and_the_one_shared_in(
    api: Api, cases: dict[str, dict[str, Any]]
) -> None:
    police, health, shared = cases["police"], cases["health"], cases["shared"]
    assert export(api, "scrutineer") == [
        {
            **row(police, "TW", "referred", "Referred", "police", 0),
            # Quoted: a spreadsheet would run =HYPERLINK(1) as a formula.
            "partner_reference": "'=HYPERLINK(1)",
            "panel_notification_due_on": "2026-06-17",
            "panel_notification_status": "pending",
            "rapid_review_due_on": "2026-07-01",
            "rapid_review_status": "pending",
            **no_lcspr(),
        },
        {
            **row(health, "TW", "rapid_review", "Rapid review", "health", 1),
            "panel_notification_due_on": "2026-06-08",
            "panel_notification_status": "met",
            "rapid_review_due_on": "2026-06-22",
            "rapid_review_status": "pending",
            **no_lcspr(),
        },
        {
            **row(shared, "OT", "referred", "Referred", "police", 2),
            "panel_notification_due_on": "2026-06-17",
            "panel_notification_status": "pending",
            "rapid_review_due_on": "2026-07-01",
            "rapid_review_status": "pending",
            **no_lcspr(),
        },
    ]


def test_a_clock_past_due_is_exported_breached_before_the_sweep(
    api: Api, clock: FixedClock, cases: dict[str, dict[str, Any]]
) -> None:
    # Thursday 18 June: the police case's notification (due the 17th) is breached.
    clock.set(NOW + timedelta(days=1))
    rows = export(api, "chair", today="2026-06-18")
    assert (rows[0]["reference"], rows[0]["panel_notification_status"]) == (
        cases["police"]["reference"],
        "breached",
    )


def test_a_referrer_exports_only_the_cases_it_reads(
    api: Api, cases: dict[str, dict[str, Any]]
) -> None:
    # TW's referrer is the police's: it reads the police referral, not health's, nor the case
    # shared with its partnership (shared cases are for the roles that read every case).
    assert [r["reference"] for r in export(api, "referrer")] == [cases["police"]["reference"]]
    assert export(api, "referrer_education") == []


def test_the_other_partnership_exports_its_own(api: Api, cases: dict[str, dict[str, Any]]) -> None:
    assert [r["reference"] for r in export(api, "qpd", "OT")] == [
        cases["shared"]["reference"],
        cases["other"]["reference"],
    ]


def test_an_administrator_reads_no_case_and_exports_none(
    api: Api, cases: dict[str, dict[str, Any]]
) -> None:
    assert export(api, "admin") == []
    token = create_platform_admin(NOW)
    response = api.client.get(EXPORT, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.text.splitlines() == [",".join(HEADER)]


def test_the_export_is_in_the_access_log_and_needs_credentials(api: Api) -> None:
    assert_problem(api.client.get(EXPORT), 401)
    assert api.client.get(EXPORT, headers=api.headers("scrutineer")).status_code == 200
    assert [(r["action"], r["outcome"], r["case_id"]) for r in access_events()] == [
        ("case.export_cases", "allowed", None)
    ]
