"""Every (state, trigger) pair the workflow does not allow is refused with a 409 that names the
state and what is allowed, and changes nothing; a role that may not fire a trigger gets a 403;
another partnership cannot see the case at all (404).

The pairs come from workflows/cspr.yaml itself, so a new state or trigger is covered without
editing this file (it only needs sample data in SAMPLE_DATA, which a test below insists on).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.factories import PEOPLE, Api, referral, snapshot

WORKFLOW: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "workflows" / "cspr.yaml").read_text(encoding="utf-8")
)
STATES: list[str] = list(WORKFLOW["states"])
TRIGGERS: dict[str, dict[str, Any]] = WORKFLOW["triggers"]
PERSON: dict[str, tuple[frozenset[str], str | None]] = {
    key: (frozenset(roles), agency) for key, roles, agency in PEOPLE
}
# Who may not read the superuser's police referral: the admin holds no case role, and a
# referrer reads only its own agency's referrals (access.policy).
NOT_READERS = ("admin", "referrer_education")
# Who casts a gate party's vote.
PARTY_USER = {
    "dsp:local_authority": "dsp_la",
    "dsp:police": "dsp_police",
    "dsp:health": "dsp_health",
}

# Valid data for every trigger (dates not in the future of the suite's 2026-06-17).
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "notify_panel": {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"},
    "decide_not_notifiable": {
        "rationale": "Not caused by abuse or neglect.",
        "alternative_learning": "none",
    },
    "complete_rapid_review": {
        "completed_on": "2026-06-15",
        "recommendation": "lcspr",
        "criteria": ["a"],
        "rationale": "Criteria met.",
    },
    "withdraw": {"rationale": "Criteria not met after all."},
    "submit_rapid_review": {"submitted_on": "2026-06-16"},
    "record_panel_response": {"received_on": "2026-06-17", "outcome": "agrees_lcspr"},
    "commission_lcspr": {
        "reviewer": "A. Reviewer",
        "methodology": "Systems approach",
        "terms_of_reference_agreed_on": "2026-06-17",
        "scope_from": "2025-06-01",
        "scope_to": "2026-06-08",
    },
    "record_quality_check": {"checked_on": "2026-06-17", "finding": "On track."},
    "record_delay": {"reason": "Records late.", "revised_completion_on": "2027-01-29"},
    "receive_final_report": {"received_on": "2026-06-17", "recommendations": "Five."},
    "schedule_publication": {"planned_publication_on": "2026-06-10"},
    "send_to_panel_and_sos": {"sent_on": "2026-06-01", "planned_publication_on": "2026-06-10"},
    "publish": {"published_on": "2026-06-10", "url": "https://tw-scp.example/reviews/1"},
    "withhold_publication": {"reason": "Proceedings pending.", "improvements_only": False},
    "confirm_non_publication": {
        "rationale": "Would identify siblings.",
        "panel_and_sos_informed_on": "2026-06-15",
    },
    "record_national_review_outcome": {"received_on": "2026-06-17", "summary": "Done."},
    "close": {},
}


def expected_allowed(state: str, who: str) -> list[str]:
    """The triggers `who` may fire from `state`, read straight from the YAML, in file order."""
    roles, agency = PERSON[who]
    allowed = []
    for name, trigger in TRIGGERS.items():
        if state not in trigger["from"]:
            continue
        for spec in trigger["roles"]:
            role, _, only = str(spec).partition(":")
            if role in roles and (not only or only == agency):
                allowed.append(name)
                break
    return allowed


def _edges() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(from, trigger, to, data) for every way out of every state."""
    edges = []
    for name, t in TRIGGERS.items():
        data = SAMPLE_DATA.get(name, {})
        for source in t["from"]:
            if t.get("branches"):
                for branch in t["branches"]:
                    edges.append((source, name, branch["to"], {**data, **branch["when"]}))
            else:
                edges.append((source, name, t.get("to") or source, data))
    return edges


def _routes() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The shortest known route (trigger, data) from the initial state to every state."""
    routes: dict[str, list[tuple[str, dict[str, Any]]]] = {WORKFLOW["initial"]: []}
    queue = deque([WORKFLOW["initial"]])
    edges = _edges()
    while queue:
        state = queue.popleft()
        for source, trigger, to, data in edges:
            if source == state and to not in routes:
                routes[to] = [*routes[state], (trigger, data)]
                queue.append(to)
    return routes


ROUTES = _routes()


def drive_to(api: Api, state: str) -> str:
    """A new TW case in `state`, driven there as the superuser (the DSPs vote where a gate
    guards the way). Returns the case id."""
    # Aware early enough that the report can be sent and published 7 working days later, all
    # before the suite's "now" (event dates may not precede became_aware_on).
    case = api.create_case(
        who="superuser",
        became_aware_on="2026-05-01",
        incident={**referral()["incident"], "occurred_on": "2026-04-29"},
    )
    case_id = case["id"]
    for trigger, data in ROUTES[state]:
        for guard in TRIGGERS[trigger].get("guards", []):
            if isinstance(guard, dict) and guard["name"] == "gate_agreed":
                gate = WORKFLOW["gates"][guard["params"]["gate"]]
                for party in gate["parties"]:
                    response = api.vote(case_id, PARTY_USER[party], gate.get("agree", "agree"))
                    assert response.status_code == 200, response.text
        case = api.ok(case_id, trigger, data, who="superuser")
    assert case["state"] == state
    return case_id


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body


def test_every_state_has_a_route_and_every_trigger_sample_data() -> None:
    assert set(ROUTES) == set(STATES)
    assert set(SAMPLE_DATA) == set(TRIGGERS)


NOT_ALLOWED = [
    (state, trigger)
    for state in STATES
    for trigger in TRIGGERS
    if state not in TRIGGERS[trigger]["from"]
]


@pytest.mark.parametrize(
    ("state", "trigger"), NOT_ALLOWED, ids=[f"{s}-{t}" for s, t in NOT_ALLOWED]
)
def test_trigger_not_allowed_from_state_is_409(api: Api, state: str, trigger: str) -> None:
    case_id = drive_to(api, state)
    before = snapshot(case_id)

    # Valid data, and a caller who holds every case role: only the state can refuse it.
    response = api.fire(case_id, trigger, SAMPLE_DATA[trigger], who="superuser")

    body = _problem(response, 409, "invalid-transition")
    assert body["state"] == state
    assert body["trigger"] == trigger
    assert body["allowed_triggers"] == expected_allowed(state, "superuser")
    assert f"{trigger} is not allowed from {state}" in body["detail"]
    assert snapshot(case_id) == before


@pytest.mark.parametrize("state", STATES)
def test_allowed_triggers_per_state_and_person(api: Api, state: str) -> None:
    case_id = drive_to(api, state)
    for who in PERSON:
        if who in NOT_READERS:
            response = api.client.get(f"/api/v1/cases/{case_id}", headers=api.headers(who))
            _problem(response, 404, "case-not-found")
            continue
        body = api.get_case(case_id, who=who)
        assert body["allowed_triggers"] == expected_allowed(state, who), who
        options = api.client.get(f"/api/v1/cases/{case_id}/transitions", headers=api.headers(who))
        assert options.status_code == 200, options.text
        listed = options.json()
        assert listed["next_cursor"] is None
        assert [o["trigger"] for o in listed["items"]] == expected_allowed(state, who), who


@pytest.mark.parametrize("state", [s for s in STATES if not WORKFLOW["states"][s].get("final")])
def test_role_not_allowed_to_fire_is_403(api: Api, state: str) -> None:
    """Everyone whose roles the trigger does not name gets a 403, for every trigger that is
    allowed from the state; nothing changes."""
    case_id = drive_to(api, state)
    before = snapshot(case_id)
    refused = 0
    for trigger in expected_allowed(state, "superuser"):
        for who in PERSON:
            if trigger in expected_allowed(state, who):
                continue
            response = api.fire(case_id, trigger, SAMPLE_DATA[trigger], who=who)
            if who in NOT_READERS:
                # A case the caller may not read is not there for it: 404, never 403.
                _problem(response, 404, "case-not-found")
                continue
            body = _problem(response, 403, "trigger-forbidden")
            assert body["state"] == state
            assert body["trigger"] == trigger
            assert body["allowed_triggers"] == expected_allowed(state, who)
            for role in TRIGGERS[trigger]["roles"]:
                assert role in body["detail"]
            refused += 1
    assert refused > 0
    assert snapshot(case_id) == before


def test_agency_narrowed_role_is_403_for_another_agency(api: Api) -> None:
    """notify_panel is for dsp:local_authority: the police and health DSPs may not fire it."""
    case_id = drive_to(api, "referred")
    before = snapshot(case_id)
    for who in ("dsp_police", "dsp_health"):
        body = _problem(
            api.fire(case_id, "notify_panel", SAMPLE_DATA["notify_panel"], who=who),
            403,
            "trigger-forbidden",
        )
        assert body["allowed_triggers"] == []
    assert snapshot(case_id) == before
    assert (
        api.ok(case_id, "notify_panel", SAMPLE_DATA["notify_panel"], who="dsp_la")["state"]
        == "rapid_review"
    )


def test_other_partnership_gets_404(api: Api) -> None:
    case_id = drive_to(api, "dsp_decision")
    reference = api.get_case(case_id)["reference"]
    before = snapshot(case_id)
    for who in ("superuser", "chair", "dsp_la", "scrutineer"):
        headers = api.headers(who, "OT")
        for key in (case_id, reference):
            responses = [
                api.client.get(f"/api/v1/cases/{key}", headers=headers),
                api.client.get(f"/api/v1/cases/{key}/events", headers=headers),
                api.client.get(f"/api/v1/cases/{key}/transitions", headers=headers),
                api.fire(
                    key,
                    "submit_rapid_review",
                    SAMPLE_DATA["submit_rapid_review"],
                    who=who,
                    partnership="OT",
                ),
                api.client.post(
                    f"/api/v1/cases/{key}/approvals/dsp_joint_decision",
                    json={"decision": "agree", "rationale": "x"},
                    headers=headers,
                ),
            ]
            for response in responses:
                body = _problem(response, 404, "case-not-found")
                # Nothing about the case: no state, no triggers, not even its reference.
                assert "state" not in body
                assert "allowed_triggers" not in body
                assert reference not in body["detail"]
                assert case_id not in body["detail"]
        listed = api.client.get("/api/v1/cases", headers=headers)
        assert listed.status_code == 200
        assert listed.json()["items"] == []
    assert snapshot(case_id) == before
