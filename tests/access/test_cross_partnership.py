"""Another partnership's case is not there: every attempt to reach it (by id, by reference, or
by a guess) is a 404 that changes nothing and is recorded in the access log as denied."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.factories import PEOPLE, Api, Directory, access_events, assert_problem, snapshot, stored

NOTIFY = {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}
COMPLETE = {
    "completed_on": "2026-06-15",
    "recommendation": "lcspr",
    "criteria": ["a"],
    "rationale": "Criteria met.",
}


def attempts(api: Api, who: str, key: str) -> dict[str, httpx.Response]:
    """Everything an OT user could try on a case named `key`."""
    headers = api.headers(who, "OT")
    base = f"/api/v1/cases/{key}"
    return {
        "read": api.client.get(base, headers=headers),
        "events": api.client.get(f"{base}/events", headers=headers),
        "deadlines": api.client.get(f"{base}/deadlines", headers=headers),
        "transitions": api.client.get(f"{base}/transitions", headers=headers),
        "access": api.client.get(f"{base}/access", headers=headers),
        "transition": api.client.post(
            f"{base}/transitions",
            json={"trigger": "submit_rapid_review", "data": {"submitted_on": "2026-06-16"}},
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
            headers=headers,
        ),
    }


@pytest.fixture
def tw_case(api: Api) -> dict[str, Any]:
    """A TW case at the DSPs' joint decision: every kind of attempt has something to hit."""
    case = api.create_case(who="chair")
    api.ok(case["id"], "notify_panel", NOTIFY)
    api.ok(case["id"], "complete_rapid_review", COMPLETE)
    return api.get_case(case["id"])


@pytest.mark.parametrize("who", [key for key, _, _ in PEOPLE])
def test_every_attempt_on_another_partnerships_case_is_404_and_audited_as_denied(
    api: Api, directory: Directory, tw_case: dict[str, Any], who: str
) -> None:
    before = (stored(), snapshot(tw_case["id"]))
    user_id = directory.user_ids["OT"][who]
    # By id, by reference (as written, and in lower case): all name the same real case.
    for key in (tw_case["id"], tw_case["reference"], tw_case["reference"].lower()):
        for action, response in attempts(api, who, key).items():
            problem = assert_problem(response, 404, "/problems/case-not-found")
            assert tw_case["reference"] not in problem["detail"], action
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert row["actor_id"] == user_id
            assert row["outcome"] == "denied", action
            assert row["status"] == 404
            assert row["case_id"] == tw_case["id"], (action, key)
            assert row["path"] == response.request.url.path
    assert (stored(), snapshot(tw_case["id"])) == before


def test_guessed_ids_and_references_are_404_and_audited_as_denied(
    api: Api, directory: Directory, tw_case: dict[str, Any]
) -> None:
    before = stored()
    guessed_id = str(uuid.uuid4())
    next_reference = tw_case["reference"][:-4] + "0002"  # the next in TW's series: none yet
    guesses = {
        guessed_id: guessed_id,  # an id is recorded as named, whether or not a case has it
        next_reference: None,
        "OT-2026-0001": None,
        "not-a-reference": None,
        "x" * 300: None,
    }
    for key, recorded in guesses.items():
        for response in attempts(api, "chair", key).values():
            assert_problem(response, 404, "/problems/case-not-found")
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert (row["actor_id"], row["outcome"], row["case_id"]) == (
                directory.user_ids["OT"]["chair"],
                "denied",
                recorded,
            )
            assert len(row["path"]) <= 300
    assert stored() == before


def test_listings_never_show_another_partnerships_case(
    api: Api, directory: Directory, tw_case: dict[str, Any]
) -> None:
    ot_case = api.create_case(who="chair", partnership="OT")
    queries = (
        "",
        "?limit=500",
        "?q=POL-2026-118",  # TW's case carries this partner reference (so does OT's)
        "?agency=police",
        "?state=dsp_decision",
        "?breached=false",
    )
    for who, _, _ in PEOPLE:
        for query in queries:
            response = api.client.get(f"/api/v1/cases{query}", headers=api.headers(who, "OT"))
            assert response.status_code == 200, response.text
            ids = {item["id"] for item in response.json()["items"]}
            assert tw_case["id"] not in ids, (who, query)
            assert ids <= {ot_case["id"]}, (who, query)
            # A listing reaches for no case in particular: allowed, naming none.
            (row,) = access_events(request_id=response.headers["x-request-id"])
            assert (row["action"], row["outcome"], row["case_id"], row["path"]) == (
                "case.list",
                "allowed",
                None,
                "/api/v1/cases",  # the query string is not kept: it may carry a reference
            )
            assert row["actor_id"] == directory.user_ids["OT"][who]


def test_the_owning_partnership_sees_the_denied_attempts_on_its_case(
    api: Api, directory: Directory, tw_case: dict[str, Any]
) -> None:
    api.client.get(f"/api/v1/cases/{tw_case['id']}", headers=api.headers("chair", "OT"))
    api.client.get(
        f"/api/v1/cases/{tw_case['reference']}/events", headers=api.headers("superuser", "OT")
    )
    response = api.client.get(
        f"/api/v1/cases/{tw_case['id']}/access?limit=500", headers=api.headers("scrutineer")
    )
    assert response.status_code == 200, response.text
    denied = [e for e in response.json()["items"] if e["outcome"] == "denied"]
    # (The suite's clock stands still, so both have the same time: compare without order.)
    assert sorted((e["actor_id"], e["action"], e["status"]) for e in denied) == sorted(
        [
            (directory.user_ids["OT"]["superuser"], "case.events", 404),
            (directory.user_ids["OT"]["chair"], "case.read", 404),
        ]
    )
