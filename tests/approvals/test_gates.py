"""Approval gates: the DSPs' joint decision (it guards submit_rapid_review) and the advisory
notification decision (it records views but blocks nothing)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from cspr_engine.approvals import service as approvals_service
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.workflow import service as workflow_service
from tests.factories import Api, Directory, snapshot

GATE = "dsp_joint_decision"
PARTIES = ["dsp:local_authority", "dsp:police", "dsp:health"]
PARTY_OF = {"dsp_la": PARTIES[0], "dsp_police": PARTIES[1], "dsp_health": PARTIES[2]}
AGENCY_OF = {"dsp_la": "local_authority", "dsp_police": "police", "dsp_health": "health"}
SUBMIT = {"submitted_on": "2026-06-16"}


def in_rapid_review(api: Api) -> str:
    case_id = api.create_case(who="chair")["id"]
    api.ok(case_id, "notify_panel", {"notified_on": "2026-06-11"}, who="business")
    return case_id


def in_dsp_decision(api: Api) -> str:
    case_id = in_rapid_review(api)
    api.ok(
        case_id,
        "complete_rapid_review",
        {
            "completed_on": "2026-06-15",
            "recommendation": "lcspr",
            "criteria": ["a", "b"],
            "rationale": "Reg 11 criteria met.",
        },
        who="chair",
    )
    return case_id


def voted(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body


def latest_votes(gate: dict[str, Any]) -> dict[str, tuple[str, str | None, str]]:
    return {v["party"]: (v["decision"], v["agency"], v["decided_on"]) for v in gate["votes"]}


def test_each_dsp_agency_votes_and_the_gate_agrees(api: Api, directory: Directory) -> None:
    case_id = in_dsp_decision(api)
    users = directory.user_ids["TW"]
    entered = api.get_case(case_id)["approvals"][GATE]
    assert entered["status"] == "open"
    assert entered["parties"] == PARTIES
    assert entered["missing"] == PARTIES
    assert entered["votes"] == []
    assert entered["agreed_on"] is None
    assert entered["advisory"] is False

    for n, who in enumerate(("dsp_health", "dsp_la", "dsp_police"), start=1):
        gate = voted(api.vote(case_id, who, "agree", decided_on="2026-06-16"))
        assert gate["gate"] == GATE
        assert gate["round"] == entered["round"]
        assert len(gate["votes"]) == n
        vote = next(v for v in gate["votes"] if v["party"] == PARTY_OF[who])
        assert vote["agency"] == AGENCY_OF[who]
        assert vote["decision"] == "agree"
        assert vote["rationale"] == f"{who} rationale"
        assert vote["user_id"] == users[who]
        assert PARTY_OF[who] not in gate["missing"]
        assert gate["status"] == ("agreed" if n == 3 else "open")
        assert gate["agreed_on"] == ("2026-06-16" if n == 3 else None)

    events = [e for e in api.events(case_id) if e["kind"].startswith("approval.")]
    assert [(e["kind"], e["actor_id"], e["data"]["party"]) for e in events] == [
        ("approval.voted", users[w], PARTY_OF[w]) for w in ("dsp_health", "dsp_la", "dsp_police")
    ]
    assert all(e["from_state"] == e["to_state"] == "dsp_decision" for e in events)
    # Votes do not move the case; the gate now lets the submission through.
    assert api.get_case(case_id)["state"] == "dsp_decision"
    assert api.ok(case_id, "submit_rapid_review", SUBMIT, who="business")["state"] == (
        "awaiting_panel_response"
    )


@pytest.mark.parametrize("who", ["chair", "business", "lsp_la", "referrer", "scrutineer", "qpd"])
def test_a_non_party_may_not_vote(api: Api, who: str) -> None:
    case_id = in_dsp_decision(api)
    before = snapshot(case_id)
    body = problem(api.vote(case_id, who, "agree"), 403, "not-a-gate-party")
    assert body["gate"] == GATE
    for party in PARTIES:
        assert party in body["detail"]
    assert snapshot(case_id) == before
    assert api.get_case(case_id)["approvals"][GATE]["votes"] == []


@pytest.mark.parametrize("state", ["referred", "rapid_review", "awaiting_panel_response", "closed"])
def test_voting_while_the_gate_is_closed_is_409(api: Api, state: str) -> None:
    if state == "referred":
        case_id = api.create_case(who="chair")["id"]
    elif state == "rapid_review":
        case_id = in_rapid_review(api)
    elif state == "awaiting_panel_response":
        case_id = in_dsp_decision(api)
        for who in PARTY_OF:
            voted(api.vote(case_id, who))
        api.ok(case_id, "submit_rapid_review", SUBMIT, who="business")
    else:
        case_id = in_rapid_review(api)
        api.ok(case_id, "withdraw", {"rationale": "Not met."}, who="chair")
    before = snapshot(case_id)
    body = problem(api.vote(case_id, "dsp_police", "agree"), 409, "gate-closed")
    assert body["state"] == state
    assert body["gate"] == GATE
    assert "dsp_decision" in body["detail"]
    assert snapshot(case_id) == before


def test_unknown_gate_is_404(api: Api) -> None:
    case_id = in_dsp_decision(api)
    before = snapshot(case_id)
    body = problem(
        api.vote(case_id, "dsp_la", "agree", gate="dsp_joint_decisoin"), 404, "gate-not-found"
    )
    assert body["known_gates"] == ["dsp_joint_decision", "notification_decision"]
    assert "dsp_joint_decisoin" in body["detail"]
    assert snapshot(case_id) == before


def test_a_vote_can_be_changed_until_the_gate_closes(api: Api, directory: Directory) -> None:
    case_id = in_dsp_decision(api)
    voted(api.vote(case_id, "dsp_la", "agree", decided_on="2026-06-15"))
    voted(api.vote(case_id, "dsp_health", "agree", decided_on="2026-06-15"))
    gate = voted(api.vote(case_id, "dsp_police", "disagree", decided_on="2026-06-15"))
    assert gate["status"] == "disputed"
    gate = voted(api.vote(case_id, "dsp_police", "agree", decided_on="2026-06-16"))
    # The latest vote counts: one current vote per party.
    assert gate["status"] == "agreed"
    assert len(gate["votes"]) == 3
    assert latest_votes(gate)["dsp:police"] == ("agree", "police", "2026-06-16")
    gate = voted(api.vote(case_id, "dsp_la", "disagree", decided_on="2026-06-16"))
    assert gate["status"] == "disputed"
    assert gate["agreed_on"] is None
    gate = voted(api.vote(case_id, "dsp_la", "agree", decided_on="2026-06-16"))
    assert gate["status"] == "agreed"

    api.ok(case_id, "submit_rapid_review", SUBMIT, who="business")
    closed = api.get_case(case_id)["approvals"][GATE]
    assert closed["status"] == "closed"
    assert closed["agreed_on"] == "2026-06-16"
    # ... and once it has closed, no one may change theirs.
    before = snapshot(case_id)
    problem(api.vote(case_id, "dsp_police", "disagree"), 409, "gate-closed")
    assert snapshot(case_id) == before

    # Every vote is kept, in the audit and in the votes table.
    users = directory.user_ids["TW"]
    trail = [
        (e["kind"], e["actor_id"], e["data"]["decision"])
        for e in api.events(case_id)
        if e["kind"].startswith("approval.")
    ]
    assert trail == [
        ("approval.voted", users["dsp_la"], "agree"),
        ("approval.voted", users["dsp_health"], "agree"),
        ("approval.disputed", users["dsp_police"], "disagree"),
        ("approval.voted", users["dsp_police"], "agree"),
        ("approval.disputed", users["dsp_la"], "disagree"),
        ("approval.voted", users["dsp_la"], "agree"),
    ]
    assert [(v["party"], v["decision"]) for v in before["votes"]] == [
        ("dsp:local_authority", "agree"),
        ("dsp:health", "agree"),
        ("dsp:police", "disagree"),
        ("dsp:police", "agree"),
        ("dsp:local_authority", "disagree"),
        ("dsp:local_authority", "agree"),
    ]


def test_a_disagreement_is_audited_and_blocks_submission(api: Api, directory: Directory) -> None:
    case_id = in_dsp_decision(api)
    voted(api.vote(case_id, "dsp_la", "agree"))
    voted(api.vote(case_id, "dsp_police", "agree"))
    gate = voted(
        api.vote(case_id, "dsp_health", "disagree", rationale="Learning is single-agency.")
    )
    assert gate["status"] == "disputed"
    assert gate["missing"] == []
    assert gate["agreed_on"] is None

    disputed = [e for e in api.events(case_id) if e["kind"] == "approval.disputed"]
    assert len(disputed) == 1
    assert disputed[0]["actor_id"] == directory.user_ids["TW"]["dsp_health"]
    assert disputed[0]["data"] == {
        "gate": GATE,
        "party": "dsp:health",
        "decision": "disagree",
        "rationale": "Learning is single-agency.",
        "decided_on": "2026-06-17",
    }

    before = snapshot(case_id)
    for who in ("business", "chair"):
        body = problem(
            api.fire(case_id, "submit_rapid_review", SUBMIT, who=who), 409, "guard-rejected"
        )
        assert body["guard"] == "gate_agreed"
        assert body["gate"] == GATE
        assert body["state"] == "dsp_decision"
        assert body["disagreeing"] == ["dsp:health"]
        assert body["missing"] == []
        assert "disagreement from dsp:health" in body["detail"]
    assert snapshot(case_id) == before

    # The health DSP changes its mind: the submission goes through.
    voted(api.vote(case_id, "dsp_health", "agree"))
    assert api.ok(case_id, "submit_rapid_review", SUBMIT, who="chair")["state"] == (
        "awaiting_panel_response"
    )


def test_submission_names_the_parties_yet_to_agree(api: Api) -> None:
    case_id = in_dsp_decision(api)
    voted(api.vote(case_id, "dsp_police", "agree"))
    body = problem(
        api.fire(case_id, "submit_rapid_review", SUBMIT, who="business"), 409, "guard-rejected"
    )
    assert body["missing"] == ["dsp:local_authority", "dsp:health"]
    assert body["disagreeing"] == []
    assert "dsp:local_authority" in body["detail"]
    assert "dsp:health" in body["detail"]


def test_agreed_on_is_the_latest_decided_on_of_the_agreements(api: Api) -> None:
    case_id = in_dsp_decision(api)
    voted(api.vote(case_id, "dsp_la", "agree", decided_on="2026-06-12"))
    voted(api.vote(case_id, "dsp_police", "agree", decided_on="2026-06-16"))
    gate = voted(api.vote(case_id, "dsp_health", "agree", decided_on="2026-06-15"))
    assert gate["status"] == "agreed"
    assert gate["agreed_on"] == "2026-06-16"
    assert latest_votes(gate) == {
        "dsp:local_authority": ("agree", "local_authority", "2026-06-12"),
        "dsp:police": ("agree", "police", "2026-06-16"),
        "dsp:health": ("agree", "health", "2026-06-15"),
    }
    # A changed vote counts with its own date (earlier or later).
    gate = voted(api.vote(case_id, "dsp_police", "agree", decided_on="2026-06-11"))
    assert gate["agreed_on"] == "2026-06-15"
    # With no decided_on, a vote is dated today (17 June 2026).
    gate = voted(api.vote(case_id, "dsp_la", "agree"))
    assert latest_votes(gate)["dsp:local_authority"][2] == "2026-06-17"
    assert gate["agreed_on"] == "2026-06-17"
    assert api.get_case(case_id)["approvals"][GATE]["agreed_on"] == "2026-06-17"


@pytest.mark.parametrize("decided_on", ["2026-06-18", "2027-01-01"])
def test_decided_on_in_the_future_is_422(api: Api, decided_on: str) -> None:
    case_id = in_dsp_decision(api)
    before = snapshot(case_id)
    body = problem(api.vote(case_id, "dsp_la", "agree", decided_on=decided_on), 422, "invalid-data")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [("decided_on", "future_date")]
    assert snapshot(case_id) == before


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "abstain", "rationale": "x"},
        {"decision": "agree"},
        {"decision": "agree", "rationale": "x", "decided_on": "17/06/2026"},
        {"decision": "agree", "rationale": "x", "party": "dsp:police"},
    ],
    ids=["unknown-decision", "no-rationale", "bad-date", "unknown-field"],
)
def test_an_invalid_vote_is_422(api: Api, body: dict[str, Any]) -> None:
    case_id = in_dsp_decision(api)
    before = snapshot(case_id)
    response = api.client.post(
        f"/api/v1/cases/{case_id}/approvals/{GATE}", json=body, headers=api.headers("dsp_la")
    )
    problem(response, 422, "invalid-data")
    assert snapshot(case_id) == before


def test_the_case_shows_each_agencys_vote_and_the_gate_status(api: Api) -> None:
    case_id = api.create_case(who="chair")["id"]
    assert api.get_case(case_id)["approvals"][GATE]["status"] == "not_open"
    api.ok(case_id, "notify_panel", {"notified_on": "2026-06-11"}, who="business")
    assert api.get_case(case_id)["approvals"][GATE]["status"] == "not_open"
    api.ok(
        case_id,
        "complete_rapid_review",
        {"completed_on": "2026-06-15", "recommendation": "no_lcspr", "rationale": "No."},
        who="chair",
    )

    voted(api.vote(case_id, "dsp_la", "agree", decided_on="2026-06-16"))
    voted(api.vote(case_id, "dsp_police", "disagree", decided_on="2026-06-16"))
    # Every reader of the case sees the same standing.
    for reader in ("chair", "scrutineer", "dsp_health", "lsp_la"):
        gate = api.get_case(case_id, who=reader)["approvals"][GATE]
        assert gate["status"] == "disputed"
        assert gate["missing"] == ["dsp:health"]
        assert latest_votes(gate) == {
            "dsp:local_authority": ("agree", "local_authority", "2026-06-16"),
            "dsp:police": ("disagree", "police", "2026-06-16"),
        }
        assert {v["rationale"] for v in gate["votes"]} == {
            "dsp_la rationale",
            "dsp_police rationale",
        }

    voted(api.vote(case_id, "dsp_police", "agree", decided_on="2026-06-17"))
    gate = api.get_case(case_id)["approvals"][GATE]
    assert gate["status"] == "open"
    assert gate["missing"] == ["dsp:health"]
    voted(api.vote(case_id, "dsp_health", "agree", decided_on="2026-06-17"))
    gate = api.get_case(case_id)["approvals"][GATE]
    assert gate["status"] == "agreed"
    assert gate["agreed_on"] == "2026-06-17"
    assert gate["missing"] == []


def test_the_panel_asking_for_more_reopens_the_gate(api: Api) -> None:
    case_id = in_dsp_decision(api)
    first = api.get_case(case_id)["approvals"][GATE]["round"]
    for who in PARTY_OF:
        voted(api.vote(case_id, who, decided_on="2026-06-15"))
    api.ok(case_id, "submit_rapid_review", SUBMIT, who="business")
    after = api.ok(
        case_id,
        "record_panel_response",
        {"received_on": "2026-06-17", "outcome": "further_information_requested"},
        who="business",
    )
    assert after["state"] == "rapid_review"
    assert after["approvals"][GATE]["status"] == "closed"
    problem(api.vote(case_id, "dsp_la"), 409, "gate-closed")
    again = api.ok(
        case_id,
        "complete_rapid_review",
        {"completed_on": "2026-06-17", "recommendation": "no_lcspr", "rationale": "More info."},
        who="chair",
    )
    gate = again["approvals"][GATE]
    assert gate["status"] == "open"
    assert gate["round"] != first
    assert gate["votes"] == []
    assert gate["missing"] == PARTIES
    assert gate["agreed_on"] is None
    problem(api.fire(case_id, "submit_rapid_review", SUBMIT, who="business"), 409, "guard-rejected")
    # The first round's votes are still in the record.
    assert len(snapshot(case_id)["votes"]) == 3


def test_the_advisory_notification_gate_records_votes_but_blocks_nothing(
    api: Api, directory: Directory
) -> None:
    case_id = api.create_case(who="chair")["id"]
    gate = api.get_case(case_id)["approvals"]["notification_decision"]
    assert gate["advisory"] is True
    assert gate["status"] == "open"
    assert gate["missing"] == PARTIES

    gate = voted(api.vote(case_id, "dsp_la", "agree", gate="notification_decision"))
    assert latest_votes(gate) == {"dsp:local_authority": ("agree", "local_authority", "2026-06-17")}
    gate = voted(api.vote(case_id, "dsp_police", "disagree", gate="notification_decision"))
    assert gate["status"] == "disputed"
    assert gate["missing"] == ["dsp:health"]
    # A disputed advisory gate does not take notify_panel off the list.
    assert api.get_case(case_id)["allowed_triggers"] == ["notify_panel", "decide_not_notifiable"]

    # Not agreed (one disagrees, one has not voted), yet the local authority may notify.
    after = api.ok(case_id, "notify_panel", {"notified_on": "2026-06-12"}, who="business")
    assert after["state"] == "rapid_review"
    closed = after["approvals"]["notification_decision"]
    assert closed["status"] == "closed"
    assert latest_votes(closed) == {
        "dsp:local_authority": ("agree", "local_authority", "2026-06-17"),
        "dsp:police": ("disagree", "police", "2026-06-17"),
    }
    problem(api.vote(case_id, "dsp_health", gate="notification_decision"), 409, "gate-closed")
    users = directory.user_ids["TW"]
    trail = [
        (e["kind"], e["actor_id"], e["data"].get("gate"))
        for e in api.events(case_id)
        if e["kind"].startswith("approval.")
    ]
    # The advisory gate names no one to escalate to: a disagreement is a recorded view, not a
    # dispute for the LSPs.
    assert trail == [
        ("approval.voted", users["dsp_la"], "notification_decision"),
        ("approval.voted", users["dsp_police"], "notification_decision"),
    ]
    # The DSP gate was untouched by the advisory votes.
    assert after["approvals"][GATE]["votes"] == []


def test_the_advisory_gate_is_no_bar_with_no_votes_at_all(api: Api) -> None:
    case_id = api.create_case(who="chair")["id"]
    after = api.ok(case_id, "notify_panel", {"notified_on": "2026-06-12"}, who="dsp_la")
    assert after["state"] == "rapid_review"
    assert after["approvals"]["notification_decision"]["status"] == "not_open"


def test_a_decision_cannot_predate_the_awareness_of_the_incident(api: Api) -> None:
    case_id = in_dsp_decision(api)
    became_aware_on = api.get_case(case_id)["became_aware_on"]
    before = snapshot(case_id)
    response = api.vote(case_id, "dsp_la", "agree", decided_on="1990-01-01")
    body = problem(response, 422, "invalid-data")
    assert body["errors"] == [
        {
            "loc": "decided_on",
            "message": f"cannot be before became_aware_on ({became_aware_on})",
            "type": "date_order",
        }
    ]
    assert snapshot(case_id) == before


def test_a_dsp_cannot_vote_for_another_agency(api: Api) -> None:
    # The party is the voter's own agency; a body that names another one is refused outright.
    case_id = in_dsp_decision(api)
    before = snapshot(case_id)
    response = api.client.post(
        f"/api/v1/cases/{case_id}/approvals/dsp_joint_decision",
        json={"decision": "agree", "rationale": "For health too.", "agency": "health"},
        headers=api.headers("dsp_police"),
    )
    body = problem(response, 422, "invalid-data")
    assert [e["loc"] for e in body["errors"]] == ["agency"]
    assert snapshot(case_id) == before
    # Voting as itself records the police, never the health, DSP.
    gate = voted(api.vote(case_id, "dsp_police", "agree"))
    assert latest_votes(gate).keys() == {"dsp:police"}
    assert "dsp:health" in gate["missing"]


def test_the_case_answer_reads_every_gate_as_each_gate_alone_reads_it(api: Api) -> None:
    """approvals.service.gate_reads (one query for the rounds, one for the votes, for a case
    answer) gives what gate_read gives gate by gate: in the gate's state, after it closed with
    votes, in a second round, and for a gate never opened."""

    def compare(case_id: str) -> dict[str, Any]:
        with Session(get_engine()) as session:
            case = session.get(Case, uuid.UUID(case_id))
            assert case is not None
            gates = workflow_service.definition_for(case).gates.values()
            together = approvals_service.gate_reads(session, case, gates)
            alone = {g.name: approvals_service.gate_read(session, case, g) for g in gates}
        assert together == alone
        return {name: read.status for name, read in together.items()}

    fresh = api.create_case(who="chair")["id"]
    assert compare(fresh)["dsp_joint_decision"] == "not_open"
    case_id = in_dsp_decision(api)
    voted(api.vote(case_id, "dsp_police", decided_on="2026-06-15"))
    voted(api.vote(case_id, "dsp_la", decision="disagree", decided_on="2026-06-15"))
    assert compare(case_id)[GATE] == "disputed"
    for who in PARTY_OF:
        voted(api.vote(case_id, who, decided_on="2026-06-15"))
    assert compare(case_id)[GATE] == "agreed"
    api.ok(case_id, "submit_rapid_review", SUBMIT, who="business")
    assert compare(case_id)[GATE] == "closed"
    api.ok(
        case_id,
        "record_panel_response",
        {"received_on": "2026-06-17", "outcome": "further_information_requested"},
        who="business",
    )
    api.ok(
        case_id,
        "complete_rapid_review",
        {"completed_on": "2026-06-17", "recommendation": "no_lcspr", "rationale": "More info."},
        who="chair",
    )
    voted(api.vote(case_id, "dsp_health", decided_on="2026-06-17"))
    assert compare(case_id)[GATE] == "open"
