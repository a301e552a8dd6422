"""Improvement actions over HTTP, end to end: made from the rapid review's immediate actions,
numbered per case, each with its `action_due` clock; changed by qpd and the panel chair, and by
the owner agency's users within what an owner may change; every change in the update history
and the case's audit; the case's `close` guarded on every action being done. Every refusal is
checked against the database too: a request that is refused changes nothing."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import User
from cspr_engine.alerts.models import AlertRecipient, OutboxEvent
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import LONDON, FixedClock
from cspr_engine.links.models import CaseShare
from cspr_engine.scheduler import jobs
from tests.actions.support import (
    IMMEDIATE,
    RECOMMENDATIONS,
    action_row,
    action_tables,
    add_action,
    clocks_of,
    extensions_of,
    get_action,
    patch_action,
    post_action,
    to_action_monitoring,
    to_final_report,
    update_rows,
)
from tests.factories import Api, Directory, Receiver, assert_problem, deliver, snapshot


def end_of_day(day: date) -> datetime:
    """23:59:59 in England on `day`, in UTC (worked out here, not by the code under test)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)


def unchanged(case_id: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return snapshot(case_id), action_tables()


def kinds(api: Api, case_id: str) -> list[str]:
    return [e["kind"] for e in api.events(case_id)]


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return to_action_monitoring(api)


# -- creating -----------------------------------------------------------------------------------


class TestCreate:
    def test_actions_from_the_rapid_reviews_immediate_actions_are_numbered_and_clocked(
        self, api: Api, case: dict[str, Any], directory: Directory
    ) -> None:
        cid = case["id"]
        listed = api.client.get(f"/api/v1/cases/{cid}/actions", headers=api.headers("qpd"))
        assert listed.status_code == 200, listed.text
        assert listed.json() == {
            "items": [],
            "next_cursor": None,
            "sources": {"immediate_actions": IMMEDIATE, "recommendations": None},
            "may_create": True,
        }

        response = post_action(api, cid, description=listed.json()["sources"]["immediate_actions"])
        assert response.status_code == 201, response.text
        first = response.json()
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"/api/v1/cases/{cid}/actions/{first['id']}"
        assert first["reference"] == "A1"
        assert first["number"] == 1
        assert (first["source"], first["description"], first["owner_agency"]) == (
            "immediate_action",
            IMMEDIATE,
            "police",
        )
        assert (first["status"], first["due_on"], first["version"]) == ("open", "2026-07-31", 1)
        assert first["created_by"] == directory.user_ids["TW"]["qpd"]
        assert first["clock"]["status"] == "pending"
        assert first["clock"]["due_on"] == "2026-07-31"
        assert first["clock"]["starts_on"] == "2026-06-17"
        assert first["updates"] == [
            {
                "seq": 1,
                "at": "2026-06-17T09:00:00Z",
                "actor_id": directory.user_ids["TW"]["qpd"],
                "changes": {
                    "source": [None, "immediate_action"],
                    "description": [None, IMMEDIATE],
                    "owner_agency": [None, "police"],
                    "due_on": [None, "2026-07-31"],
                    "status": [None, "open"],
                },
                "note": None,
            }
        ]

        second = add_action(
            api, cid, who="chair", source="other", owner_agency="health", due_on="2026-09-30"
        )
        assert second["reference"] == "A2"

        # The clocks, in the database: one per action, addressed to its owner agency.
        [clock_a1] = clocks_of(first["id"])
        [clock_a2] = clocks_of(second["id"])
        assert (clock_a1.key, clock_a1.subject_type, clock_a1.subject_agency) == (
            "action_due",
            "action",
            "police",
        )
        assert (clock_a1.status, clock_a1.due_on) == ("pending", date(2026, 7, 31))
        assert (clock_a2.subject_agency, clock_a2.due_on) == ("health", date(2026, 9, 30))
        # The case's clocks list them too.
        shown = api.client.get(f"/api/v1/cases/{cid}/deadlines", headers=api.headers("qpd"))
        assert [d["due_on"] for d in shown.json()["items"] if d["key"] == "action_due"] == [
            "2026-07-31",
            "2026-09-30",
        ]

        # Audited on the case, each with the case's next version.
        events = api.events(cid)
        created = [e for e in events if e["kind"] == "action.created"]
        assert [e["data"]["action"] for e in created] == ["A1", "A2"]
        assert created[0]["data"]["action_id"] == first["id"]
        assert created[0]["data"]["changes"]["owner_agency"] == [None, "police"]
        assert created[0]["from_state"] == created[0]["to_state"] == "action_monitoring"
        assert api.get_case(cid)["version"] == case["version"] + 2

        listed = api.client.get(f"/api/v1/cases/{cid}/actions", headers=api.headers("scrutineer"))
        assert [a["reference"] for a in listed.json()["items"]] == ["A1", "A2"]
        # The scrutineer reads and changes nothing.
        assert listed.json()["may_create"] is False
        assert all(a["allowed_statuses"] == [] for a in listed.json()["items"])
        assert all(a["editable_fields"] == [] for a in listed.json()["items"])

    def test_the_final_reports_recommendations_are_offered_too(self, api: Api) -> None:
        case = to_final_report(api)
        listed = api.client.get(f"/api/v1/cases/{case['id']}/actions", headers=api.headers("chair"))
        assert listed.json()["sources"] == {
            "immediate_actions": IMMEDIATE,
            "recommendations": RECOMMENDATIONS,
        }
        made = add_action(api, case["id"], source="recommendation", description=RECOMMENDATIONS)
        assert (made["reference"], made["source"]) == ("A1", "recommendation")

    @pytest.mark.parametrize(
        "who", ["business", "dsp_police", "referrer", "scrutineer", "lsp_la", "admin"]
    )
    def test_only_qpd_and_the_panel_chair_add_actions(
        self, api: Api, case: dict[str, Any], who: str
    ) -> None:
        before = unchanged(case["id"])
        response = post_action(api, case["id"], who=who)
        # The admin reads no case content at all: the case is not there for it.
        if who == "admin":
            assert_problem(response, 404, "/problems/case-not-found")
        else:
            assert_problem(response, 403, "/problems/action-forbidden")
        assert unchanged(case["id"]) == before

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"description": None}, "description"),
            ({"description": "   "}, "description"),
            ({"description": "x" * 10_001}, "description"),
            ({"source": "rapid_review"}, "source"),
            ({"owner_agency": "coroner"}, "owner_agency"),
            ({"owner_agency": "POLICE"}, "owner_agency"),
            ({"due_on": "2026-06-09"}, "due_on"),  # before the LA became aware
            ({"due_on": "2026-7-31"}, "due_on"),
            ({"due_on": "2036-06-18"}, "due_on"),  # more than ten years ahead
            ({"due_on": 20260731}, "due_on"),
            ({"status": "completed"}, "status"),  # an action starts open
            ({"description": "a\x00b"}, "body"),
        ],
    )
    def test_bad_input_is_422_and_changes_nothing(
        self, api: Api, case: dict[str, Any], body: dict[str, Any], loc: str
    ) -> None:
        before = unchanged(case["id"])
        payload = {
            "source": "other",
            "description": "Audit of strategy discussions.",
            "owner_agency": "police",
            "due_on": "2026-07-31",
            **body,
        }
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/actions", json=payload, headers=api.headers("qpd")
        )
        problem = assert_problem(response, 422)
        assert loc in [e["loc"] for e in problem["errors"]], problem
        assert unchanged(case["id"]) == before

    def test_a_due_date_already_past_is_overdue_at_once(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        # Agreed at the rapid review and recorded late: the clock is breached from the start.
        made = add_action(api, case["id"], due_on="2026-06-12")
        assert made["clock"]["status"] == "breached"
        assert made["clock"]["breached_at"] == end_of_day(date(2026, 6, 12)).isoformat().replace(
            "+00:00", "Z"
        )

    def test_if_match_names_the_case_version(self, api: Api, case: dict[str, Any]) -> None:
        stale = f'"{case["version"] - 1}"'
        before = unchanged(case["id"])
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/actions",
            json={
                "source": "other",
                "description": "Audit.",
                "owner_agency": "police",
                "due_on": "2026-07-31",
            },
            headers=api.headers("qpd", **{"If-Match": stale}),
        )
        assert_problem(response, 412, "/problems/stale-version")
        assert unchanged(case["id"]) == before
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/actions",
            json={
                "source": "other",
                "description": "Audit.",
                "owner_agency": "police",
                "due_on": "2026-07-31",
            },
            headers=api.headers("qpd", **{"If-Match": f'"{case["version"]}"'}),
        )
        assert response.status_code == 201, response.text

    def test_a_closed_case_takes_no_new_action(self, api: Api) -> None:
        case = api.create_case()
        api.ok(
            case["id"],
            "decide_not_notifiable",
            {"rationale": "Criteria not met.", "alternative_learning": "none"},
        )
        before = unchanged(case["id"])
        assert_problem(post_action(api, case["id"]), 409, "/problems/case-closed")
        assert unchanged(case["id"]) == before

    def test_actions_are_taken_before_action_monitoring_too(self, api: Api) -> None:
        # An immediate action is agreed during the rapid review, long before monitoring.
        case = api.create_case()
        made = add_action(api, case["id"], source="immediate_action")
        assert made["reference"] == "A1"


# -- changing ---------------------------------------------------------------------------------


class TestUpdateHistory:
    def test_every_change_is_kept_with_its_note_and_audited(
        self, api: Api, case: dict[str, Any], directory: Directory
    ) -> None:
        cid = case["id"]
        made = add_action(api, cid)
        aid = made["id"]

        response = patch_action(api, cid, "A1", {"status": "in_progress", "note": "Work begun."})
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        response = patch_action(
            api,
            cid,
            aid,
            {"due_on": "2026-08-28", "note": "The police review panel sits in August."},
            who="chair",
        )
        assert response.status_code == 200, response.text
        response = patch_action(
            api, cid, "a1", {"evidence_of_impact": "Threshold applied in 12 of 12 audited cases."}
        )
        assert response.status_code == 200, response.text
        response = patch_action(api, cid, "A1", {"note": "Audit report shared with QPD."})
        assert response.status_code == 200, response.text
        response = patch_action(
            api, cid, "A1", {"status": "completed", "completed_on": "2026-06-16"}
        )
        assert response.status_code == 200, response.text
        done = response.json()
        assert response.headers["etag"] == '"6"'
        assert (done["status"], done["completed_on"], done["version"]) == (
            "completed",
            "2026-06-16",
            6,
        )
        assert done["due_on"] == "2026-08-28"

        history = get_action(api, cid, "A1", who="scrutineer")["updates"]
        qpd, chair = directory.user_ids["TW"]["qpd"], directory.user_ids["TW"]["chair"]
        assert [(u["seq"], u["actor_id"], u["changes"], u["note"]) for u in history[1:]] == [
            (2, qpd, {"status": ["open", "in_progress"]}, "Work begun."),
            (
                3,
                chair,
                {"due_on": ["2026-07-31", "2026-08-28"]},
                "The police review panel sits in August.",
            ),
            (
                4,
                qpd,
                {"evidence_of_impact": [None, "Threshold applied in 12 of 12 audited cases."]},
                None,
            ),
            (5, qpd, {}, "Audit report shared with QPD."),
            (
                6,
                qpd,
                {"status": ["in_progress", "completed"], "completed_on": [None, "2026-06-16"]},
                None,
            ),
        ]
        assert len(update_rows(aid)) == 6

        # The clock followed: moved with the note as its reason, then met on completed_on.
        [clock] = clocks_of(aid)
        assert (clock.status, clock.due_on, clock.met_on) == (
            "met",
            date(2026, 8, 28),
            date(2026, 6, 16),
        )
        [extension] = extensions_of(clock.id)
        assert (extension.previous_due_on, extension.new_due_on, extension.reason) == (
            date(2026, 7, 31),
            date(2026, 8, 28),
            "The police review panel sits in August.",
        )
        assert str(extension.actor_id) == chair

        updated = [e for e in api.events(cid) if e["kind"] == "action.updated"]
        assert [e["data"]["changes"] for e in updated] == [u["changes"] for u in history[1:]]
        assert [e["comment"] for e in updated] == [u["note"] for u in history[1:]]
        assert all(e["data"]["action"] == "A1" for e in updated)

    def test_a_patch_that_changes_nothing_is_refused(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"])
        before = unchanged(case["id"])
        for body in ({}, {"status": "open"}, {"owner_agency": "police", "due_on": "2026-07-31"}):
            problem = assert_problem(patch_action(api, case["id"], "A1", body), 422)
            assert problem["errors"][0]["type"] == "no_change", body
        assert unchanged(case["id"]) == before

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"status": "done"}, "status"),
            ({"status": "completed", "completed_on": "2026-06-18"}, "completed_on"),
            ({"status": "completed", "completed_on": "2026-06-09"}, "completed_on"),
            ({"completed_on": "2026-06-16"}, "completed_on"),  # without completing
            ({"closure_rationale": "No longer needed."}, "closure_rationale"),
            ({"status": "closed_with_rationale", "note": "Superseded."}, "closure_rationale"),
            ({"status": "closed_with_rationale", "closure_rationale": "Superseded."}, "note"),
            ({"due_on": "2026-08-28"}, "note"),
            ({"due_on": "2026-06-01", "note": "Earlier."}, "due_on"),
            ({"owner_agency": "nobody"}, "owner_agency"),
            ({"note": ""}, "note"),
            ({"note": "x" * 10_001}, "note"),
            ({"evidence_of_impact": "  "}, "evidence_of_impact"),
            ({"priority": "high"}, "priority"),
            ({"version": 2}, "version"),
        ],
    )
    def test_bad_input_is_422_and_changes_nothing(
        self, api: Api, case: dict[str, Any], body: dict[str, Any], loc: str
    ) -> None:
        add_action(api, case["id"])
        before = unchanged(case["id"])
        problem = assert_problem(patch_action(api, case["id"], "A1", body), 422)
        assert loc in [e["loc"] for e in problem["errors"]], problem
        assert unchanged(case["id"]) == before

    def test_a_body_that_is_not_an_object_is_refused(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"])
        before = unchanged(case["id"])
        response = api.client.patch(
            f"/api/v1/cases/{case['id']}/actions/A1",
            content=b"[1, 2]",
            headers=api.headers("qpd", **{"Content-Type": "application/json"}),
        )
        assert_problem(response, 422)
        response = api.client.patch(
            f"/api/v1/cases/{case['id']}/actions/A1",
            content=b"{not json",
            headers=api.headers("qpd", **{"Content-Type": "application/json"}),
        )
        assert_problem(response, 400, "/problems/malformed-body")
        assert unchanged(case["id"]) == before


class TestStatusMoves:
    def test_moves_not_allowed_from_the_status_are_409(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        add_action(api, case["id"])
        assert patch_action(api, case["id"], "A1", {"status": "in_progress"}).status_code == 200
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(api, case["id"], "A1", {"status": "open"}),
            409,
            "/problems/action-status-conflict",
        )
        assert problem["status"] == 409
        assert problem["allowed_statuses"] == ["completed", "closed_with_rationale"]
        assert unchanged(case["id"]) == before

        assert patch_action(api, case["id"], "A1", {"status": "completed"}).status_code == 200
        problem = assert_problem(
            patch_action(
                api,
                case["id"],
                "A1",
                {"status": "closed_with_rationale", "closure_rationale": "x", "note": "y"},
            ),
            409,
            "/problems/action-status-conflict",
        )
        assert problem["allowed_statuses"] == ["in_progress"]

    def test_an_open_action_found_done_is_completed_at_once(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        made = add_action(api, case["id"])
        done = patch_action(api, case["id"], "A1", {"status": "completed"}).json()
        # completed_on defaults to today (in England).
        assert (done["status"], done["completed_on"]) == ("completed", "2026-06-17")
        assert [c.status for c in clocks_of(made["id"])] == ["met"]

    def test_closing_with_a_rationale_cancels_the_clock(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        made = add_action(api, case["id"])
        response = patch_action(
            api,
            case["id"],
            "A1",
            {
                "status": "closed_with_rationale",
                "closure_rationale": "Superseded by the national review's recommendation.",
                "note": "Agreed at QPD on 16 June.",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "closed_with_rationale"
        assert body["closure_rationale"] == "Superseded by the national review's recommendation."
        assert body["clock"]["status"] == "cancelled"
        assert body["updates"][-1]["changes"] == {
            "status": ["open", "closed_with_rationale"],
            "closure_rationale": [None, "Superseded by the national review's recommendation."],
        }
        assert [c.status for c in clocks_of(made["id"])] == ["cancelled"]

    def test_reopening_needs_a_note_and_starts_a_new_clock(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        made = add_action(api, case["id"])
        patch_action(api, case["id"], "A1", {"status": "completed", "completed_on": "2026-06-16"})
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(api, case["id"], "A1", {"status": "in_progress"}), 422
        )
        assert problem["errors"] == [
            {"loc": "note", "message": "is required when reopening the action", "type": "missing"}
        ]
        assert unchanged(case["id"]) == before

        response = patch_action(
            api,
            case["id"],
            "A1",
            {
                "status": "in_progress",
                "due_on": "2026-10-30",
                "note": "The audit found the threshold not yet applied.",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["completed_on"], body["due_on"]) == (
            "in_progress",
            None,
            "2026-10-30",
        )
        assert body["updates"][-1]["changes"] == {
            "status": ["completed", "in_progress"],
            "completed_on": ["2026-06-16", None],
            "due_on": ["2026-07-31", "2026-10-30"],
        }
        old, new = clocks_of(made["id"])
        assert (old.status, old.due_on) == ("met", date(2026, 7, 31))
        assert (new.status, new.due_on, new.subject_agency) == (
            "pending",
            date(2026, 10, 30),
            "police",
        )
        assert body["clock"]["due_on"] == "2026-10-30"


class TestIfMatch:
    def test_a_stale_action_version_is_412_and_changes_nothing(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        made = add_action(api, case["id"])
        assert (
            patch_action(
                api, case["id"], "A1", {"status": "in_progress"}, **{"If-Match": '"1"'}
            ).status_code
            == 200
        )
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(
                api, case["id"], made["id"], {"evidence_of_impact": "x"}, **{"If-Match": '"1"'}
            ),
            412,
            "/problems/stale-action-version",
        )
        assert problem["current_version"] == 2
        assert unchanged(case["id"]) == before
        # The case's version is another thing: it does not stand for the action's.
        case_version = api.get_case(case["id"])["version"]
        assert case_version != 2
        assert_problem(
            patch_action(
                api,
                case["id"],
                "A1",
                {"evidence_of_impact": "x"},
                **{"If-Match": f'"{case_version}"'},
            ),
            412,
        )
        weak = patch_action(
            api, case["id"], "A1", {"evidence_of_impact": "x"}, **{"If-Match": 'W/"2"'}
        )
        assert assert_problem(weak, 412)["current_version"] == 2  # strong comparison only
        response = patch_action(
            api, case["id"], "A1", {"evidence_of_impact": "x"}, **{"If-Match": '"2"'}
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"3"'

    def test_each_action_has_its_own_etag(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"])
        add_action(api, case["id"], owner_agency="health")
        patch_action(api, case["id"], "A1", {"status": "in_progress"})
        response = api.client.get(
            f"/api/v1/cases/{case['id']}/actions/A2", headers=api.headers("qpd")
        )
        assert response.headers["etag"] == '"1"'
        response = patch_action(api, case["id"], "A2", {"note": "x"}, **{"If-Match": '"1"'})
        assert response.status_code == 200, response.text

    def test_a_malformed_if_match_is_422(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"])
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(api, case["id"], "A1", {"note": "x"}, **{"If-Match": "version two"}), 422
        )
        assert problem["errors"][0]["loc"] == "header.If-Match"
        assert unchanged(case["id"]) == before


# -- who may change what --------------------------------------------------------------------------


class TestOwners:
    def test_the_owner_agencys_dsp_and_referrer_report_on_their_action(
        self, api: Api, case: dict[str, Any], directory: Directory
    ) -> None:
        made = add_action(api, case["id"], owner_agency="police")
        seen = get_action(api, case["id"], "A1", who="dsp_police")
        assert seen["allowed_statuses"] == ["in_progress", "completed"]
        assert seen["editable_fields"] == ["completed_on", "evidence_of_impact", "note", "status"]

        response = patch_action(
            api,
            case["id"],
            "A1",
            {
                "status": "in_progress",
                "evidence_of_impact": "Briefing given to all sergeants.",
                "note": "On track.",
            },
            who="dsp_police",
        )
        assert response.status_code == 200, response.text
        # The police referrer (who referred the case, so reads it) completes it.
        response = patch_action(api, case["id"], "A1", {"status": "completed"}, who="referrer")
        assert response.status_code == 200, response.text
        history = response.json()["updates"]
        assert [u["actor_id"] for u in history] == [
            directory.user_ids["TW"][who] for who in ("qpd", "dsp_police", "referrer")
        ]
        assert action_row(made["id"]).status == "completed"
        # Evidence may still come in after it is done.
        response = patch_action(
            api, case["id"], "A1", {"evidence_of_impact": "Re-audit: 20 of 20."}, who="dsp_police"
        )
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize(
        "body",
        [
            {"due_on": "2026-08-28", "note": "Needs longer."},
            {"owner_agency": "health"},
            {"description": "Something easier."},
            {"status": "closed_with_rationale", "closure_rationale": "x", "note": "y"},
        ],
    )
    def test_the_owner_may_not_change_what_the_partnership_decides(
        self, api: Api, case: dict[str, Any], body: dict[str, Any]
    ) -> None:
        add_action(api, case["id"], owner_agency="police")
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(api, case["id"], "A1", body, who="dsp_police"),
            403,
            "/problems/action-forbidden",
        )
        assert unchanged(case["id"]) == before
        if "status" not in body:
            assert problem["fields"] == sorted(set(body) - {"note"})

    def test_the_owner_may_not_reopen(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"], owner_agency="police")
        patch_action(api, case["id"], "A1", {"status": "completed"}, who="dsp_police")
        before = unchanged(case["id"])
        problem = assert_problem(
            patch_action(
                api, case["id"], "A1", {"status": "in_progress", "note": "x"}, who="dsp_police"
            ),
            403,
            "/problems/action-forbidden",
        )
        assert problem["allowed_statuses"] == []
        assert unchanged(case["id"]) == before

    @pytest.mark.parametrize(
        ("owner", "who"),
        [
            ("health", "dsp_police"),
            ("police", "dsp_health"),
            ("health", "referrer"),
            ("police", "business"),
            ("police", "lsp_la"),
            ("police", "scrutineer"),
        ],
    )
    def test_nobody_else_updates_an_action(
        self, api: Api, case: dict[str, Any], owner: str, who: str
    ) -> None:
        add_action(api, case["id"], owner_agency=owner)
        before = unchanged(case["id"])
        assert get_action(api, case["id"], "A1", who=who)["editable_fields"] == []
        assert_problem(
            patch_action(api, case["id"], "A1", {"status": "in_progress"}, who=who),
            403,
            "/problems/action-forbidden",
        )
        assert unchanged(case["id"]) == before

    def test_a_new_owner_takes_the_clock_over(self, api: Api, case: dict[str, Any]) -> None:
        made = add_action(api, case["id"], owner_agency="police")
        response = patch_action(api, case["id"], "A1", {"owner_agency": "health"}, who="chair")
        assert response.status_code == 200, response.text
        [clock] = clocks_of(made["id"])
        assert clock.subject_agency == "health"
        # ... and the old owner has lost it.
        assert_problem(patch_action(api, case["id"], "A1", {"note": "x"}, who="dsp_police"), 403)
        assert (
            patch_action(api, case["id"], "A1", {"note": "x"}, who="dsp_health").status_code == 200
        )


# -- the overdue alert ---------------------------------------------------------------------------


def inbox(api: Api, who: str) -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/alerts", headers=api.headers(who))
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"] if a["type"] == "action.overdue"]


def overdue_events() -> list[OutboxEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.type) == "action.overdue")
                .order_by(col(OutboxEvent.occurred_at))
            )
        )


def addressed(event: OutboxEvent) -> set[tuple[str, str]]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(AlertRecipient).where(col(AlertRecipient.event_id) == event.id)
        ).all()
    return {(r.role, r.agency) for r in rows}


class TestOverdue:
    def test_an_overdue_action_alerts_its_owner_agencys_dsp_and_the_qpd_group(
        self, api: Api, case: dict[str, Any], clock: FixedClock
    ) -> None:
        secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        with Receiver() as receiver:
            subscribed = api.client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "events": ["action.overdue"], "secret": secret},
                headers=api.headers("admin"),
            )
            assert subscribed.status_code == 201, subscribed.text
            late = add_action(api, case["id"], owner_agency="police", due_on="2026-06-19")
            on_time = add_action(api, case["id"], owner_agency="health", due_on="2026-06-19")
            assert patch_action(api, case["id"], "A2", {"status": "completed"}).status_code == 200

            clock.set(end_of_day(date(2026, 6, 19)).replace(second=58))
            assert jobs.sweep_deadlines(clock) == 0
            clock.set(end_of_day(date(2026, 6, 19)))
            assert jobs.sweep_deadlines(clock) == 1
            assert jobs.sweep_deadlines(clock) == 0  # once per due date

            [event] = overdue_events()
            data = event.payload["data"]
            assert data["action"] == late["id"]
            assert data["agency"] == "police"
            assert data["clock"] == "action_due"
            assert data["due_on"] == "2026-06-19"
            assert data["recipients"] == ["dsp:police", "qpd"]
            assert addressed(event) == {("dsp", "police"), ("qpd", "")}
            assert [c.status for c in clocks_of(late["id"])] == ["breached"]
            assert [c.status for c in clocks_of(on_time["id"])] == ["met"]

            assert deliver(clock) == 1
            [got] = receiver.events()
        assert got["type"] == "action.overdue"
        assert got["case_reference"] == case["reference"]
        assert got["data"]["action"] == late["id"]
        assert IMMEDIATE not in str(got)  # the webhook carries ids, not the action's text

        for who in ("dsp_police", "qpd"):
            [alert] = inbox(api, who)
            assert alert["data"]["action"] == late["id"], who
        for who in ("dsp_health", "dsp_la", "business"):
            assert inbox(api, who) == [], who
        shown = get_action(api, case["id"], "A1")
        assert shown["clock"]["status"] == "breached"

    def test_the_alert_follows_a_new_owner_and_a_new_due_date(
        self, api: Api, case: dict[str, Any], clock: FixedClock
    ) -> None:
        add_action(api, case["id"], owner_agency="police", due_on="2026-06-19")
        patch_action(
            api,
            case["id"],
            "A1",
            {"owner_agency": "health", "due_on": "2026-06-24", "note": "Health leads it."},
        )
        clock.set(end_of_day(date(2026, 6, 19)))
        assert jobs.sweep_deadlines(clock) == 0
        clock.set(end_of_day(date(2026, 6, 24)))
        assert jobs.sweep_deadlines(clock) == 1
        [event] = overdue_events()
        assert addressed(event) == {("dsp", "health"), ("qpd", "")}
        assert inbox(api, "dsp_police") == []
        assert len(inbox(api, "dsp_health")) == 1


# -- closing the case -----------------------------------------------------------------------


class TestClose:
    def test_close_waits_for_every_action_to_be_done(self, api: Api, case: dict[str, Any]) -> None:
        cid = case["id"]
        add_action(api, cid)
        add_action(api, cid, owner_agency="health")
        response = api.fire(cid, "close", who="chair")
        problem = assert_problem(response, 409, "/problems/guard-rejected")
        assert problem["guard"] == "improvement_actions_done"
        assert problem["open_actions"] == 2

        patch_action(api, cid, "A1", {"status": "completed"})
        problem = assert_problem(api.fire(cid, "close", who="chair"), 409)
        assert problem["open_actions"] == 1
        patch_action(
            api,
            cid,
            "A2",
            {"status": "closed_with_rationale", "closure_rationale": "Done by A1.", "note": "QPD."},
        )
        response = api.fire(cid, "close", who="chair")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "closed"

        # A closed case's actions are a closed record.
        before = unchanged(cid)
        assert_problem(
            patch_action(api, cid, "A1", {"evidence_of_impact": "Late news."}),
            409,
            "/problems/case-closed",
        )
        assert unchanged(cid) == before
        assert get_action(api, cid, "A1")["allowed_statuses"] == []

    def test_a_case_without_actions_closes(self, api: Api, case: dict[str, Any]) -> None:
        assert api.fire(case["id"], "close", who="chair").status_code == 200


# -- reading, and who may see --------------------------------------------------------------------


class TestRead:
    def test_unknown_actions_are_404(self, api: Api, case: dict[str, Any]) -> None:
        add_action(api, case["id"])
        other = to_action_monitoring(api)
        elsewhere = add_action(api, other["id"])
        for key in ("A2", "A0", "B1", "1", str(uuid.uuid4()), elsewhere["id"], "A" + "9" * 100):
            response = api.client.get(
                f"/api/v1/cases/{case['id']}/actions/{key}", headers=api.headers("qpd")
            )
            assert_problem(response, 404, "/problems/action-not-found")
        before = unchanged(case["id"])
        assert_problem(patch_action(api, case["id"], elsewhere["id"], {"note": "x"}), 404)
        assert unchanged(case["id"]) == before

    def test_the_list_filters_and_pages(self, api: Api, case: dict[str, Any]) -> None:
        for owner in ("police", "health", "police"):
            add_action(api, case["id"], owner_agency=owner)
        patch_action(api, case["id"], "A3", {"status": "in_progress"})
        url = f"/api/v1/cases/{case['id']}/actions"
        got = api.client.get(url, params={"owner_agency": "police"}, headers=api.headers("qpd"))
        assert [a["reference"] for a in got.json()["items"]] == ["A1", "A3"]
        got = api.client.get(url, params={"status": "open"}, headers=api.headers("qpd"))
        assert [a["reference"] for a in got.json()["items"]] == ["A1", "A2"]
        got = api.client.get(url, params={"limit": 2}, headers=api.headers("qpd")).json()
        assert [a["reference"] for a in got["items"]] == ["A1", "A2"]
        got = api.client.get(
            url, params={"limit": 2, "cursor": got["next_cursor"]}, headers=api.headers("qpd")
        ).json()
        assert ([a["reference"] for a in got["items"]], got["next_cursor"]) == (["A3"], None)
        for params in (
            {"status": "done"},
            {"owner_agency": "coroner"},
            {"cursor": "not-a-cursor"},
            {"cursor": base64.urlsafe_b64encode(b"[true]").decode()},
            {"limit": 0},
        ):
            assert_problem(api.client.get(url, params=params, headers=api.headers("qpd")), 422)

    def test_another_partnership_sees_nothing(self, api: Api, case: dict[str, Any]) -> None:
        made = add_action(api, case["id"])
        before = unchanged(case["id"])
        for who in ("qpd", "chair"):
            for response in (
                api.client.get(
                    f"/api/v1/cases/{case['id']}/actions", headers=api.headers(who, "OT")
                ),
                api.client.get(
                    f"/api/v1/cases/{case['id']}/actions/{made['id']}",
                    headers=api.headers(who, "OT"),
                ),
                post_action(api, case["id"], who=who, partnership="OT"),
                patch_action(api, case["id"], "A1", {"note": "x"}, who=who, partnership="OT"),
            ):
                assert_problem(response, 404, "/problems/case-not-found")
        assert unchanged(case["id"]) == before

    def test_a_referrer_reads_the_case_once_its_agency_owns_an_action_there(
        self, api: Api, case: dict[str, Any]
    ) -> None:
        # Education did not refer the police's case and was asked for nothing: not its to see,
        # until it owns an action there, on which it reports.
        listed = api.client.get(
            f"/api/v1/cases/{case['id']}/actions", headers=api.headers("referrer_education")
        )
        assert_problem(listed, 404, "/problems/case-not-found")
        add_action(api, case["id"], owner_agency="education")
        listed = api.client.get(
            f"/api/v1/cases/{case['id']}/actions", headers=api.headers("referrer_education")
        )
        assert listed.status_code == 200, listed.text
        assert [a["owner_agency"] for a in listed.json()["items"]] == ["education"]
        reported = patch_action(
            api, case["id"], "A1", {"status": "in_progress"}, who="referrer_education"
        )
        assert reported.status_code == 200, reported.text
        assert reported.json()["status"] == "in_progress"

    def test_a_shared_case_is_read_only_to_the_partnership_it_is_shared_with(
        self, api: Api, case: dict[str, Any], directory: Directory
    ) -> None:
        add_action(api, case["id"])
        with Session(get_engine()) as session:
            ot = uuid.UUID(directory.user_ids["OT"]["chair"])
            grantee = session.get(User, ot)
            assert grantee is not None
            session.add(
                CaseShare(
                    case_id=uuid.UUID(case["id"]),
                    grantee_partnership_id=grantee.partnership_id,
                    reason="Joint learning.",
                    granted_by=uuid.UUID(directory.user_ids["TW"]["chair"]),
                    granted_at=datetime(2026, 6, 17, 9, 0, tzinfo=UTC),
                )
            )
            session.commit()
        listed = api.client.get(
            f"/api/v1/cases/{case['id']}/actions", headers=api.headers("qpd", "OT")
        )
        assert listed.status_code == 200, listed.text
        assert [a["reference"] for a in listed.json()["items"]] == ["A1"]
        assert listed.json()["may_create"] is False
        assert listed.json()["items"][0]["editable_fields"] == []
        before = unchanged(case["id"])
        assert_problem(
            post_action(api, case["id"], who="qpd", partnership="OT"),
            403,
            "/problems/shared-case-read-only",
        )
        assert_problem(
            patch_action(api, case["id"], "A1", {"note": "x"}, who="qpd", partnership="OT"),
            403,
            "/problems/shared-case-read-only",
        )
        assert unchanged(case["id"]) == before
