"""The improvement action pages over HTTP, without a browser: the list with its RAG tags and the
texts actions come from, the add form, each action's page with its update form (what the user
may change, prefilled) and history; the API's own errors beside the fields; refusals that
change nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlmodel import Session, col, select

from cspr_engine.accounts import service as accounts_service
from cspr_engine.actions.models import ImprovementAction
from cspr_engine.db import get_engine
from tests.actions.support import (
    IMMEDIATE,
    action_row,
    action_tables,
    add_action,
    patch_action,
    to_action_monitoring,
    update_rows,
)
from tests.factories import Api, Directory, snapshot
from tests.web.test_router import (
    Element,
    WebClient,
    date_fields,
    error_summary,
    inline_errors,
    page,
    problem_text,
)

CHAIR = "chair@tw.example"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Page tests, not password tests: argon2id at its cheapest.
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def signed_in(app: FastAPI, directory: Directory) -> Iterator[Any]:
    """`signed_in("qpd")` -> a browser's view of the server, signed in as that TW person."""
    made: list[WebClient] = []

    def make(who: str, partnership: str = "TW") -> WebClient:
        client = WebClient(app).sign_in(f"{who}@{partnership.lower()}.example")
        made.append(client)
        return client

    yield make
    for client in made:
        client.http.close()


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    return to_action_monitoring(api)


def action_id(case: dict[str, Any], reference: str) -> str:
    with Session(get_engine()) as session:
        found = session.exec(
            select(ImprovementAction).where(
                col(ImprovementAction.case_id) == uuid.UUID(case["id"]),
                col(ImprovementAction.number) == int(reference[1:]),
            )
        ).one()
    return str(found.id)


def list_url(case: dict[str, Any]) -> str:
    return f"/ui/cases/{case['reference']}/actions"


def unchanged(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    return snapshot(case["id"]), action_tables()


def field_names(doc: Element, form_id: str) -> set[str]:
    form = doc.by_id(form_id)
    return {
        e.attrs["name"]
        for e in form.iter()
        if e.tag in ("input", "textarea", "select") and e.attrs.get("type") != "hidden"
    }


def rows_by_action(doc: Element) -> dict[str, Element]:
    return {
        r.attrs["data-action"]: r
        for r in doc.by_id("actions-table").find_all("tr")
        if "data-action" in r.attrs
    }


class TestTheList:
    def test_each_action_shows_its_due_tag_and_status(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        cid = case["id"]
        add_action(api, cid, owner_agency="police", due_on="2026-07-31")  # weeks away
        add_action(api, cid, owner_agency="health", due_on="2026-06-18")  # tomorrow
        add_action(api, cid, owner_agency="education", due_on="2026-06-12")  # past
        add_action(api, cid, owner_agency="local_authority", due_on="2026-06-30")
        patch_action(api, cid, "A4", {"status": "completed"})
        patch_action(api, cid, "A1", {"status": "in_progress"})

        response = signed_in("chair").get(list_url(case))
        assert response.status_code == 200, response.text
        doc = page(response)
        assert doc.by_id("case-state").text == "Action monitoring"
        current = doc.find("nav", aria_label="This case").find("a", aria_current="page")
        assert current.text == "Improvement actions"
        rows = rows_by_action(doc)
        assert list(rows) == ["A1", "A2", "A3", "A4"]
        assert [(r.attrs["data-rag"], r.attrs["data-status"]) for r in rows.values()] == [
            ("green", "in_progress"),
            ("amber", "open"),
            ("red", "open"),
            ("done", "completed"),
        ]
        assert [r.find(data_due_tag="").text for r in rows.values()] == [
            "On track",
            "Due soon",
            "Overdue",
            "Done",
        ]
        assert [r.find(data_status_tag="").text for r in rows.values()] == [
            "In progress",
            "Open",
            "Open",
            "Completed",
        ]
        a1 = rows["A1"]
        assert a1.find("a").attrs["href"] == f"{list_url(case)}/A1"
        assert "Police" in a1.text
        assert "31 July 2026" in a1.text
        assert IMMEDIATE in a1.text

    def test_the_add_form_sits_beside_the_rapid_reviews_immediate_actions(
        self, case: dict[str, Any], signed_in: Any
    ) -> None:
        doc = page(signed_in("qpd").get(list_url(case)))
        assert doc.has_id("no-actions")
        assert IMMEDIATE in doc.by_id("source-immediate-actions").text
        assert not doc.has_id("source-recommendations")
        assert field_names(doc, "add-action-form") == {
            "source",
            "description",
            "owner_agency",
            "due_on-day",
            "due_on-month",
            "due_on-year",
        }
        options = [o.attrs["value"] for o in doc.by_id("action-owner-agency").find_all("option")]
        assert options[0] == ""  # nothing chosen for the user
        assert "police" in options
        assert "coroner" not in options

    @pytest.mark.parametrize("who", ["dsp_police", "scrutineer", "business"])
    def test_others_see_the_actions_and_no_add_form(
        self, api: Api, case: dict[str, Any], signed_in: Any, who: str
    ) -> None:
        add_action(api, case["id"])
        doc = page(signed_in(who).get(list_url(case)))
        assert list(rows_by_action(doc)) == ["A1"]
        assert not doc.has_id("add-action-form")
        assert doc.has_id("may-not-create")

    def test_another_partnership_gets_not_found(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"])
        other = signed_in("qpd", "OT")
        for url in (list_url(case), f"{list_url(case)}/A1"):
            response = other.get(url)
            assert response.status_code == 404, url
            assert IMMEDIATE not in response.text
        before = unchanged(case)
        response = other.post(list_url(case), {"source": "other"})
        assert response.status_code == 404
        response = other.post(f"{list_url(case)}/A1/update", {"version": "1", "note": "x"})
        assert response.status_code == 404
        assert unchanged(case) == before


class TestAdding:
    def test_the_form_adds_an_action_and_shows_it(
        self, case: dict[str, Any], signed_in: Any, directory: Directory
    ) -> None:
        qpd = signed_in("qpd")
        response = qpd.post(
            list_url(case),
            {
                "source": "immediate_action",
                "description": "Police to review\r\nthe threshold.",
                "owner_agency": "police",
                **date_fields("due_on", "2026-07-31"),
            },
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{list_url(case)}/A1"
        landed = qpd.get(response.headers["location"])
        doc = page(landed)
        assert doc.by_id("done").text == "Action A1 added"
        assert doc.by_id("action-heading").attrs["data-action"] == "A1"
        assert doc.by_id("summary-description").text.endswith("Police to review the threshold.")
        assert "31 July 2026" in doc.by_id("summary-due-on").text
        assert doc.by_id("summary-due-on").find("strong").attrs["data-rag"] == "green"
        [update] = doc.by_id("action-history").find_all("tr", data_seq="1")
        assert "Added" in update.text
        assert "qpd" in update.text

        rows = page(qpd.get(list_url(case)))
        assert list(rows_by_action(rows)) == ["A1"]
        [history] = update_rows(action_id(case, "A1"))
        assert history.changes["description"] == [None, "Police to review\nthe threshold."]
        assert str(history.actor_id) == directory.user_ids["TW"]["qpd"]

    def test_errors_are_the_apis_beside_their_fields_and_nothing_is_added(
        self, case: dict[str, Any], signed_in: Any
    ) -> None:
        qpd = signed_in("qpd")
        before = unchanged(case)
        response = qpd.post(list_url(case), {"description": "   "})
        assert response.status_code == 422
        doc = page(response)
        assert doc.find("title").text.startswith("Error:")
        assert inline_errors(doc) == {
            "action-source-error": "Select where the action comes from",
            "action-description-error": "Enter what will be done",
            "action-owner-agency-error": "Select owner agency",
            "action-due-on-error": "Enter the due date",
        }
        assert [href for href, _ in error_summary(doc)] == [
            "#action-source",
            "#action-description",
            "#action-owner-agency",
            "#action-due-on-day",
        ]

        # A rule only the service knows: the due date against the case's dates.
        response = qpd.post(
            list_url(case),
            {
                "source": "other",
                "description": "Audit of strategy discussions.",
                "owner_agency": "police",
                **date_fields("due_on", "2026-06-01"),
            },
        )
        assert response.status_code == 422
        doc = page(response)
        assert inline_errors(doc) == {
            "action-due-on-error": "The due date: cannot be before the case's became_aware_on "
            "(2026-06-10)"
        }
        # What was typed is kept.
        assert doc.by_id("action-description").text == "Audit of strategy discussions."
        assert doc.by_id("action-due-on-day").attrs["value"] == "01"

        response = qpd.post(
            list_url(case),
            {
                "source": "other",
                "description": "Audit.",
                "owner_agency": "police",
                "due_on-day": "31",
                "due_on-month": "2",
                "due_on-year": "2027",
            },
        )
        assert inline_errors(page(response)) == {
            "action-due-on-error": "The due date must be a real date"
        }
        assert unchanged(case) == before

    def test_a_forged_post_from_a_role_that_may_not_add_changes_nothing(
        self, case: dict[str, Any], signed_in: Any
    ) -> None:
        before = unchanged(case)
        response = signed_in("dsp_police").post(
            list_url(case),
            {
                "source": "other",
                "description": "Audit.",
                "owner_agency": "police",
                **date_fields("due_on", "2026-07-31"),
            },
        )
        assert response.status_code == 403
        assert "QPD group or the panel chair" in problem_text(page(response))
        assert unchanged(case) == before

    def test_a_post_without_the_csrf_token_changes_nothing(
        self, case: dict[str, Any], signed_in: Any
    ) -> None:
        before = unchanged(case)
        response = signed_in("qpd").post_without_csrf(
            list_url(case),
            {"source": "other", "description": "x", "owner_agency": "police"},
        )
        assert response.status_code == 403
        assert unchanged(case) == before


class TestTheActionPage:
    def test_details_form_and_history(self, api: Api, case: dict[str, Any], signed_in: Any) -> None:
        cid = case["id"]
        add_action(api, cid)
        patch_action(api, cid, "A1", {"status": "in_progress", "note": "Begun."})
        patch_action(
            api, cid, "A1", {"due_on": "2026-08-28", "note": "Panel meets in August."}, who="chair"
        )
        response = signed_in("qpd").get(f"{list_url(case)}/A1")
        assert response.status_code == 200
        doc = page(response)
        assert doc.by_id("summary-status").find("strong").text == "In progress"
        assert "28 August 2026" in doc.by_id("summary-due-on").text
        seqs = [
            r.attrs["data-seq"]
            for r in doc.by_id("action-history").find_all("tr")
            if "data-seq" in r.attrs
        ]
        assert seqs == ["3", "2", "1"]  # newest first
        moved = doc.by_id("action-history").find("tr", data_seq="3")
        assert "Due date: 31 July 2026 to 28 August 2026" in moved.text
        assert "Panel meets in August." in moved.text
        assert "chair" in moved.text
        begun = doc.by_id("action-history").find("tr", data_seq="2")
        assert "Status: Open to In progress" in begun.text

        # The panel chair and qpd change anything; the form is prefilled with what is there.
        assert field_names(doc, "update-action-form") == {
            "status",
            "completed_on-day",
            "completed_on-month",
            "completed_on-year",
            "closure_rationale",
            "evidence_of_impact",
            "description",
            "owner_agency",
            "due_on-day",
            "due_on-month",
            "due_on-year",
            "note",
        }
        statuses = [
            i.attrs["value"]
            for i in doc.by_id("update-action-form").find_all("input", type="radio")
        ]
        assert statuses == ["completed", "closed_with_rationale"]
        assert doc.by_id("update-due-on-day").attrs["value"] == "28"
        assert doc.by_id("update-description").text == IMMEDIATE
        hidden = doc.by_id("update-action-form").find("input", name="version")
        assert hidden.attrs["value"] == "3"

    def test_the_owners_form_offers_what_an_owner_may_change(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"], owner_agency="police")
        doc = page(signed_in("dsp_police").get(f"{list_url(case)}/A1"))
        assert field_names(doc, "update-action-form") == {
            "status",
            "completed_on-day",
            "completed_on-month",
            "completed_on-year",
            "evidence_of_impact",
            "note",
        }
        # Another agency's DSP reads it, with no form.
        doc = page(signed_in("dsp_health").get(f"{list_url(case)}/A1"))
        assert not doc.has_id("update-action-form")
        assert doc.has_id("action-history")

    def test_an_unknown_action_is_not_found(self, case: dict[str, Any], signed_in: Any) -> None:
        qpd = signed_in("qpd")
        for key in ("A1", "A0", "x" * 64, "A" + "1" * 100):
            assert qpd.get(f"{list_url(case)}/{key}").status_code == 404, key


class TestUpdating:
    def test_the_form_saves_only_what_changed(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        made = add_action(api, case["id"], description="Line one.\nLine two.")
        qpd = signed_in("qpd")
        doc = page(qpd.get(f"{list_url(case)}/A1"))
        # Posted back as a browser would: every prefilled value, line breaks as CRLF.
        form = {
            "version": "1",
            "status": "in_progress",
            "evidence_of_impact": "",
            "description": "Line one.\r\nLine two.",
            "owner_agency": "police",
            **date_fields("due_on", "2026-07-31"),
            "note": "Started in the west area.",
        }
        assert (
            doc.by_id("update-owner-agency").find("option", selected="").attrs["value"] == "police"
        )
        response = qpd.post(f"{list_url(case)}/A1/update", form)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{list_url(case)}/A1"
        assert page(qpd.get(response.headers["location"])).by_id("done").text == (
            "Action A1 updated"
        )
        last = update_rows(made["id"])[-1]
        assert (last.changes, last.note) == (
            {"status": ["open", "in_progress"]},
            "Started in the west area.",
        )
        assert action_row(made["id"]).version == 2

    def test_the_owner_completes_its_action_with_evidence(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        made = add_action(api, case["id"], owner_agency="police")
        response = signed_in("dsp_police").post(
            f"{list_url(case)}/A1/update",
            {
                "version": "1",
                "status": "completed",
                **date_fields("completed_on", "2026-06-16"),
                "evidence_of_impact": "All sergeants briefed.",
                "note": "",
            },
        )
        assert response.status_code == 303, response.text
        row = action_row(made["id"])
        assert (row.status, str(row.completed_on), row.evidence_of_impact) == (
            "completed",
            "2026-06-16",
            "All sergeants briefed.",
        )

    def test_errors_are_the_apis_beside_their_fields(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"])
        before = unchanged(case)
        response = signed_in("chair").post(
            f"{list_url(case)}/A1/update",
            {
                "version": "1",
                "status": "closed_with_rationale",
                "description": IMMEDIATE,
                "owner_agency": "police",
                **date_fields("due_on", "2026-08-28"),
                "note": "",
            },
        )
        assert response.status_code == 422
        doc = page(response)
        assert inline_errors(doc) == {
            "update-closure-rationale-error": "Closure rationale: is required when closing the "
            "action with a rationale",
            "update-note-error": "Note: is required when the due date moves",
        }
        # The user's choices stay on the form.
        assert doc.by_id("update-due-on-month").attrs["value"] == "08"
        assert unchanged(case) == before

    def test_a_form_that_changes_nothing_says_so(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"], owner_agency="police")
        before = unchanged(case)
        response = signed_in("dsp_police").post(
            f"{list_url(case)}/A1/update", {"version": "1", "evidence_of_impact": "", "note": ""}
        )
        assert response.status_code == 422
        [(_, message)] = error_summary(page(response))
        assert message == "Changes nothing: send a field to change, or a note"
        assert unchanged(case) == before

    def test_a_stale_form_is_refused_and_keeps_what_was_typed(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"], owner_agency="police")
        patch_action(api, case["id"], "A1", {"status": "in_progress"})
        before = unchanged(case)
        response = signed_in("dsp_police").post(
            f"{list_url(case)}/A1/update",
            {"version": "1", "evidence_of_impact": "Briefings done.", "note": "Weekly report."},
        )
        assert response.status_code == 412
        doc = page(response)
        assert "Someone else changed this action" in problem_text(doc)
        assert doc.by_id("update-note").text == "Weekly report."
        assert doc.by_id("update-action-form").find("input", name="version").attrs["value"] == "2"
        assert unchanged(case) == before

    def test_fields_not_on_the_owners_form_are_not_read(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        made = add_action(api, case["id"], owner_agency="police")
        response = signed_in("dsp_police").post(
            f"{list_url(case)}/A1/update",
            {
                "version": "1",
                **date_fields("due_on", "2026-12-31"),
                "owner_agency": "health",
                "note": "More time.",
            },
        )
        # The owner's form has no due date or owner: only its note is taken.
        assert response.status_code == 303
        row = action_row(made["id"])
        assert (str(row.due_on), row.owner_agency) == ("2026-07-31", "police")
        last = update_rows(made["id"])[-1]
        assert (last.changes, last.note) == ({}, "More time.")

    def test_a_closed_case_offers_no_form(
        self, api: Api, case: dict[str, Any], signed_in: Any
    ) -> None:
        add_action(api, case["id"])
        patch_action(api, case["id"], "A1", {"status": "completed"})
        api.ok(case["id"], "close", who="chair")
        qpd = signed_in("qpd")
        assert not page(qpd.get(list_url(case))).has_id("add-action-form")
        doc = page(qpd.get(f"{list_url(case)}/A1"))
        assert not doc.has_id("update-action-form")
        before = unchanged(case)
        response = qpd.post(f"{list_url(case)}/A1/update", {"version": "2", "note": "Late."})
        assert response.status_code == 409
        assert "closed" in problem_text(page(response))
        assert unchanged(case) == before
