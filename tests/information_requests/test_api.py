"""The information requests API: the business unit asks named agencies for a return (one
request and one `information_return` clock each), the agency asked answers once (its clock is
met, or met late), a request still awaited may be withdrawn (its clock cancelled), and an
agency reads its own requests across cases. Every refusal is checked against the database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from cspr_engine.kit.clock import LONDON, FixedClock
from tests.conftest import NOW
from tests.factories import Api, assert_problem
from tests.information_requests.helpers import (
    ASKED,
    DEFAULT_DUE,
    a_return,
    add_document,
    answer,
    ask,
    asked,
    audit_kinds,
    clock_rows,
    everything,
    in_rapid_review,
    listed,
    new_case,
    request_rows,
    service_account,
    share_with,
    url,
    withdraw,
)


def field_errors(response: Any) -> dict[str, str]:
    body = assert_problem(response, 422, "/problems/invalid-data")
    return {e["loc"]: e["message"] for e in body["errors"]}


# -- asking -------------------------------------------------------------------------------------


class TestAsk:
    def test_the_business_unit_asks_two_agencies_one_request_and_clock_each(self, api: Api) -> None:
        case = in_rapid_review(api)
        version = api.get_case(case["id"])["version"]

        response = ask(api, case, agencies=["police", "health"])

        assert response.status_code == 201, response.text
        assert response.headers["etag"] == f'"{version + 1}"'
        items = response.json()["items"]
        assert [(r["number"], r["agency"], r["status"]) for r in items] == [
            (1, "police", "open"),
            (2, "health", "open"),
        ]
        for r in items:
            assert r["asked"] == ASKED
            assert r["due_on"] == DEFAULT_DUE
            assert r["case_reference"] == case["reference"]
            assert r["response"] is None
            assert r["clock"]["key"] == "information_return"
            assert r["clock"]["status"] == "pending"
            assert r["clock"]["overdue"] is False
            assert r["clock"]["starts_on"] == "2026-06-17"
            assert r["clock"]["working_days_left"] == 5
        # Stored: the requests, a clock each addressed to its agency, one audit event.
        stored = request_rows(case["id"])
        assert [(r["number"], r["agency"], r["status"]) for r in stored] == [
            (1, "police", "open"),
            (2, "health", "open"),
        ]
        clocks = clock_rows(case["id"])
        assert [(c["key"], c["subject_agency"], str(c["due_on"])) for c in clocks] == [
            ("information_return", "police", DEFAULT_DUE),
            ("information_return", "health", DEFAULT_DUE),
        ]
        assert {str(uuid.UUID(str(c["subject_id"]))) for c in clocks} == {r["id"] for r in items}
        assert api.get_case(case["id"])["version"] == version + 1
        event = api.events(case["id"])[-1]
        assert event["kind"] == "information_request.created"
        assert event["data"] == {
            "numbers": [1, 2],
            "agencies": ["police", "health"],
            "asked": ASKED,
            "due_on": DEFAULT_DUE,
        }
        assert listed(api, case) == items

    def test_the_default_due_date_counts_working_days_past_a_bank_holiday(
        self, api: Api, clock: FixedClock
    ) -> None:
        case = in_rapid_review(api)
        # Asked on Wednesday 26 August 2026: Monday 31 August is a bank holiday.
        clock.set(datetime(2026, 8, 26, 10, 0, tzinfo=LONDON))
        (made,) = asked(api, case)
        assert made["due_on"] == "2026-09-03"

    def test_numbers_run_on_within_the_case_and_start_again_on_another(self, api: Api) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police", "health")
        (third,) = asked(api, case, "education", due_on="2026-06-30")
        assert (third["number"], third["due_on"]) == (3, "2026-06-30")
        other = in_rapid_review(api)
        (first,) = asked(api, other, "education")
        assert first["number"] == 1

    def test_a_due_date_of_today_is_allowed(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case, due_on="2026-06-17")
        assert made["clock"]["working_days_left"] == 0
        assert made["clock"]["status"] == "pending"

    def test_the_panel_chair_may_ask_too_and_in_the_referred_state(self, api: Api) -> None:
        case = new_case(api)
        response = ask(api, case, who="chair")
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize(
        ("body", "loc", "message"),
        [
            ({"agencies": []}, "agencies", "at least 1 item"),
            ({"agencies": ["police", "police"]}, "agencies", "more than once"),
            ({"agencies": ["coroner"]}, "agencies.0", "Input should be"),
            ({"agencies": ["police"] * 9}, "agencies", "at most 8 items"),
            ({"asked": "   "}, "asked", "at least 1 character"),
            ({"asked": "x" * 20_001}, "asked", "at most 20000 characters"),
            ({"due_on": "2026-06-16"}, "due_on", "cannot be in the past"),
            ({"due_on": "2027-06-19"}, "due_on", "within 366 days"),
            ({"due_on": "17/06/2026"}, "due_on", "YYYY-MM-DD"),
            ({"due_on": "2026-02-30"}, "due_on", "date"),
            ({"agency": "police"}, "agency", "Extra inputs"),
        ],
    )
    def test_bad_input_is_a_422_and_changes_nothing(
        self, api: Api, body: dict[str, Any], loc: str, message: str
    ) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        errors = field_errors(ask(api, case, **body))
        assert loc in errors, errors
        assert message in errors[loc], errors
        assert everything(case["id"]) == before

    def test_a_missing_body_or_field_is_refused(self, api: Api) -> None:
        case = in_rapid_review(api)
        response = api.client.post(url(case), json={}, headers=api.headers("business"))
        assert set(field_errors(response)) == {"agencies", "asked"}
        response = api.client.post(url(case), headers=api.headers("business"))
        assert_problem(response, 415, "/problems/unsupported-media-type")
        response = api.client.post(
            url(case),
            content=b'{"agencies": [',
            headers=api.headers("business", **{"Content-Type": "application/json"}),
        )
        assert_problem(response, 400, "/problems/malformed-body")
        assert request_rows(case["id"]) == []

    @pytest.mark.parametrize("who", ["referrer", "dsp_police", "dsp_la", "qpd", "lsp_la"])
    def test_other_roles_may_not_ask(self, api: Api, who: str) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        assert_problem(ask(api, case, who=who), 403, "/problems/request-forbidden")
        assert everything(case["id"]) == before

    def test_the_scrutineer_changes_nothing(self, api: Api) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        assert_problem(ask(api, case, who="scrutineer"), 403, "/problems/request-forbidden")
        assert everything(case["id"]) == before

    def test_a_case_the_caller_cannot_see_is_404(self, api: Api) -> None:
        case = in_rapid_review(api)
        before = everything(case["id"])
        assert_problem(ask(api, case, partnership="OT"), 404, "/problems/case-not-found")
        assert_problem(ask(api, case, who="referrer_education"), 404, "/problems/case-not-found")
        assert everything(case["id"]) == before

    def test_unauthenticated_is_401(self, api: Api) -> None:
        case = in_rapid_review(api)
        response = api.client.post(url(case), json={"agencies": ["police"], "asked": ASKED})
        assert_problem(response, 401)

    def test_a_stale_if_match_is_412_and_changes_nothing(self, api: Api) -> None:
        case = in_rapid_review(api)
        version = api.get_case(case["id"])["version"]
        before = everything(case["id"])
        response = ask(api, case, if_match=f'"{version - 1}"')
        body = assert_problem(response, 412, "/problems/stale-version")
        assert body["current_version"] == version
        assert everything(case["id"]) == before
        assert ask(api, case, if_match=f'"{version}"').status_code == 201


class TestStages:
    def test_asked_from_referral_until_the_panel_answers(self, api: Api) -> None:
        case = new_case(api)
        assert ask(api, case).status_code == 201  # referred
        api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})
        assert ask(api, case).status_code == 201  # rapid review
        # The first returns are in, or the review goes on without them.
        api.ok(
            case["id"],
            "complete_rapid_review",
            {
                "completed_on": "2026-06-17",
                "recommendation": "no_lcspr",
                "rationale": "No new learning.",
                "missing_returns_reason": "The police return will follow; nothing turns on it.",
            },
        )
        assert ask(api, case).status_code == 201  # DSP decision
        for dsp in ("dsp_la", "dsp_police", "dsp_health"):
            assert api.vote(case["id"], dsp).status_code == 200
        api.ok(case["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"})
        assert ask(api, case).status_code == 201  # awaiting the Panel's response
        api.ok(
            case["id"],
            "record_panel_response",
            {"received_on": "2026-06-17", "outcome": "agrees_no_lcspr"},
        )
        before = everything(case["id"])
        body = assert_problem(ask(api, case), 409, "/problems/requests-not-open")
        assert body["state"] == "action_monitoring"
        assert body["allowed_states"] == [
            "awaiting_panel_response",
            "dsp_decision",
            "rapid_review",
            "referred",
        ]
        assert everything(case["id"]) == before

    def test_not_on_a_closed_case(self, api: Api) -> None:
        case = new_case(api)
        api.ok(
            case["id"],
            "decide_not_notifiable",
            {"rationale": "Criteria not met.", "alternative_learning": "none"},
        )
        before = everything(case["id"])
        body = assert_problem(ask(api, case), 409, "/problems/requests-not-open")
        assert body["state"] == "closed"
        assert everything(case["id"]) == before

    def test_closing_the_case_stops_the_clocks_of_its_requests(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        api.ok(case["id"], "withdraw", {"rationale": "Criteria found not met."})
        (shown,) = listed(api, case)
        assert shown["status"] == "open"
        assert shown["clock"]["status"] == "cancelled"
        assert shown["clock"]["cancelled_at"] is not None
        body = assert_problem(answer(api, case, made), 409, "/problems/request-not-open")
        assert "closed" in body["detail"]


# -- answering ---------------------------------------------------------------------------------


class TestAnswer:
    def test_the_agency_asked_makes_its_return_and_the_clock_is_met(self, api: Api) -> None:
        case = in_rapid_review(api)
        police, _ = asked(api, case, "police", "health")
        version = api.get_case(case["id"])["version"]

        response = answer(api, case, police)

        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{version + 1}"'
        shown = response.json()
        assert shown["status"] == "answered"
        assert shown["response"] == {
            **a_return(),
            "document_id": None,
            "answered_on": "2026-06-17",
            "answered_by": api.directory.user_ids["TW"]["referrer"],
            "answered_at": "2026-06-17T09:00:00Z",
        }
        assert shown["clock"]["status"] == "met"
        assert shown["clock"]["met_on"] == "2026-06-17"
        assert shown["clock"]["working_days_left"] is None
        assert shown["version"] == 2
        # The other agency's request still waits.
        assert [(r["agency"], r["status"]) for r in listed(api, case)] == [
            ("police", "answered"),
            ("health", "open"),
        ]
        stored = request_rows(case["id"])[0]
        assert stored["status"] == "answered"
        assert str(stored["answered_on"]) == "2026-06-17"
        assert [c["status"] for c in clock_rows(case["id"])] == ["met", "pending"]
        event = api.events(case["id"])[-1]
        assert event["kind"] == "information_request.answered"
        assert event["data"] == {
            "number": 1,
            "agency": "police",
            "answered_on": "2026-06-17",
            "known_to_agency": True,
            "chronology_included": True,
            "clock": "met",
        }
        assert event["actor_agency"] == "police"

    def test_a_return_after_the_due_date_is_met_late(self, api: Api, clock: FixedClock) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case, due_on="2026-06-18")
        clock.set(NOW + timedelta(days=5))
        response = answer(api, case, made, answered_on="2026-06-19")
        assert response.status_code == 200, response.text
        assert response.json()["clock"]["status"] == "met_late"
        assert response.json()["clock"]["breached_at"] is not None

    def test_a_return_made_on_time_and_recorded_late_is_met(
        self, api: Api, clock: FixedClock
    ) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case, due_on="2026-06-18")
        clock.set(NOW + timedelta(days=5))
        response = answer(api, case, made, answered_on="2026-06-18")
        assert response.json()["clock"]["status"] == "met"

    def test_a_dsp_of_the_agency_and_its_case_system_may_answer(
        self, api: Api, clock: FixedClock
    ) -> None:
        case = in_rapid_review(api)
        first, second = asked(api, case, "police", "health")
        assert answer(api, case, first, who="dsp_police").status_code == 200
        token = service_account("health", NOW, roles=("referrer",))
        response = api.client.post(
            url(case, second["id"], "response"),
            json=a_return(known_to_agency=False, involvement_from=None, involvement_to=None),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["response"]["known_to_agency"] is False

    def test_answering_twice_is_a_409(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        assert answer(api, case, made).status_code == 200
        before = everything(case["id"])
        body = assert_problem(
            answer(api, case, made, summary="Another go."), 409, "/problems/request-not-open"
        )
        assert body["request_status"] == "answered"
        assert everything(case["id"]) == before

    @pytest.mark.parametrize("who", ["dsp_health", "dsp_la", "business", "chair", "qpd"])
    def test_only_the_agency_asked_answers(self, api: Api, who: str) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        before = everything(case["id"])
        assert_problem(answer(api, case, made, who=who), 403, "/problems/answer-forbidden")
        assert everything(case["id"]) == before

    def test_a_referrer_of_another_agency_cannot_see_the_case(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        before = everything(case["id"])
        response = answer(api, case, made, who="referrer_education")
        assert_problem(response, 404, "/problems/case-not-found")
        response = answer(api, case, made, partnership="OT", who="dsp_police")
        assert_problem(response, 404, "/problems/case-not-found")
        assert everything(case["id"]) == before

    @pytest.mark.parametrize(
        ("overrides", "loc", "message"),
        [
            ({"answered_on": "2026-06-18"}, "answered_on", "cannot be in the future"),
            ({"answered_on": "2026-06-16"}, "answered_on", "before the request was made"),
            ({"involvement_to": "2026-06-18"}, "involvement_to", "cannot be in the future"),
            (
                {"involvement_from": "2025-06-01", "involvement_to": "2025-05-31"},
                "involvement_to",
                "before the start",
            ),
            ({"summary": ""}, "summary", "at least 1 character"),
            ({"summary": None}, "summary", "string"),
            ({"known_to_agency": "yes"}, "known_to_agency", "boolean"),
            ({"chronology_included": 1}, "chronology_included", "boolean"),
            ({"document_id": "not-an-id"}, "document_id", "UUID"),
            ({"document_id": str(uuid.uuid4())}, "document_id", "not a document of this case"),
            ({"name": "Jane"}, "name", "Extra inputs"),
        ],
    )
    def test_a_bad_return_is_a_422_and_changes_nothing(
        self, api: Api, overrides: dict[str, Any], loc: str, message: str
    ) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        before = everything(case["id"])
        errors = field_errors(answer(api, case, made, **overrides))
        assert loc in errors, errors
        assert message in errors[loc], errors
        assert everything(case["id"]) == before

    def test_known_to_agency_and_summary_are_required(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        response = api.client.post(
            url(case, made["id"], "response"), json={}, headers=api.headers("referrer")
        )
        assert set(field_errors(response)) == {"known_to_agency", "summary"}

    def test_the_return_may_point_to_a_document_of_the_case(self, api: Api) -> None:
        case = in_rapid_review(api)
        other = in_rapid_review(api)
        (made,) = asked(api, case)
        elsewhere = add_document(other["id"], NOW)
        withdrawn = add_document(case["id"], NOW, withdrawn=True)
        for wrong in (elsewhere, withdrawn):
            errors = field_errors(answer(api, case, made, document_id=wrong))
            assert "not a document of this case" in errors["document_id"]
        document = add_document(case["id"], NOW)
        response = answer(api, case, made, document_id=document)
        assert response.status_code == 200, response.text
        assert response.json()["response"]["document_id"] == document
        assert str(uuid.UUID(str(request_rows(case["id"])[0]["document_id"]))) == document
        assert api.events(case["id"])[-1]["data"]["document_id"] == document

    def test_an_unknown_request_is_404(self, api: Api) -> None:
        case = in_rapid_review(api)
        other = in_rapid_review(api)
        (elsewhere,) = asked(api, other)
        for request_id in (str(uuid.uuid4()), elsewhere["id"]):
            response = api.client.post(
                url(case, request_id, "response"), json=a_return(), headers=api.headers("referrer")
            )
            assert_problem(response, 404, "/problems/information-request-not-found")
        assert request_rows(case["id"]) == []


# -- withdrawing -------------------------------------------------------------------------------


class TestWithdraw:
    def test_a_withdrawn_request_is_no_longer_awaited(self, api: Api) -> None:
        case = in_rapid_review(api)
        police, _ = asked(api, case, "police", "health")
        response = withdraw(api, case, police, reason="Police were not involved after all.")
        assert response.status_code == 200, response.text
        shown = response.json()
        assert shown["status"] == "withdrawn"
        assert shown["withdrawn_reason"] == "Police were not involved after all."
        assert shown["withdrawn_at"] == "2026-06-17T09:00:00Z"
        assert shown["clock"]["status"] == "cancelled"
        assert [c["status"] for c in clock_rows(case["id"])] == ["cancelled", "pending"]
        event = api.events(case["id"])[-1]
        assert event["kind"] == "information_request.withdrawn"
        assert event["data"] == {
            "number": 1,
            "agency": "police",
            "reason": "Police were not involved after all.",
        }
        # Nor can it be answered or withdrawn again.
        assert_problem(answer(api, case, police), 409, "/problems/request-not-open")
        assert_problem(withdraw(api, case, police), 409, "/problems/request-not-open")

    def test_an_answered_request_cannot_be_withdrawn(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        answer(api, case, made)
        before = everything(case["id"])
        assert_problem(withdraw(api, case, made, who="chair"), 409, "/problems/request-not-open")
        assert everything(case["id"]) == before

    @pytest.mark.parametrize("who", ["referrer", "dsp_police", "scrutineer"])
    def test_only_those_who_ask_withdraw(self, api: Api, who: str) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        before = everything(case["id"])
        assert_problem(withdraw(api, case, made, who=who), 403, "/problems/request-forbidden")
        assert everything(case["id"]) == before

    def test_a_reason_is_required(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        before = everything(case["id"])
        assert "reason" in field_errors(withdraw(api, case, made, reason=" "))
        assert everything(case["id"]) == before


# -- reading -------------------------------------------------------------------------------------


class TestRead:
    def test_case_readers_read_one_request(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case)
        for who in ("chair", "scrutineer", "dsp_health", "referrer"):
            response = api.client.get(url(case, made["id"]), headers=api.headers(who))
            assert response.status_code == 200, (who, response.text)
            assert response.json() == made
        response = api.client.get(url(case, str(uuid.uuid4())), headers=api.headers("chair"))
        assert_problem(response, 404, "/problems/information-request-not-found")
        response = api.client.get(url(case, made["id"]), headers=api.headers("chair", "OT"))
        assert_problem(response, 404, "/problems/case-not-found")

    def test_an_agency_asked_reads_the_case_while_its_request_stands(self, api: Api) -> None:
        case = in_rapid_review(api)
        reader = api.headers("referrer_education")
        assert_problem(api.client.get(url(case), headers=reader), 404)
        (made,) = asked(api, case, "education")
        response = api.client.get(url(case), headers=reader)
        assert response.status_code == 200
        assert [r["id"] for r in response.json()["items"]] == [made["id"]]
        assert api.client.get(f"/api/v1/cases/{case['id']}", headers=reader).status_code == 200
        withdraw(api, case, made)
        assert_problem(api.client.get(url(case), headers=reader), 404)

    def test_the_list_pages_by_number(self, api: Api) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police", "health", "education")
        response = api.client.get(url(case) + "?limit=2", headers=api.headers("chair"))
        first = response.json()
        assert [r["number"] for r in first["items"]] == [1, 2]
        response = api.client.get(
            url(case) + f"?limit=2&cursor={first['next_cursor']}", headers=api.headers("chair")
        )
        assert [r["number"] for r in response.json()["items"]] == [3]
        assert response.json()["next_cursor"] is None
        response = api.client.get(url(case) + "?cursor=bogus", headers=api.headers("chair"))
        assert_problem(response, 422, "/problems/invalid-query")

    def test_an_overdue_request_shows_so_before_the_sweep(
        self, api: Api, clock: FixedClock
    ) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        clock.set(datetime(2026, 6, 25, 0, 30, tzinfo=LONDON))
        (shown,) = listed(api, case)
        assert shown["clock"]["status"] == "breached"
        assert shown["clock"]["overdue"] is True
        assert shown["clock"]["breached_at"] == "2026-06-24T22:59:59Z"


class TestASharedCase:
    def test_another_partnership_reads_a_shared_case_and_changes_nothing(self, api: Api) -> None:
        case = in_rapid_review(api)
        (made,) = asked(api, case, "police")
        share_with(case["id"], "OT", NOW)
        response = api.client.get(url(case), headers=api.headers("chair", "OT"))
        assert response.status_code == 200, response.text
        assert [r["id"] for r in response.json()["items"]] == [made["id"]]
        before = everything(case["id"])
        for response in (
            ask(api, case, who="business", partnership="OT"),
            answer(api, case, made, who="dsp_police", partnership="OT"),
            api.client.post(
                url(case, made["id"], "withdraw"),
                json={"reason": "No."},
                headers=api.headers("chair", "OT"),
            ),
        ):
            assert_problem(response, 403, "/problems/shared-case-read-only")
        assert everything(case["id"]) == before
        # Its DSPs' inbox is of their own partnership's requests only.
        inbox = api.client.get(
            "/api/v1/information-requests", headers=api.headers("dsp_police", "OT")
        )
        assert inbox.json()["items"] == []


class TestAgencyInbox:
    def inbox(self, api: Api, who: str, query: str = "", partnership: str = "TW") -> Any:
        response = api.client.get(
            f"/api/v1/information-requests{query}", headers=api.headers(who, partnership)
        )
        assert response.status_code == 200, response.text
        return response.json()

    def test_an_agency_sees_the_requests_addressed_to_it_across_cases(self, api: Api) -> None:
        first = in_rapid_review(api)
        second = in_rapid_review(api, referring_agency="health")
        (late,) = asked(api, first, "education", due_on="2026-06-30")
        soon, _ = asked(api, second, "education", "police", due_on="2026-06-19")
        asked(
            api, in_rapid_review(api, partnership="OT"), "education", partnership="OT"
        )  # another partnership

        shown = self.inbox(api, "referrer_education", "?status=open")
        assert [(r["id"], r["case_reference"]) for r in shown["items"]] == [
            (soon["id"], second["reference"]),
            (late["id"], first["reference"]),
        ]
        answer(api, second, soon, who="referrer_education")
        assert [
            r["id"] for r in self.inbox(api, "referrer_education", "?status=open")["items"]
        ] == [late["id"]]
        assert [
            r["id"] for r in self.inbox(api, "referrer_education", "?status=answered")["items"]
        ] == [soon["id"]]
        assert len(self.inbox(api, "referrer_education")["items"]) == 2
        # The police DSP's inbox holds the police request only.
        assert [r["agency"] for r in self.inbox(api, "dsp_police")["items"]] == ["police"]

    def test_it_pages_soonest_due_first(self, api: Api) -> None:
        case = in_rapid_review(api)
        for due in ("2026-06-30", "2026-06-19", "2026-06-24"):
            asked(api, case, "police", due_on=due)
        page = self.inbox(api, "referrer", "?limit=2")
        assert [r["due_on"] for r in page["items"]] == ["2026-06-19", "2026-06-24"]
        rest = self.inbox(api, "referrer", f"?limit=2&cursor={page['next_cursor']}")
        assert [r["due_on"] for r in rest["items"]] == ["2026-06-30"]
        assert rest["next_cursor"] is None

    def test_an_account_of_no_agency_has_no_inbox(self, api: Api) -> None:
        response = api.client.get("/api/v1/information-requests", headers=api.headers("business"))
        assert_problem(response, 403, "/problems/no-agency")

    @pytest.mark.parametrize("query", ["?status=late", "?cursor=bogus", "?limit=0"])
    def test_bad_queries_are_422(self, api: Api, query: str) -> None:
        response = api.client.get(
            f"/api/v1/information-requests{query}", headers=api.headers("referrer")
        )
        assert_problem(response, 422)


def test_every_change_is_on_the_timeline(api: Api) -> None:
    case = in_rapid_review(api)
    first, second = asked(api, case, "police", "health")
    answer(api, case, first)
    withdraw(api, case, second)
    assert audit_kinds(api, case)[-3:] == [
        "information_request.created",
        "information_request.answered",
        "information_request.withdrawn",
    ]
