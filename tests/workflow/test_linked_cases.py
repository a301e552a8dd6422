"""A trigger that opens a linked case (`opens:` in a workflow file), through the public API: a
child death review case where abuse or neglect is suspected opens a serious incident referral
of the partnership, linked to it; each case shows the other, both audit chains hold, and a
refused referral opens nothing and changes nothing.

The dates are the worked vectors of the statutory-process reference (section 5), with the
suite's clock set a few days after them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from cspr_engine.audit import chain
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock
from tests.factories import Api, Directory, assert_problem, stored

CDR = "child_death_review"
REFER = "refer_for_safeguarding_review"
# Tuesday 2 April 2024, 10:00 in London: Good Friday (29 March) and Easter Monday (1 April)
# have just passed.
NOW = datetime(2024, 4, 2, 9, 0, tzinfo=UTC)
DEATH = {"occurred_on": "2024-03-24", "outcome": "death", "abuse_or_neglect": "not_suspected"}


@pytest.fixture(autouse=True)
def _spring_2024(clock: FixedClock) -> None:
    clock.set(NOW)


def notification(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow": CDR,
        "became_aware_on": "2024-03-25",
        "referring_agency": "health",
        "partner_reference": "CDOP-2024-031",
        "incident": DEATH,
        "child": {"age_years": 1, "sex": "male"},
        "summary": "Infant found unresponsive at home.",
    }
    body.update(overrides)
    return body


def open_cdr(api: Api, who: str = "dsp_health", **overrides: Any) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/cases", json=notification(**overrides), headers=api.headers(who)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def to_review_meeting(api: Api, case: dict[str, Any]) -> None:
    """An unexpected death: the joint agency response, then the review meeting."""
    api.ok(
        case["id"],
        "start_joint_agency_response",
        {"jar_criterion": "sudden_with_no_apparent_cause", "jar_started_on": "2024-03-25"},
    )
    api.ok(case["id"], "record_jar_information_sharing", {"shared_on": "2024-03-26"})
    api.ok(
        case["id"],
        "complete_joint_agency_response",
        {"completed_on": "2024-03-28", "coroner_referral": "referred"},
    )
    assert api.get_case(case["id"])["state"] == "review_meeting"


def referral(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "abuse_or_neglect": "suspected",
        "became_aware_on": "2024-03-27",
        "concerns": "Injuries inconsistent with the account given.",
        "categories": ["physical_abuse", "neglect"],
    }
    data.update(overrides)
    return data


def links_of(api: Api, case_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/api/v1/cases/{case_id}/links", headers=api.headers("chair"))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def link_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        rows = conn.execute(text("SELECT * FROM case_links ORDER BY created_at")).mappings()
        return [dict(r) for r in rows]


def outbox(case_id: str) -> list[str]:
    with get_engine().connect() as conn:
        rows = conn.execute(
            text("SELECT type, case_id FROM outbox_events ORDER BY occurred_at, type")
        ).mappings()
        return [r["type"] for r in rows if str(r["case_id"]).replace("-", "") == case_id]


def everything() -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    return stored(), link_rows()


class TestWhatEachWorkflowTakes:
    def test_a_child_death_with_no_suspicion_of_abuse_is_a_child_death_review_case(
        self, api: Api
    ) -> None:
        case = open_cdr(api)
        assert (case["workflow"], case["state"]) == (CDR, "death_notified")
        assert case["incident"]["abuse_or_neglect"] == "not_suspected"
        # Its clocks are local defaults, not statutory deadlines.
        (notify,) = case["deadlines"]
        assert (notify["key"], notify["kind"], notify["verification"]) == (
            "cdop_notification",
            "local",
            "L",
        )
        assert notify["due_on"] == "2024-03-26"  # 1 working day after Monday 25 March

    def test_a_serious_incident_referral_without_abuse_or_neglect_is_refused_by_name(
        self, api: Api
    ) -> None:
        before = everything()
        response = api.client.post(
            "/api/v1/cases",
            json=notification(workflow="cspr", referring_agency="police"),
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 422)
        assert [e["loc"] for e in body["errors"]] == ["incident.abuse_or_neglect"]
        assert "known, suspected" in body["errors"][0]["message"]
        assert everything() == before

    def test_a_child_death_review_case_is_for_a_death(self, api: Api) -> None:
        before = everything()
        response = api.client.post(
            "/api/v1/cases",
            json=notification(incident={**DEATH, "outcome": "serious_harm"}),
            headers=api.headers("business"),
        )
        body = assert_problem(response, 422)
        assert [e["loc"] for e in body["errors"]] == ["incident.outcome"]
        assert everything() == before

    def test_an_unknown_abuse_value_is_refused_by_the_schema(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/cases",
            json=notification(incident={**DEATH, "abuse_or_neglect": "maybe"}),
            headers=api.headers("business"),
        )
        body = assert_problem(response, 422)
        assert [e["loc"] for e in body["errors"]] == ["incident.abuse_or_neglect"]


class TestTheWholeReview:
    def test_an_expected_death_goes_to_the_review_meeting_then_the_cdop_and_the_ncmd(
        self, api: Api
    ) -> None:
        case = open_cdr(api, who="business")
        cid = case["id"]
        api.ok(cid, "record_cdop_notification", {"notified_on": "2024-03-25"})
        api.ok(
            cid,
            "refer_to_review_meeting",
            {"decided_on": "2024-03-26", "rationale": "Known condition."},
        )
        api.ok(cid, "record_review_meeting", {"held_on": "2024-03-28"})
        review = {
            "reviewed_on": "2024-04-02",
            "category": "chronic_medical_condition",
            "modifiable_factors": "not_identified",
        }
        # Both child death review partners sign the review off first.
        refused = api.fire(cid, "complete_cdop_review", review)
        problem = assert_problem(refused, 409)
        assert problem["missing"] == ["dsp:local_authority", "dsp:health"]
        for who in ("dsp_la", "dsp_health"):
            voted = api.vote(cid, who, gate="cdop_sign_off")
            assert voted.status_code == 200, voted.text
        assert api.vote(cid, "dsp_police", gate="cdop_sign_off").status_code == 403
        api.ok(cid, "complete_cdop_review", review)
        closed = api.ok(cid, "submit_to_ncmd", {"submitted_on": "2024-04-02"})
        assert closed["state"] == "closed"
        clocks = {d["key"]: (d["status"], d["due_on"]) for d in closed["deadlines"]}
        assert clocks == {
            "cdop_notification": ("met", "2024-03-26"),
            "review_meeting_held": ("met", "2024-06-26"),
            "cdop_review_completed": ("met", "2024-06-28"),
            "ncmd_submission": ("met", "2024-04-16"),  # 10 working days after 2 April
        }


class TestReferralOpensALinkedCase:
    def test_the_referral_opens_a_linked_serious_incident_case(
        self, api: Api, directory: Directory, session: Session
    ) -> None:
        cdr = open_cdr(api)
        to_review_meeting(api, cdr)
        response = api.fire(cdr["id"], REFER, referral())
        assert response.status_code == 200, response.text
        source = response.json()
        # The child death review goes on where it was.
        assert source["state"] == "review_meeting"
        reference = source["recorded"][REFER]["opened_case"]
        assert reference == "TW-2024-0002"
        assert reference != cdr["reference"]

        opened = api.get_case(reference)
        assert (opened["workflow"], opened["state"]) == ("cspr", "referred")
        assert opened["referring_agency"] == "child_death_review"
        assert opened["became_aware_on"] == "2024-03-27"
        assert opened["incident"] == {
            "occurred_on": "2024-03-24",
            "outcome": "death",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse", "neglect"],
        }
        assert opened["child"] == cdr["child"]
        assert opened["partner_reference"] == cdr["partner_reference"]
        assert opened["summary"] == "Injuries inconsistent with the account given."
        # Its clocks count from the day the local authority became aware (Wednesday 27 March
        # 2024): +5 working days is Friday 5 April, +15 is Friday 19 April, Good Friday and
        # Easter Monday skipped.
        clocks = {d["key"]: d for d in opened["deadlines"]}
        assert clocks["panel_notification"]["starts_on"] == "2024-03-27"
        assert clocks["panel_notification"]["due_on"] == "2024-04-05"
        assert clocks["panel_notification"]["status"] == "pending"
        assert clocks["rapid_review"]["due_on"] == "2024-04-19"

        # One link, shown from both sides with the other's reference.
        (outgoing,) = links_of(api, cdr["id"])
        assert (outgoing["type"], outgoing["direction"]) == ("child_death_review", "outgoing")
        assert outgoing["case"]["reference"] == reference
        assert outgoing["case"]["state"] == "referred"
        (incoming,) = links_of(api, opened["id"])
        assert (incoming["id"], incoming["direction"]) == (outgoing["id"], "incoming")
        assert incoming["case"]["reference"] == cdr["reference"]
        assert incoming["case"]["state"] == "review_meeting"
        assert incoming["created_by"] == directory.user_ids["TW"]["superuser"]

        # Each audit trail names the other case; both chains hold.
        refer_event = api.events(cdr["id"])[-1]
        assert refer_event["trigger"] == REFER
        assert refer_event["data"]["opened_case"] == reference
        (created,) = api.events(opened["id"])
        assert created["kind"] == "case.created"
        assert created["data"]["opened_from"] == cdr["reference"]
        assert created["actor_id"] == directory.user_ids["TW"]["superuser"]
        assert [(c.reference, broken) for c, broken in chain.verify_all(session)] == [
            (cdr["reference"], None),
            (reference, None),
        ]
        # The new case was announced as any new case is.
        assert outbox(opened["id"].replace("-", "")) == ["case.created"]
        assert outbox(cdr["id"].replace("-", ""))[-1] == "case.transitioned"

    def test_a_death_referred_at_once_opens_the_case_from_the_notified_state(
        self, api: Api
    ) -> None:
        cdr = open_cdr(api, who="business")
        source = api.ok(cdr["id"], REFER, referral(abuse_or_neglect="known", categories=[]))
        opened = api.get_case(source["recorded"][REFER]["opened_case"])
        assert source["state"] == "death_notified"
        assert opened["incident"]["abuse_or_neglect"] == "known"
        # No category given: the source case's (none) stand.
        assert opened["incident"]["categories"] == []


class TestARefusedReferralOpensNothing:
    @pytest.fixture
    def cdr(self, api: Api) -> dict[str, Any]:
        case = open_cdr(api)
        to_review_meeting(api, case)
        return case

    @pytest.mark.parametrize(
        ("data", "loc"),
        [
            ({"became_aware_on": None}, "data.became_aware_on"),
            ({"abuse_or_neglect": "not_suspected"}, "data.abuse_or_neglect"),
            ({"became_aware_on": "2024-03-22"}, "data.became_aware_on"),  # before the death
            ({"became_aware_on": "2024-04-03"}, "data.became_aware_on"),  # tomorrow
            ({"categories": ["bad_luck"]}, "data.categories.0"),
            ({"concerns": None}, "data.concerns"),
        ],
    )
    def test_bad_data(self, api: Api, cdr: dict[str, Any], data: dict[str, Any], loc: str) -> None:
        body = {k: v for k, v in {**referral(), **data}.items() if v is not None}
        before = everything()
        response = api.fire(cdr["id"], REFER, body)
        problem = assert_problem(response, 422)
        assert loc in [e["loc"] for e in problem["errors"]], problem
        assert everything() == before

    @pytest.mark.parametrize("who", ["dsp_police", "qpd", "chair", "referrer"])
    def test_a_role_that_may_not_refer(self, api: Api, cdr: dict[str, Any], who: str) -> None:
        before = everything()
        response = api.fire(cdr["id"], REFER, referral(), who=who)
        # The referrer (police) cannot see a death the health service notified at all.
        assert_problem(response, 404 if who == "referrer" else 403)
        assert everything() == before

    def test_another_partnership(self, api: Api, cdr: dict[str, Any]) -> None:
        before = everything()
        response = api.fire(cdr["id"], REFER, referral(), partnership="OT")
        assert_problem(response, 404)
        assert everything() == before

    def test_a_closed_case(self, api: Api) -> None:
        case = open_cdr(api)
        api.ok(
            case["id"],
            "withdraw",
            {"reason": "reviewed_by_another_area", "rationale": "Resident elsewhere."},
        )
        before = everything()
        response = api.fire(case["id"], REFER, referral())
        problem = assert_problem(response, 409)
        assert problem["state"] == "closed"
        assert everything() == before

    def test_a_second_referral_while_the_first_case_is_linked(
        self, api: Api, cdr: dict[str, Any]
    ) -> None:
        first = api.ok(cdr["id"], REFER, referral())["recorded"][REFER]["opened_case"]
        before = everything()
        response = api.fire(cdr["id"], REFER, referral(abuse_or_neglect="known"))
        problem = assert_problem(response, 409, "/problems/duplicate-link")
        assert problem["linked_case"] == first
        assert everything() == before

    def test_a_case_linked_by_hand_counts_as_the_referral(
        self, api: Api, cdr: dict[str, Any]
    ) -> None:
        # The local authority referred the death itself; the business unit linked the cases.
        existing = api.create_case(
            who="business",
            became_aware_on="2024-03-27",
            incident={**DEATH, "abuse_or_neglect": "known"},
        )
        added = api.client.post(
            f"/api/v1/cases/{existing['id']}/links",
            json={"type": "child_death_review", "target": cdr["reference"]},
            headers=api.headers("business"),
        )
        assert added.status_code == 201, added.text
        before = everything()
        response: httpx.Response = api.fire(cdr["id"], REFER, referral())
        problem = assert_problem(response, 409, "/problems/duplicate-link")
        assert problem["linked_case"] == existing["reference"]
        assert everything() == before


def test_a_child_death_review_case_has_no_rapid_review_submission_pack(api: Api) -> None:
    """The pack is the Panel's rapid review template: offered for a CSPR case, refused (404,
    naming why) for a case of a workflow without a rapid review."""
    death = open_cdr(api)
    refused = api.client.get(
        f"/api/v1/cases/{death['id']}/submission-pack", headers=api.headers("dsp_health")
    )
    problem = assert_problem(refused, 404, "/problems/no-submission-pack")
    assert "no rapid review" in problem["detail"]
    cspr = api.create_case(
        who="chair",
        became_aware_on="2024-03-25",
        incident={**DEATH, "abuse_or_neglect": "suspected"},
    )
    served = api.client.get(
        f"/api/v1/cases/{cspr['id']}/submission-pack", headers=api.headers("chair")
    )
    assert served.status_code == 200
    assert served.text.startswith("#")
