"""The case's information requests page over HTTP, without a browser: the table of requests
with their clocks as tags, the form to ask (business unit, chair), the return form (only for the
agency asked), the withdraw form; the API's own errors beside the fields; every refusal checked
against the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from cspr_engine.accounts import service as accounts_service
from cspr_engine.kit.clock import LONDON, FixedClock
from tests.conftest import NOW
from tests.factories import Api, Directory
from tests.information_requests.helpers import (
    ASKED,
    DEFAULT_DUE,
    add_document,
    answer,
    asked,
    everything,
    in_rapid_review,
    new_case,
    request_rows,
    share_with,
)
from tests.web.test_router import (
    Element,
    WebClient,
    WebClients,
    date_fields,
    error_summary,
    hidden_inputs,
    inline_errors,
    page,
    problem_text,
)

BUSINESS = "business@tw.example"
POLICE = "referrer@tw.example"
STALE = "Someone else changed this case while you had it open"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sign-in is not what these tests are about (tests/accounts covers the hashing costs).
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@pytest.fixture
def web(app: FastAPI, directory: Directory) -> Iterator[WebClients]:
    """`web("business@tw.example")`: that user's browser, signed in."""
    made: list[WebClient] = []

    def make(email: str) -> WebClient:
        client = WebClient(app)
        made.append(client)
        return client.sign_in(email)

    yield make
    for client in made:
        client.http.close()


def path(case: dict[str, Any], *rest: str) -> str:
    return "/".join([f"/ui/cases/{case['reference']}/information-requests", *rest])


def version_of(api: Api, case: dict[str, Any]) -> str:
    return str(api.get_case(case["id"])["version"])


def rows_of(doc: Element) -> list[dict[str, str]]:
    return [
        {k: v for k, v in tr.attrs.items() if k.startswith("data-")}
        for tr in doc.by_id("requests").find_all("tr")
        if "data-request" in tr.attrs
    ]


def follow(client: WebClient, response: Any) -> Element:
    assert response.status_code == 303, response.text
    return page(client.get(response.headers["location"]))


class TestThePage:
    def test_the_business_unit_sees_the_requests_their_clocks_and_the_forms(
        self, api: Api, web: WebClients, clock: FixedClock
    ) -> None:
        case = in_rapid_review(api)
        police, _, education = asked(api, case, "police", "health", "education")
        answer(api, case, police)
        api.client.post(
            f"/api/v1/cases/{case['id']}/information-requests/{education['id']}/withdraw",
            json={"reason": "Not known to the school."},
            headers=api.headers("business"),
        )
        business = web(BUSINESS)
        doc = page(business.get(path(case)))

        assert doc.find("h1").text == "Rapid review"
        assert case["reference"] in doc.find("span", cls="govuk-caption-l").text
        current = doc.find("li", cls="app-sub-nav__item--current")
        assert current.find("a").attrs["aria-current"] == "page"
        assert current.text == "Information requests"
        assert doc.by_id("requests").find("caption").text
        assert rows_of(doc) == [
            {
                "data-request": "1",
                "data-agency": "police",
                "data-status": "answered",
                "data-rag": "done",
            },
            {
                "data-request": "2",
                "data-agency": "health",
                "data-status": "open",
                "data-rag": "green",
            },
            {
                "data-request": "3",
                "data-agency": "education",
                "data-status": "withdrawn",
                "data-rag": "cancelled",
            },
        ]
        first = doc.by_id("request-1")
        assert "Two callouts to the address in 2025" in first.text
        assert "Chronology: included" in first.text
        assert ASKED in first.text
        assert "5 working days left, due 24 June 2026" in doc.by_id("request-2").text
        assert "Not known to the school." in doc.by_id("request-3").text
        # Ask and withdraw (the open request only); no return form: the business unit answers
        # for no agency.
        assert doc.has_id("ask")
        assert [d.attrs["id"] for d in doc.find_all("details")] == ["withdraw-2"]
        assert hidden_inputs(doc, path(case)) == {
            "csrf_token": business.csrf,
            "version": version_of(api, case),
        }
        hint = doc.by_id("ask-due-on-hint").text
        assert "Leave empty for 24 June 2026, 5 working days from today" in hint

    def test_the_agency_asked_sees_the_return_form_for_its_own_requests_only(
        self, api: Api, web: WebClients
    ) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police", "health")
        doc = page(web(POLICE).get(path(case)))
        assert [d.attrs["id"] for d in doc.find_all("details")] == ["answer-1"]
        assert not doc.has_id("ask")
        form = doc.by_id("answer-1").find("form")
        assert form.attrs["action"] == path(case, "1", "response")
        ids = [
            i.attrs["id"]
            for i in form.find_all("input") + form.find_all("textarea")
            if "id" in i.attrs
        ]
        assert "answer-1-known-to-agency" in ids
        assert "answer-1-summary" in ids
        assert "answer-1-answered-on-day" in ids
        # No document on the case: no document field.
        assert "answer-1-document-id" not in ids
        health = page(web("dsp_health@tw.example").get(path(case)))
        assert [d.attrs["id"] for d in health.find_all("details")] == ["answer-2"]

    def test_readers_see_the_table_and_no_form(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        for who in ("scrutineer@tw.example", "qpd@tw.example", "dsp_la@tw.example"):
            doc = page(web(who).get(path(case)))
            assert len(rows_of(doc)) == 1, who
            assert not doc.find_all("form", action=path(case)), who
            assert not doc.find_all("details"), who

    def test_no_request_yet(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        doc = page(web(BUSINESS).get(path(case)))
        assert doc.has_id("no-requests")
        assert doc.has_id("ask")

    def test_an_overdue_return_is_red(self, api: Api, web: WebClients, clock: FixedClock) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        clock.set(datetime(2026, 6, 25, 9, 0, tzinfo=LONDON))
        business = web(BUSINESS)
        doc = page(business.get(path(case)))
        (row,) = rows_of(doc)
        assert row["data-rag"] == "red"
        assert "Overdue" in doc.by_id("request-1").text
        assert "was due 24 June 2026" in doc.by_id("request-1").text

    def test_a_case_the_user_cannot_see_is_404_until_its_agency_is_asked(
        self, api: Api, web: WebClients
    ) -> None:
        case = in_rapid_review(api)
        education = web("referrer_education@tw.example")
        assert education.get(path(case)).status_code == 404
        assert web("business@ot.example").get(path(case)).status_code == 404
        asked(api, case, "education")
        doc = page(education.get(path(case)))
        assert [d.attrs["id"] for d in doc.find_all("details")] == ["answer-1"]

    def test_a_shared_case_is_read_only(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        share_with(case["id"], "OT", NOW)
        for who in ("chair@ot.example", "dsp_police@ot.example"):
            client = web(who)
            doc = page(client.get(path(case)))
            assert len(rows_of(doc)) == 1, who
            assert not doc.find_all("form", action=path(case)), who
            assert not doc.find_all("details"), who
        before = everything(case["id"])
        chair = web("chair@ot.example")
        response = chair.post(
            path(case), {"version": version_of(api, case), "agencies": "health", "asked": ASKED}
        )
        assert response.status_code == 403
        assert everything(case["id"]) == before

    def test_on_a_closed_case_nothing_is_offered(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        api.ok(case["id"], "withdraw", {"rationale": "Criteria found not met."})
        for who in (BUSINESS, POLICE):
            doc = page(web(who).get(path(case)))
            assert not doc.find_all("form", action=path(case)), who
            assert not doc.find_all("details"), who
            assert rows_of(doc)[0]["data-rag"] == "cancelled"


class TestAsking:
    def form(self, version: str, *agencies: str, **extra: str) -> dict[str, Any]:
        return {"version": version, "agencies": list(agencies), "asked": ASKED, **extra}

    def test_asking_two_agencies_with_the_default_due_date(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        business = web(BUSINESS)
        response = business.post(path(case), self.form(version_of(api, case), "police", "health"))
        doc = follow(business, response)
        assert doc.by_id("done").text == "Information requested from Police, Health"
        assert [(r["data-agency"], r["data-status"]) for r in rows_of(doc)] == [
            ("police", "open"),
            ("health", "open"),
        ]
        stored = request_rows(case["id"])
        assert [(r["agency"], str(r["due_on"])) for r in stored] == [
            ("police", DEFAULT_DUE),
            ("health", DEFAULT_DUE),
        ]
        # The banner is shown once.
        assert not page(business.get(path(case))).has_id("done")

    def test_a_due_date_typed_in(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        business = web(BUSINESS)
        data = self.form(version_of(api, case), "police", **date_fields("due_on", "2026-06-30"))
        follow(business, business.post(path(case), data))
        assert str(request_rows(case["id"])[0]["due_on"]) == "2026-06-30"

    def test_missing_fields_are_shown_beside_them(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        business = web(BUSINESS)
        response = business.post(path(case), {"version": version_of(api, case), "asked": " "})
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [
            ("#ask-agencies", "Select the agencies to ask"),
            ("#ask-asked", "Enter what you ask for"),
        ]
        assert inline_errors(doc)["ask-agencies-error"] == "Select the agencies to ask"
        assert doc.find("title").text.startswith("Error:")
        assert everything(case["id"]) == before

    def test_the_apis_own_date_rules_are_shown_beside_the_date(
        self, api: Api, web: WebClients
    ) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        business = web(BUSINESS)
        for typed, message in (
            (date_fields("due_on", "2026-06-16"), "The due date: cannot be in the past"),
            ({"due_on-day": "31", "due_on-month": "2", "due_on-year": "2026"}, "must be a real"),
        ):
            response = business.post(
                path(case), self.form(version_of(api, case), "police", **typed)
            )
            assert response.status_code == 422
            doc = page(response)
            assert message in inline_errors(doc)["ask-due-on-error"]
            # What was typed and ticked stays in the form.
            ticked = doc.find("input", name="agencies", value="police")
            assert ticked.attrs.get("checked") is not None
            assert doc.by_id("ask-asked").text == ASKED
        assert everything(case["id"]) == before

    def test_a_stale_form_changes_nothing(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        business = web(BUSINESS)
        stale = version_of(api, case)
        asked(api, case, "health")
        before = everything(case["id"])
        response = business.post(path(case), self.form(stale, "police"))
        assert response.status_code == 409
        assert STALE in problem_text(page(response))
        assert everything(case["id"]) == before

    @pytest.mark.parametrize("who", [POLICE, "dsp_police@tw.example", "scrutineer@tw.example"])
    def test_other_roles_are_refused_and_nothing_changes(
        self, api: Api, web: WebClients, who: str
    ) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        client = web(who)
        response = client.post(path(case), self.form(version_of(api, case), "police"))
        assert response.status_code == 403
        doc = page(response)
        assert "business unit or the panel chair" in problem_text(doc)
        assert error_summary(doc) == []
        assert everything(case["id"]) == before

    def test_without_the_csrf_token_nothing_changes(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        response = web(BUSINESS).post_without_csrf(
            path(case), self.form(version_of(api, case), "police")
        )
        assert response.status_code == 403
        assert everything(case["id"]) == before


class TestAnswering:
    def form(self, version: str, **extra: Any) -> dict[str, Any]:
        return {
            "version": version,
            "known_to_agency": "true",
            "summary": "Known to neighbourhood policing since 2025.",
            "chronology_included": "true",
            **extra,
        }

    def test_the_agency_asked_makes_its_return(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        document = add_document(case["id"], NOW)
        police = web(POLICE)
        doc = page(police.get(path(case)))
        assert doc.by_id("answer-1-document-id").find_all("option")[1].text == "Police chronology"
        data = self.form(
            version_of(api, case),
            document_id=document,
            **date_fields("involvement_from", "2025-03-01"),
        )
        doc = follow(police, police.post(path(case, "1", "response"), data))
        assert doc.by_id("done").text == "Your return to request 1 is recorded"
        (row,) = rows_of(doc)
        assert (row["data-status"], row["data-rag"]) == ("answered", "done")
        text = doc.by_id("request-1").text
        assert "Known to neighbourhood policing since 2025." in text
        assert "from 1 March 2025, still involved" in text
        assert "Police chronology" in text
        stored = request_rows(case["id"])[0]
        assert stored["status"] == "answered"
        given = stored["response"]
        given = json.loads(given) if isinstance(given, str) else given
        assert given["chronology_included"] is True
        assert given["known_to_agency"] is True
        assert given["involvement_from"] == "2025-03-01"
        assert not doc.find_all("details")

    def test_errors_are_shown_beside_the_fields_of_that_return(
        self, api: Api, web: WebClients
    ) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        before = everything(case["id"])
        police = web(POLICE)
        data = {
            "version": version_of(api, case),
            **date_fields("involvement_from", "2025-06-01"),
            **date_fields("involvement_to", "2025-05-01"),
            **date_fields("answered_on", "2026-06-18"),
        }
        response = police.post(path(case, "1", "response"), data)
        assert response.status_code == 422
        doc = page(response)
        assert [anchor for anchor, _ in error_summary(doc)] == [
            "#answer-1-known-to-agency",
            "#answer-1-summary",
        ]
        assert doc.by_id("answer-1").attrs.get("open") is not None
        # With those given, the API's rules on the dates.
        data |= {"known_to_agency": "false", "summary": "Not known."}
        doc = page(police.post(path(case, "1", "response"), data))
        errors = inline_errors(doc)
        assert errors["answer-1-answered-on-error"] == (
            "The date of the return: cannot be in the future"
        )
        assert errors["answer-1-involvement-to-error"] == (
            "The end of the involvement: cannot be before the start of the involvement"
        )
        assert everything(case["id"]) == before

    def test_another_agency_is_refused(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        before = everything(case["id"])
        response = web("dsp_health@tw.example").post(
            path(case, "1", "response"), self.form(version_of(api, case))
        )
        assert response.status_code == 403
        assert "addressed to police" in problem_text(page(response))
        assert everything(case["id"]) == before

    def test_a_second_return_is_refused(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case, "police")
        answer(api, case, made)
        before = everything(case["id"])
        response = web(POLICE).post(path(case, "1", "response"), self.form(version_of(api, case)))
        assert response.status_code == 409
        assert "Request 1 is answered." in problem_text(page(response))
        assert everything(case["id"]) == before

    def test_an_unknown_request_is_404(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        police = web(POLICE)
        for number in ("7", "0", "x", "99999999999"):
            response = police.post(path(case, number, "response"), self.form("1"))
            assert response.status_code in (400, 404), number
            page(response)


class TestWithdrawing:
    def test_the_business_unit_withdraws_with_a_reason(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        business = web(BUSINESS)
        response = business.post(
            path(case, "1", "withdraw"),
            {"version": version_of(api, case), "reason": "Police were never involved."},
        )
        doc = follow(business, response)
        assert doc.by_id("done").text == "Request 1 is withdrawn"
        assert rows_of(doc)[0]["data-status"] == "withdrawn"
        assert request_rows(case["id"])[0]["withdrawn_reason"] == "Police were never involved."

    def test_a_reason_is_required(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        before = everything(case["id"])
        response = web(BUSINESS).post(
            path(case, "1", "withdraw"), {"version": version_of(api, case), "reason": ""}
        )
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [("#withdraw-1-reason", "Enter the reason")]
        assert doc.by_id("withdraw-1").attrs.get("open") is not None
        assert everything(case["id"]) == before

    def test_the_agency_asked_cannot_withdraw(self, api: Api, web: WebClients) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        before = everything(case["id"])
        response = web(POLICE).post(
            path(case, "1", "withdraw"), {"version": version_of(api, case), "reason": "No."}
        )
        assert response.status_code == 403
        assert everything(case["id"]) == before
