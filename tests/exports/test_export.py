"""A case's full record as JSON: its shape, that each part says exactly what the individual
endpoint says to the same reader, who may take it (the panel chair, the business unit and the
scrutineer of the case's own partnership), the access log in it only for those who read the
access log, and the export itself in the access log as `case.export`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cspr_engine.kit.clock import FixedClock
from tests.factories import PEOPLE, Api, Directory, access_events, assert_problem, snapshot
from tests.information_requests.helpers import add_document

KEYS = {
    "exported_at",
    "exported_by",
    "case",
    "events",
    "deadlines",
    "approvals",
    "information_requests",
    "actions",
    "links",
    "shares",
    "documents",
    "access",
}


def export(api: Api, case: dict[str, Any], who: str = "chair", partnership: str = "TW") -> Any:
    return api.client.get(
        f"/api/v1/cases/{case['id']}/export", headers=api.headers(who, partnership)
    )


def get(api: Api, path: str, who: str = "chair") -> Any:
    response = api.client.get(f"/api/v1{path}", headers=api.headers(who))
    assert response.status_code == 200, (path, response.text)
    return response.json()


@pytest.fixture
def full(api: Api, clock: FixedClock) -> dict[str, Any]:
    """A TW case with something of every kind: information requests (one answered, one
    withdrawn), an extended clock, the rapid review done and two of the three DSP votes, an
    improvement action with an update, a sibling link and a removed external one, a share with
    OT, and a document."""
    case = api.create_case(became_aware_on="2026-06-10")
    sibling = api.create_case(became_aware_on="2026-06-10", referring_agency="health")
    cid, base = case["id"], f"/api/v1/cases/{case['id']}"

    def ok(method: str, path: str, who: str, body: dict[str, Any] | None = None) -> Any:
        response = api.client.request(method, base + path, json=body, headers=api.headers(who))
        assert response.status_code < 300, response.text
        return response.json()

    api.ok(cid, "notify_panel", {"notified_on": "2026-06-11", "panel_reference": "CSPRP-9"})
    asked = ok(
        "POST",
        "/information-requests",
        "business",
        {"agencies": ["police", "health"], "asked": "Your involvement."},
    )
    police, health = asked["items"]
    ok(
        "POST",
        f"/information-requests/{police['id']}/response",
        "referrer",
        {"known_to_agency": True, "summary": "Known since 2025."},
    )
    ok(
        "POST",
        f"/information-requests/{health['id']}/withdraw",
        "business",
        {"reason": "Asked in error."},
    )
    ok(
        "POST",
        "/deadlines/rapid_review/extensions",
        "chair",
        {"new_due_on": "2026-07-15", "reason": "Returns late."},
    )
    api.ok(
        cid,
        "complete_rapid_review",
        {
            "completed_on": "2026-06-16",
            "recommendation": "lcspr",
            "criteria": ["a"],
            "rationale": "Learning.",
        },
    )
    for dsp in ("dsp_la", "dsp_police"):
        assert api.vote(cid, dsp).status_code == 200
    ok(
        "POST",
        "/actions",
        "qpd",
        {
            "source": "immediate_action",
            "description": "Review the threshold.",
            "owner_agency": "police",
            "due_on": "2026-08-31",
        },
    )
    ok("PATCH", "/actions/A1", "referrer", {"status": "in_progress", "note": "Started."})
    ok(
        "POST",
        "/links",
        "chair",
        {"type": "sibling", "target": sibling["reference"], "note": "Brother."},
    )
    external = ok(
        "POST",
        "/links",
        "chair",
        {"type": "other_partnership", "external_partnership": "XX", "external_reference": "XX-1"},
    )
    ok("DELETE", f"/links/{external['id']}", "chair")
    ok("POST", "/shares", "chair", {"partnership": "OT", "reason": "The child's home authority."})
    add_document(cid, clock.now(), title="Police chronology")
    return api.get_case(cid, who="chair")


def test_the_record_is_every_part_as_its_own_endpoint_says_it(
    api: Api, full: dict[str, Any], directory: Directory
) -> None:
    response = export(api, full)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{full["reference"]}-record.json"'
    )
    record = response.json()
    assert set(record) == KEYS
    assert record["exported_at"] == "2026-06-17T09:00:00Z"
    assert record["exported_by"] == {
        "user_id": directory.user_ids["TW"]["chair"],
        "partnership": "TW",
        "roles": ["panel_chair"],
        "agency": None,
    }
    path = f"/cases/{full['id']}"
    assert record["case"] == get(api, path)
    assert record["events"] == get(api, f"{path}/events?limit=500")["items"]
    assert record["deadlines"] == get(api, f"{path}/deadlines")["items"]
    assert record["approvals"] == get(api, path)["approvals"]
    assert record["information_requests"] == get(api, f"{path}/information-requests")["items"]
    listed = get(api, f"{path}/actions")["items"]
    assert record["actions"] == [get(api, f"{path}/actions/{a['id']}") for a in listed]
    assert record["links"] == get(api, f"{path}/links?include_removed=true")["items"]
    assert record["shares"] == get(api, f"{path}/shares")["items"]
    assert record["documents"] == get(api, f"{path}/documents")["items"]

    # The facts themselves: one event for the referral and for each of the 14 changes after it.
    assert [e["kind"] for e in record["events"]] == [
        "case.created",
        "case.transitioned",
        "information_request.created",
        "information_request.answered",
        "information_request.withdrawn",
        "deadline.extended",
        "case.transitioned",
        "approval.voted",
        "approval.voted",
        "action.created",
        "action.updated",
        "link.added",
        "link.added",
        "link.removed",
        "case.shared",
    ]
    assert [r["status"] for r in record["information_requests"]] == ["answered", "withdrawn"]
    assert [v["party"] for v in record["approvals"]["dsp_joint_decision"]["votes"]] == [
        "dsp:local_authority",
        "dsp:police",
    ]
    (action,) = record["actions"]
    assert [u["note"] for u in action["updates"]] == [None, "Started."]
    # (Added at the same instant: their order is the endpoint's, whatever it is.)
    assert sorted((lk["type"], lk["removed_at"] is not None) for lk in record["links"]) == [
        ("other_partnership", True),
        ("sibling", False),
    ]
    assert [(s["partnership"], s["active"]) for s in record["shares"]] == [("OT", True)]
    (document,) = record["documents"]
    assert (document["title"], document["sha256"]) == ("Police chronology", "0" * 64)
    assert "storage_key" not in document
    (rapid_review,) = [d for d in record["deadlines"] if d["key"] == "rapid_review"]
    assert [e["new_due_on"] for e in rapid_review["extensions"]] == ["2026-07-15"]


def test_the_access_log_is_in_it_as_of_the_export(api: Api, full: dict[str, Any]) -> None:
    response = export(api, full)
    record = response.json()
    after = get(api, f"/cases/{full['id']}/access?limit=500")["items"]
    # Only the export's own row (written once it was answered) is missing from it.
    assert [r for r in after if r["request_id"] != response.headers["x-request-id"]] == (
        record["access"]
    )
    assert len(after) == len(record["access"]) + 1
    assert {r["action"] for r in record["access"]} >= {"case.create", "case.transition"}


@pytest.mark.parametrize(("who", "sees_access"), [("business", False), ("scrutineer", True)])
def test_the_business_unit_and_the_scrutineer_export_it_too(
    api: Api, full: dict[str, Any], who: str, sees_access: bool
) -> None:
    response = export(api, full, who)
    assert response.status_code == 200, response.text
    record = response.json()
    assert (record["access"] is not None) is sees_access
    assert record["case"] == get(api, f"/cases/{full['id']}", who)


# Who may export a police referral of TW: its own partnership's chair, business unit and
# scrutineer (and the superuser, who is chair and business unit too). Other readers are
# refused (403); those who do not read the case, and every user of OT, do not see it (404).
EXPECTED = {
    "chair": 200,
    "business": 200,
    "scrutineer": 200,
    "superuser": 200,
    "dsp_la": 403,
    "dsp_police": 403,
    "dsp_health": 403,
    "lsp_la": 403,
    "qpd": 403,
    "referrer": 403,
    "referrer_education": 404,
    "admin": 404,
}


def test_every_person_is_expected() -> None:
    assert set(EXPECTED) == {key for key, _, _ in PEOPLE}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_who_may_export(api: Api, directory: Directory, who: str) -> None:
    case = api.create_case()
    before = snapshot(case["id"])
    for partnership, status in (("TW", EXPECTED[who]), ("OT", 404)):
        response = export(api, case, who, partnership)
        if status == 200:
            assert response.status_code == 200, response.text
        elif status == 403:
            assert_problem(response, 403, "/problems/export-forbidden")
        else:
            assert_problem(response, 404, "/problems/case-not-found")
        (row,) = access_events(request_id=response.headers["x-request-id"])
        assert (row["action"], row["case_id"], row["status"], row["actor_id"]) == (
            "case.export",
            case["id"],
            status,
            directory.user_ids[partnership][who],
        )
        assert row["outcome"] == ("allowed" if status == 200 else "denied")
    assert snapshot(case["id"]) == before


def test_a_partnership_the_case_is_shared_with_reads_it_but_does_not_export_it(
    api: Api, full: dict[str, Any]
) -> None:
    assert (
        api.client.get(
            f"/api/v1/cases/{full['id']}", headers=api.headers("chair", "OT")
        ).status_code
        == 200
    )
    problem = assert_problem(export(api, full, "chair", "OT"), 403, "/problems/export-forbidden")
    assert "own partnership" in problem["detail"]


def test_a_referral_with_nothing_else_has_empty_parts(api: Api, client: TestClient) -> None:
    case = api.create_case()
    record = export(api, case).json()
    assert [e["kind"] for e in record["events"]] == ["case.created"]
    assert [d["key"] for d in record["deadlines"]] == ["panel_notification", "rapid_review"]
    for part in ("information_requests", "actions", "links", "shares", "documents"):
        assert record[part] == [], part
    assert record["approvals"]["dsp_joint_decision"]["status"] == "not_open"
