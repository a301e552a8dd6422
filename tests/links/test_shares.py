"""Shares over the API: a case shared with another partnership is readable by that
partnership's partnership-wide roles (and logged as they read), writable by none of them, and
unreadable again once the share is revoked; granting and revoking are audited on the case."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import Session

from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import (
    Api,
    Directory,
    access_events,
    assert_problem,
    create_partnership,
    snapshot,
    stored,
)

NOTIFY = {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}
COMPLETE = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Criteria met.",
}
# The grantee partnership's roles that read every case of their own partnership.
READERS = ["chair", "business", "dsp_la", "dsp_police", "dsp_health", "lsp_la", "scrutineer", "qpd"]


def share(
    api: Api,
    case: dict[str, Any],
    partnership: str = "OT",
    who: str = "chair",
    reason: str = "The child's home authority.",
    **headers: str,
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/cases/{case['id']}/shares",
        json={"partnership": partnership, "reason": reason},
        headers=api.headers(who, **headers),
    )


def revoke(
    api: Api, case: dict[str, Any], share_id: str, who: str = "chair", reason: str = "Done."
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/cases/{case['id']}/shares/{share_id}/revoke",
        json={"reason": reason},
        headers=api.headers(who),
    )


def as_ot(api: Api, who: str, path: str) -> httpx.Response:
    return api.client.get(path, headers=api.headers(who, "OT"))


def share_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM case_shares")).mappings()]


def listed(api: Api, who: str, partnership: str = "OT") -> list[str]:
    response = api.client.get("/api/v1/cases", headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    return [c["reference"] for c in response.json()["items"]]


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    """A TW case at the DSPs' joint decision: every kind of write has something to hit."""
    created = api.create_case(who="chair")
    api.ok(created["id"], "notify_panel", NOTIFY)
    api.ok(created["id"], "complete_rapid_review", COMPLETE)
    return api.get_case(created["id"])


@pytest.fixture
def shared(api: Api, case: dict[str, Any]) -> dict[str, Any]:
    """The share of `case` with OT."""
    response = share(api, case)
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestGrant:
    def test_a_share_is_recorded_and_audited_on_the_case(
        self, api: Api, case: dict[str, Any], directory: Directory
    ) -> None:
        response = share(api, case, partnership="ot", reason="Home authority: OT.")
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["case_id"] == case["id"]
        assert body["case_reference"] == case["reference"]
        assert body["shared_by"] == "TW"
        assert body["partnership"] == "OT"
        assert body["reason"] == "Home authority: OT."
        assert body["active"] is True
        assert body["granted_by"] == directory.user_ids["TW"]["chair"]
        assert body["granted_at"] == "2026-06-17T09:00:00Z"
        assert body["revoked_at"] is None
        assert response.headers["etag"] == f'"{case["version"] + 1}"'
        (event,) = [e for e in api.events(case["id"]) if e["kind"] == "case.shared"]
        assert event["data"] == {"share_id": body["id"], "partnership": "OT"}
        assert event["comment"] == "Home authority: OT."
        assert event["from_state"] == event["to_state"] == case["state"]
        (row,) = share_rows()
        assert row["revoked_at"] is None
        listed_shares = api.client.get(
            f"/api/v1/cases/{case['reference']}/shares", headers=api.headers("referrer")
        )
        assert [s["id"] for s in listed_shares.json()["items"]] == [body["id"]]

    def test_one_active_share_per_partnership(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        before = snapshot(case["id"])
        response = share(api, case)
        problem = assert_problem(response, 409, "/problems/duplicate-share")
        assert problem["partnership"] == "OT"
        assert snapshot(case["id"]) == before
        assert len(share_rows()) == 1

    @pytest.mark.parametrize(
        ("partnership", "message"),
        [("TW", "own partnership"), ("ZZ", "no partnership has that code"), ("a b", "pattern")],
    )
    def test_the_grantee_must_be_another_existing_partnership(
        self, api: Api, case: dict[str, Any], partnership: str, message: str
    ) -> None:
        before = snapshot(case["id"])
        problem = assert_problem(share(api, case, partnership), 422, "/problems/invalid-data")
        (error,) = problem["errors"]
        assert error["loc"] == "partnership"
        assert message in error["message"]
        assert snapshot(case["id"]) == before
        assert share_rows() == []

    @pytest.mark.parametrize("reason", ["", "   ", "NHS 943 476 5919"])
    def test_a_reason_is_required_and_is_no_nhs_number(
        self, api: Api, case: dict[str, Any], reason: str
    ) -> None:
        problem = assert_problem(share(api, case, reason=reason), 422, "/problems/invalid-data")
        assert [e["loc"] for e in problem["errors"]] == ["reason"]
        assert share_rows() == []

    @pytest.mark.parametrize("who", ["dsp_la", "lsp_la", "referrer", "scrutineer", "qpd"])
    def test_roles_that_do_not_share_are_refused(
        self, api: Api, case: dict[str, Any], who: str
    ) -> None:
        before = snapshot(case["id"])
        assert_problem(share(api, case, who=who), 403, "/problems/share-forbidden")
        assert snapshot(case["id"]) == before
        assert share_rows() == []

    def test_the_business_unit_shares_and_if_match_is_honoured(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        stale = share(api, case, who="business", **{"If-Match": '"1"'})
        assert_problem(stale, 412, "/problems/stale-version")
        fresh = share(api, case, who="business", **{"If-Match": f'"{case["version"]}"'})
        assert fresh.status_code == 201, fresh.text


class TestTheGranteeReads:
    @pytest.mark.parametrize("who", READERS)
    def test_every_partnership_wide_role_reads_the_case_its_events_and_clocks(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], who: str
    ) -> None:
        for key in (case["id"], case["reference"], case["reference"].lower()):
            response = as_ot(api, who, f"/api/v1/cases/{key}")
            assert response.status_code == 200, (key, response.text)
            body = response.json()
            assert body["id"] == case["id"]
            assert body["partnership"] == "TW"
            assert body["summary"] == case["summary"]
            # Nothing to fire: the case is another partnership's.
            assert body["allowed_triggers"] == []
        events = as_ot(api, who, f"/api/v1/cases/{case['reference']}/events?limit=500")
        assert events.status_code == 200
        assert [e["kind"] for e in events.json()["items"]][-1] == "case.shared"
        deadlines = as_ot(api, who, f"/api/v1/cases/{case['reference']}/deadlines")
        assert deadlines.status_code == 200
        shown = {d["key"] for d in deadlines.json()["items"]}
        assert shown == {d["key"] for d in case["deadlines"]}
        transitions = as_ot(api, who, f"/api/v1/cases/{case['id']}/transitions")
        assert transitions.json() == {"items": [], "next_cursor": None}
        assert case["reference"] in listed(api, who)

    def test_the_grantee_sees_its_own_share_only(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], clock: FixedClock
    ) -> None:
        with Session(get_engine()) as session:
            create_partnership(session, "NB", NOW)
            session.commit()
        clock.set(NOW + timedelta(hours=1))
        assert share(api, case, partnership="NB").status_code == 201
        own = as_ot(api, "chair", f"/api/v1/cases/{case['id']}/shares")
        assert [s["partnership"] for s in own.json()["items"]] == ["OT"]
        everyone = api.client.get(
            f"/api/v1/cases/{case['id']}/shares", headers=api.headers("chair")
        )
        assert [s["partnership"] for s in everyone.json()["items"]] == ["OT", "NB"]

    def test_incoming_shares_list_the_case_for_the_grantee_only(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        response = as_ot(api, "scrutineer", "/api/v1/shares/incoming")
        assert response.status_code == 200, response.text
        (item,) = response.json()["items"]
        assert item["id"] == shared["id"]
        assert item["case_reference"] == case["reference"]
        assert item["shared_by"] == "TW"
        assert response.json()["next_cursor"] is None
        for who, partnership in (("referrer", "OT"), ("chair", "TW")):
            mine = api.client.get("/api/v1/shares/incoming", headers=api.headers(who, partnership))
            assert mine.json()["items"] == []

    def test_incoming_shares_page_with_a_cursor(self, api: Api) -> None:
        cases = [api.create_case() for _ in range(3)]
        for c in cases:
            assert share(api, c).status_code == 201
        first = as_ot(api, "chair", "/api/v1/shares/incoming?limit=2").json()
        assert len(first["items"]) == 2
        rest = as_ot(
            api, "chair", f"/api/v1/shares/incoming?limit=2&cursor={first['next_cursor']}"
        ).json()
        assert rest["next_cursor"] is None
        seen = [i["case_reference"] for i in first["items"] + rest["items"]]
        assert sorted(seen) == sorted(c["reference"] for c in cases)

    @pytest.mark.parametrize("who", ["referrer", "referrer_education", "admin"])
    def test_the_grantees_referrers_and_admins_read_nothing(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], who: str
    ) -> None:
        for path in ("", "/events", "/deadlines", "/links", "/shares"):
            response = as_ot(api, who, f"/api/v1/cases/{case['id']}{path}")
            assert_problem(response, 404, "/problems/case-not-found")
        assert case["reference"] not in listed(api, who)

    def test_a_third_partnership_reads_nothing(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        # The share is OT's: TW's own other cases are not shared by it either.
        other = api.create_case()
        response = as_ot(api, "chair", f"/api/v1/cases/{other['reference']}")
        assert_problem(response, 404, "/problems/case-not-found")
        assert listed(api, "chair") == [case["reference"]]

    def test_the_grantees_reads_are_in_the_access_log(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], directory: Directory
    ) -> None:
        user_id = directory.user_ids["OT"]["chair"]
        responses = [
            as_ot(api, "chair", f"/api/v1/cases/{case['reference']}"),
            as_ot(api, "chair", f"/api/v1/cases/{case['id']}/events"),
            as_ot(api, "chair", f"/api/v1/cases/{case['id']}/deadlines"),
            as_ot(api, "chair", f"/api/v1/cases/{case['id']}/links"),
        ]
        for response in responses:
            assert response.status_code == 200
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert row["actor_id"] == user_id
            assert row["case_id"] == case["id"]
            assert row["outcome"] == "allowed"
            assert row["status"] == 200
        # The frozen clock gives every row the same instant: compare as a set.
        actions = sorted(r["action"] for r in access_events(actor_id=user_id))
        assert actions == ["case.deadlines", "case.events", "case.list_links", "case.read"]

    def test_links_to_the_owners_other_cases_show_their_reference_alone(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        sibling = api.create_case()
        created = api.client.post(
            f"/api/v1/cases/{case['id']}/links",
            json={"type": "sibling", "target": sibling["reference"], "note": "Sister's case"},
            headers=api.headers("chair"),
        )
        assert created.status_code == 201, created.text
        (shown,) = as_ot(api, "chair", f"/api/v1/cases/{case['id']}/links").json()["items"]
        assert shown["case"]["reference"] == sibling["reference"]
        assert shown["case"]["visible"] is False
        assert shown["case"]["id"] is None
        assert shown["note"] is None


def writes(api: Api, case: dict[str, Any], share_id: str, link_id: str) -> dict[str, Any]:
    """Every write an OT user could try on the shared case."""
    headers = api.headers("superuser", "OT")
    base = f"/api/v1/cases/{case['reference']}"
    return {
        "transition": api.client.post(
            f"{base}/transitions",
            json={"trigger": "withdraw", "data": {"reason": "Not ours."}},
            headers=headers,
        ),
        "vote": api.client.post(
            f"{base}/approvals/dsp_joint_decision",
            json={"decision": "agree", "rationale": "Agreed."},
            headers=headers,
        ),
        "extension": api.client.post(
            f"{base}/deadlines/rapid_review/extensions",
            json={"new_due_on": "2026-07-31", "reason": "More time."},
            headers=api.headers("chair", "OT"),
        ),
        "link": api.client.post(
            f"{base}/links",
            json={
                "type": "other_partnership",
                "external_partnership": "OT",
                "external_reference": "OT-1",
            },
            headers=api.headers("chair", "OT"),
        ),
        "unlink": api.client.delete(f"{base}/links/{link_id}", headers=api.headers("chair", "OT")),
        "share": api.client.post(
            f"{base}/shares",
            json={"partnership": "TW", "reason": "Onward."},
            headers=api.headers("chair", "OT"),
        ),
        "revoke": api.client.post(
            f"{base}/shares/{share_id}/revoke",
            json={"reason": "Ours now."},
            headers=api.headers("chair", "OT"),
        ),
    }


class TestTheGranteeWritesNothing:
    def test_every_write_is_refused_as_read_only_and_changes_nothing(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], directory: Directory
    ) -> None:
        link = api.client.post(
            f"/api/v1/cases/{case['id']}/links",
            json={
                "type": "child_death_review",
                "external_partnership": "CDOP",
                "external_reference": "C-9",
            },
            headers=api.headers("chair"),
        )
        assert link.status_code == 201
        before = (stored(), snapshot(case["id"]), share_rows())
        for action, response in writes(api, case, shared["id"], link.json()["id"]).items():
            problem = assert_problem(response, 403, "/problems/shared-case-read-only")
            assert "read" in problem["detail"], action
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert row["outcome"] == "denied", action
            assert row["case_id"] == case["id"], action
        assert (stored(), snapshot(case["id"]), share_rows()) == before


def unsafe_case_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation that changes something of a case, whichever package
    serves it: a new one is covered here without being named."""
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1/cases/{case_id}")
        for method in operations
        if method not in ("get", "head")
    )


def test_every_write_route_of_the_app_refuses_the_grantee(
    app: FastAPI, api: Api, case: dict[str, Any], shared: dict[str, Any], directory: Directory
) -> None:
    routes = unsafe_case_routes(app)
    # The casework's own writes are among them (a sanity check on the discovery).
    assert ("POST", "/api/v1/cases/{case_id}/links") in routes
    assert ("POST", "/api/v1/cases/{case_id}/shares/{share_id}/revoke") in routes
    assert ("POST", "/api/v1/cases/{case_id}/transitions") in routes
    before = (stored(), snapshot(case["id"]), share_rows())
    for who in ("superuser", "chair", "business", "qpd"):
        for method, template in routes:
            path = re.sub(
                r"{(\w+)}",
                lambda m: case["reference"] if m.group(1) == "case_id" else shared["id"],
                template,
            )
            response = api.client.request(method, path, json={}, headers=api.headers(who, "OT"))
            assert_problem(response, 403, "/problems/shared-case-read-only")
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert row["outcome"] == "denied", (method, template)
            assert row["actor_id"] == directory.user_ids["OT"][who]
    assert (stored(), snapshot(case["id"]), share_rows()) == before


class TestRevoke:
    def test_revoking_ends_the_grantees_reading_and_is_audited(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], directory: Directory
    ) -> None:
        assert as_ot(api, "chair", f"/api/v1/cases/{case['id']}").status_code == 200
        response = revoke(api, case, shared["id"], reason="Child moved back.")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["active"] is False
        assert body["revoked_at"] == "2026-06-17T09:00:00Z"
        assert body["revoked_by"] == directory.user_ids["TW"]["chair"]
        assert body["revoke_reason"] == "Child moved back."
        (event,) = [e for e in api.events(case["id"]) if e["kind"] == "case.share_revoked"]
        assert event["data"] == {"share_id": shared["id"], "partnership": "OT"}
        assert event["comment"] == "Child moved back."
        for path in ("", "/events", "/deadlines", "/links", "/shares"):
            gone = as_ot(api, "chair", f"/api/v1/cases/{case['reference']}{path}")
            assert_problem(gone, 404, "/problems/case-not-found")
        assert listed(api, "chair") == []
        assert as_ot(api, "chair", "/api/v1/shares/incoming").json()["items"] == []
        (denied,) = access_events(request_id=gone.headers["x-request-id"])
        assert denied["outcome"] == "denied"

    def test_twice_is_a_conflict_and_an_unknown_share_is_not_found(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        other = api.create_case()
        assert revoke(api, case, shared["id"]).status_code == 200
        before = (snapshot(case["id"]), snapshot(other["id"]), share_rows())
        assert_problem(revoke(api, case, shared["id"]), 409, "/problems/share-already-revoked")
        unknown = revoke(api, case, "00000000-0000-4000-8000-000000000000")
        assert_problem(unknown, 404, "/problems/share-not-found")
        assert_problem(revoke(api, other, shared["id"]), 404, "/problems/share-not-found")
        assert (snapshot(case["id"]), snapshot(other["id"]), share_rows()) == before

    def test_a_reason_is_required(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any]
    ) -> None:
        problem = assert_problem(revoke(api, case, shared["id"], reason=""), 422)
        assert [e["loc"] for e in problem["errors"]] == ["reason"]
        assert share_rows()[0]["revoked_at"] is None

    @pytest.mark.parametrize("who", ["dsp_la", "referrer", "scrutineer", "qpd"])
    def test_roles_that_do_not_share_cannot_revoke(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], who: str
    ) -> None:
        assert_problem(revoke(api, case, shared["id"], who=who), 403, "/problems/share-forbidden")
        assert share_rows()[0]["revoked_at"] is None
        assert as_ot(api, "chair", f"/api/v1/cases/{case['id']}").status_code == 200

    def test_the_case_can_be_shared_again_after_a_revoke(
        self, api: Api, case: dict[str, Any], shared: dict[str, Any], clock: FixedClock
    ) -> None:
        assert revoke(api, case, shared["id"]).status_code == 200
        clock.set(NOW + timedelta(days=1))
        again = share(api, case, reason="Needed again.")
        assert again.status_code == 201, again.text
        assert as_ot(api, "qpd", f"/api/v1/cases/{case['id']}").status_code == 200
        shares = api.client.get(f"/api/v1/cases/{case['id']}/shares", headers=api.headers("chair"))
        assert [s["active"] for s in shares.json()["items"]] == [False, True]
        kinds = [e["kind"] for e in api.events(case["id"])]
        assert kinds[-3:] == ["case.shared", "case.share_revoked", "case.shared"]
