"""The access log: who reached for which case, when, with which token, under which request
id, and whether it was allowed; a committed change's row is written in the change's own
transaction, any other request's in its own transaction once the request is over."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from cspr_engine.access import middleware
from cspr_engine.accounts.models import ApiToken
from cspr_engine.db import get_engine
from tests.conftest import NOW
from tests.factories import (
    Api,
    Directory,
    access_events,
    assert_problem,
    commits_failing,
    referral,
    set_password,
    sign_in,
    snapshot,
    stored,
)

NOTIFY = {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}


def token_id(directory: Directory, who: str, partnership: str = "TW") -> str:
    with Session(get_engine()) as session:
        token = session.exec(
            select(ApiToken).where(
                col(ApiToken.user_id) == uuid.UUID(directory.user_ids[partnership][who])
            )
        ).one()
    return str(token.id)


def only_row(response: httpx.Response) -> dict[str, Any]:
    rows = access_events(request_id=response.headers["x-request-id"])
    assert len(rows) == 1, rows
    return rows[0]


class TestAllowed:
    def test_a_read_is_recorded_with_who_when_token_and_the_responses_request_id(
        self, api: Api, directory: Directory
    ) -> None:
        case = api.create_case()
        response = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("qpd"))
        assert response.status_code == 200
        row = only_row(response)
        assert row["request_id"] == response.headers["x-request-id"]
        assert row == {
            "id": row["id"],
            "at": NOW,
            "actor_id": directory.user_ids["TW"]["qpd"],
            "token_id": token_id(directory, "qpd"),
            "session_id": None,
            "method": "GET",
            "path": f"/api/v1/cases/{case['id']}",
            "action": "case.read",
            "case_id": case["id"],
            "outcome": "allowed",
            "status": 200,
            "request_id": response.headers["x-request-id"],
        }

    def test_the_callers_request_id_is_kept(self, api: Api) -> None:
        case = api.create_case()
        response = api.client.get(
            f"/api/v1/cases/{case['reference']}/events",
            headers=api.headers("scrutineer", **{"X-Request-ID": "trace-4711"}),
        )
        assert response.headers["x-request-id"] == "trace-4711"
        row = only_row(response)
        assert (row["action"], row["case_id"], row["outcome"]) == (
            "case.events",
            case["id"],
            "allowed",
        )

    def test_every_case_endpoint_names_its_action(self, api: Api) -> None:
        created = api.client.post(
            "/api/v1/cases",
            json={
                "became_aware_on": "2026-06-10",
                "referring_agency": "police",
                "incident": {
                    "occurred_on": "2026-06-08",
                    "outcome": "serious_harm",
                    "abuse_or_neglect": "suspected",
                    "categories": ["physical_abuse"],
                },
                "child": {"age_years": 2},
            },
            headers=api.headers("chair"),
        )
        case_id = created.json()["id"]
        h = api.headers("superuser")
        base = f"/api/v1/cases/{case_id}"
        responses = {
            "case.create": created,
            "case.list": api.client.get("/api/v1/cases", headers=h),
            "case.read": api.client.get(base, headers=h),
            "case.transitions": api.client.get(f"{base}/transitions", headers=h),
            "case.events": api.client.get(f"{base}/events", headers=h),
            "case.deadlines": api.client.get(f"{base}/deadlines", headers=h),
            "case.access": api.client.get(f"{base}/access", headers=h),
            "case.extension": api.client.post(
                f"{base}/deadlines/rapid_review/extensions",
                json={"new_due_on": "2026-07-31", "reason": "More time."},
                headers=h,
            ),
            "case.vote": api.client.post(
                f"{base}/approvals/notification_decision",
                json={"decision": "agree", "rationale": "Notifiable."},
                headers=api.headers("dsp_police"),
            ),
            "case.transition": api.fire(case_id, "notify_panel", NOTIFY),
        }
        for action, response in responses.items():
            assert response.status_code < 300, (action, response.text)
            row = only_row(response)
            assert (row["action"], row["outcome"], row["status"]) == (
                action,
                "allowed",
                response.status_code,
            )
            assert row["case_id"] == (None if action == "case.list" else case_id), action

    def test_a_read_with_the_session_cookie_names_the_session(
        self, api: Api, directory: Directory
    ) -> None:
        case = api.create_case()
        set_password("chair@tw.example")
        assert sign_in(api.client, "chair@tw.example").status_code == 200
        response = api.client.get(f"/api/v1/cases/{case['id']}")  # the cookie, no token
        api.client.cookies.clear()
        assert response.status_code == 200, response.text
        row = only_row(response)
        assert row["actor_id"] == directory.user_ids["TW"]["chair"]
        assert row["token_id"] is None
        assert row["session_id"] is not None


class TestRefusedAndFailed:
    def test_a_forbidden_action_on_a_visible_case_is_recorded_as_denied(
        self, api: Api, directory: Directory
    ) -> None:
        case = api.create_case()
        before = snapshot(case["id"])
        response = api.fire(case["id"], "notify_panel", NOTIFY, who="scrutineer")
        assert_problem(response, 403, "/problems/trigger-forbidden")
        assert snapshot(case["id"]) == before
        row = only_row(response)
        assert (row["actor_id"], row["outcome"], row["status"], row["case_id"]) == (
            directory.user_ids["TW"]["scrutineer"],
            "denied",
            403,
            case["id"],
        )

    def test_a_refused_creation_is_recorded_as_denied(self, api: Api) -> None:
        response = api.client.post("/api/v1/cases", json=referral(), headers=api.headers("admin"))
        assert_problem(response, 403, "/problems/create-forbidden")
        row = only_row(response)
        assert (row["action"], row["outcome"], row["case_id"]) == ("case.create", "denied", None)

    def test_a_failed_change_is_recorded_although_its_transaction_rolled_back(
        self, api: Api
    ) -> None:
        case = api.create_case()
        before = snapshot(case["id"])
        # Not allowed from `referred`: 409, and the request's transaction rolls back.
        response = api.fire(case["id"], "submit_rapid_review", {"submitted_on": "2026-06-16"})
        assert_problem(response, 409, "/problems/invalid-transition")
        assert snapshot(case["id"]) == before
        row = only_row(response)
        assert (row["outcome"], row["status"], row["case_id"]) == ("allowed", 409, case["id"])

    def test_an_unauthenticated_request_leaves_no_row(self, api: Api) -> None:
        case = api.create_case()
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = api.client.get(f"/api/v1/cases/{case['id']}", headers=headers)
            assert_problem(response, 401)
            assert access_events(request_id=response.headers["x-request-id"]) == []

    def test_requests_that_reach_for_no_case_leave_no_row(self, api: Api) -> None:
        before = len(access_events())
        for path in ("/api/v1/workflows", "/api/v1/alerts", "/api/v1/calendar/holidays"):
            assert api.client.get(path, headers=api.headers("chair")).status_code == 200
        assert len(access_events()) == before


class TestWhenTheRowCannotBeWritten:
    @pytest.fixture
    def broken_log(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(middleware, "_write", lambda event: False)

    def test_a_read_is_not_served(self, api: Api, broken_log: None) -> None:
        case = api.create_case()
        response = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("chair"))
        problem = assert_problem(response, 503, "/problems/service-unavailable")
        assert "access log" in problem["detail"]
        assert "summary" not in response.text
        assert response.headers["x-content-type-options"] == "nosniff"
        assert problem["request_id"] == response.headers["x-request-id"]

    def test_a_committed_change_and_a_refusal_are_answered_as_they_were(
        self, api: Api, broken_log: None
    ) -> None:
        case = api.create_case()
        fired = api.fire(case["id"], "notify_panel", NOTIFY, who="chair")
        assert fired.status_code == 200
        assert snapshot(case["id"])["case"]["state"] == "rapid_review"
        # The change's row went in with the change itself, not through the broken writer.
        row = only_row(fired)
        assert (row["action"], row["status"], row["case_id"]) == (
            "case.transition",
            200,
            case["id"],
        )
        response = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("admin"))
        assert_problem(response, 404, "/problems/case-not-found")


class TestWhenTheChangeCannotCommit:
    def test_the_row_is_written_afterwards_with_the_answered_status(
        self, app: FastAPI, api: Api
    ) -> None:
        case = api.create_case()
        before = snapshot(case["id"])

        with commits_failing(app):
            response = api.fire(case["id"], "notify_panel", NOTIFY, who="chair")
        assert_problem(response, 503, "/problems/service-unavailable")
        assert snapshot(case["id"]) == before
        row = only_row(response)
        assert (row["action"], row["outcome"], row["status"]) == ("case.transition", "allowed", 503)


class TestAccessEndpoint:
    def test_chair_and_scrutineer_read_who_reached_for_the_case(
        self, api: Api, directory: Directory
    ) -> None:
        case = api.create_case()
        api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("qpd"))
        api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("chair", "OT"))
        for who in ("chair", "scrutineer"):
            response = api.client.get(
                f"/api/v1/cases/{case['id']}/access?limit=500", headers=api.headers(who)
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            seen = {(e["actor_id"], e["action"], e["outcome"]) for e in items}
            assert (directory.user_ids["TW"]["qpd"], "case.read", "allowed") in seen
            assert (directory.user_ids["OT"]["chair"], "case.read", "denied") in seen
            assert (directory.user_ids["TW"]["chair"], "case.create", "allowed") in seen

    def test_pages_follow_the_cursor(self, api: Api) -> None:
        case = api.create_case()
        for _ in range(4):
            api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("qpd"))
        everything = api.client.get(
            f"/api/v1/cases/{case['id']}/access?limit=500", headers=api.headers("chair")
        ).json()["items"]
        pages: list[list[dict[str, Any]]] = []
        cursor = None
        for _ in range(10):
            query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = api.client.get(
                f"/api/v1/cases/{case['id']}/access{query}", headers=api.headers("chair")
            ).json()
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        # The reads of the access log itself are logged too, after each answer.
        flat = [e["request_id"] for page in pages for e in page]
        assert len(flat) == len(set(flat))
        assert {e["request_id"] for e in everything} <= set(flat)

    def test_a_bad_cursor_is_422(self, api: Api) -> None:
        case = api.create_case()
        response = api.client.get(
            f"/api/v1/cases/{case['id']}/access?cursor=bm9wZQ", headers=api.headers("chair")
        )
        assert_problem(response, 422, "/problems/invalid-query")


def test_concurrent_reads_and_writes_are_all_logged(live_server: str, api: Api) -> None:
    """SQLite has one writer: the access rows must queue behind the requests' own writes, never
    deadlock with them (nor, on PostgreSQL, with their row locks)."""
    cases = [api.create_case() for _ in range(4)]
    before = len(access_events())
    results: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        case_id = cases[i % len(cases)]["id"]
        with httpx.Client(base_url=live_server, timeout=30) as http:
            if i < len(cases):
                response = http.post(
                    f"/api/v1/cases/{case_id}/transitions",
                    json={"trigger": "notify_panel", "data": NOTIFY},
                    headers=api.headers("chair"),
                )
            else:
                response = http.get(f"/api/v1/cases/{case_id}", headers=api.headers("qpd"))
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [200] * 16
    assert len(access_events()) - before == 16
    assert stored()["cases"]
