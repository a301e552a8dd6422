"""ETag and If-Match, Idempotency-Key, and the case list (filters, cursor pagination, reference
look-up)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import Api, assert_problem, referral, snapshot

CASES = "/api/v1/cases"
NOTIFY = {"notified_on": "2026-06-12"}
RAPID_REVIEW = {
    "completed_on": "2026-06-15",
    "recommendation": "no_lcspr",
    "rationale": "Single-agency learning only.",
}


def transitions(case_id: str) -> str:
    return f"{CASES}/{case_id}/transitions"


def fire_body(trigger: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": trigger, "data": data}


# -- ETag ---------------------------------------------------------------------------------------


def test_etag_is_the_version_on_create_read_and_transition(api: Api) -> None:
    created = api.client.post(CASES, json=referral(), headers=api.headers("chair"))
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["version"] == 1
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/api/v1/cases/{case['id']}"

    read = api.client.get(f"{CASES}/{case['id']}", headers=api.headers("chair"))
    assert read.headers["etag"] == '"1"'
    assert read.json()["version"] == 1

    fired = api.fire(case["id"], "notify_panel", NOTIFY)
    assert fired.status_code == 200, fired.text
    assert fired.headers["etag"] == '"2"'
    assert fired.json()["version"] == 2

    fired = api.fire(case["id"], "complete_rapid_review", RAPID_REVIEW)
    assert fired.headers["etag"] == '"3"'
    for key in (case["id"], case["reference"]):
        read = api.client.get(f"{CASES}/{key}", headers=api.headers("scrutineer"))
        assert read.headers["etag"] == '"3"'
        assert read.json()["version"] == 3


def test_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    case_id = api.create_case()["id"]
    api.ok(case_id, "notify_panel", NOTIFY)
    before = snapshot(case_id)
    response = api.fire(case_id, "complete_rapid_review", RAPID_REVIEW, **{"If-Match": '"1"'})
    problem = assert_problem(response, 412, "/problems/stale-version")
    assert problem["current_version"] == 2
    assert problem["case_id"] == case_id
    assert problem["detail"] == "If-Match names version 1; the case is at version 2."
    assert "etag" not in response.headers
    assert snapshot(case_id) == before


def test_if_match_from_the_future_is_412(api: Api) -> None:
    case_id = api.create_case()["id"]
    before = snapshot(case_id)
    response = api.fire(case_id, "notify_panel", NOTIFY, **{"If-Match": '"2"'})
    problem = assert_problem(response, 412, "/problems/stale-version")
    assert problem["current_version"] == 1
    assert snapshot(case_id) == before


@pytest.mark.parametrize("if_match", ['"2"', "*", " * ", "2", ' "2" '])
def test_current_if_match_is_accepted(api: Api, if_match: str) -> None:
    case_id = api.create_case()["id"]
    api.ok(case_id, "notify_panel", NOTIFY)
    response = api.fire(case_id, "complete_rapid_review", RAPID_REVIEW, **{"If-Match": if_match})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "dsp_decision"
    assert response.headers["etag"] == '"3"'


@pytest.mark.parametrize("if_match", ['W/"2"', 'W/"2", W/"1"', ' W/"2" '])
def test_a_weak_etag_never_matches_if_match(api: Api, if_match: str) -> None:
    """If-Match compares strongly (RFC 9110 13.1.1): a weak tag, even of the current version,
    is a precondition that fails, and nothing changes."""
    case_id = api.create_case()["id"]
    api.ok(case_id, "notify_panel", NOTIFY)
    before = snapshot(case_id)
    response = api.fire(case_id, "complete_rapid_review", RAPID_REVIEW, **{"If-Match": if_match})
    problem = assert_problem(response, 412, "/problems/stale-version")
    assert problem["current_version"] == 2
    assert problem["detail"] == (
        "If-Match names only weak ETags (W/...), which never match a write's precondition; "
        'send the ETag as it was given, e.g. "2". The case is at version 2.'
    )
    assert snapshot(case_id) == before


def test_if_match_star_on_a_moved_case_still_fires(api: Api) -> None:
    case_id = api.create_case()["id"]
    api.ok(case_id, "notify_panel", NOTIFY)
    api.ok(case_id, "complete_rapid_review", RAPID_REVIEW)
    response = api.fire(case_id, "submit_rapid_review", {"submitted_on": "2026-06-16"})
    # `*` never makes a write stale; what refuses this one is the gate, not the precondition.
    assert_problem(response, 409, "/problems/guard-rejected")


@pytest.mark.parametrize(
    "if_match",
    [
        "garbage",
        '"abc"',
        '""',
        "W/",
        '"-1"',
        '"1.0"',
        '"1234567890123"',
        'W/"two"',
        "**",
        '"2" junk',
    ],
)
def test_malformed_if_match_is_422(api: Api, if_match: str) -> None:
    case_id = api.create_case()["id"]
    before = snapshot(case_id)
    response = api.fire(case_id, "notify_panel", NOTIFY, **{"If-Match": if_match})
    problem = assert_problem(response, 422, "/problems/invalid-data")
    assert problem["errors"] == [
        {"loc": "header.If-Match", "message": 'must be an ETag such as "4"', "type": "etag"}
    ]
    assert snapshot(case_id) == before


def test_a_vote_moves_the_etag_too(api: Api) -> None:
    case_id = api.create_case()["id"]
    response = api.vote(case_id, "dsp_police", gate="notification_decision")
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    # The old ETag is stale now, for transitions as for votes.
    stale = api.fire(case_id, "notify_panel", NOTIFY, **{"If-Match": '"1"'})
    assert_problem(stale, 412, "/problems/stale-version")
    assert api.fire(case_id, "notify_panel", NOTIFY, **{"If-Match": '"2"'}).status_code == 200


# -- Idempotency-Key on POST /cases -------------------------------------------------------------


def post_case(
    api: Api, key: str | None, who: str = "chair", partnership: str = "TW", **body: Any
) -> httpx.Response:
    headers = api.headers(who, partnership)
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post(CASES, json=referral(**body), headers=headers)


def case_count() -> int:
    from sqlalchemy import text

    from cspr_engine.db import get_engine

    with get_engine().connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM cases")).scalar_one())


def test_create_replay_returns_the_first_response(api: Api) -> None:
    first = post_case(api, "referral-0001")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    before = snapshot(first.json()["id"])

    again = post_case(api, "referral-0001")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert case_count() == 1
    assert snapshot(first.json()["id"]) == before


def test_create_replay_matches_the_body_by_meaning_not_bytes(api: Api) -> None:
    first = post_case(api, "k")
    body = referral()
    # The same referral: keys in another order, the default workflow spelled out, spaces.
    reordered = {"workflow": "cspr", **dict(reversed(list(body.items())))}
    raw = json.dumps(reordered, indent=4).encode()
    headers = api.headers("chair", **{"Idempotency-Key": "k", "Content-Type": "application/json"})
    again = api.client.post(CASES, content=raw, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert case_count() == 1


def test_create_replay_after_the_case_moved_on_is_still_the_first_response(api: Api) -> None:
    first = post_case(api, "k")
    api.ok(first.json()["id"], "notify_panel", NOTIFY)
    again = post_case(api, "k")
    assert again.json() == first.json()
    assert again.json()["state"] == "referred"
    assert again.headers["etag"] == '"1"'
    assert case_count() == 1


def test_same_key_with_another_body_is_422(api: Api) -> None:
    first = post_case(api, "k")
    before = snapshot(first.json()["id"])
    response = post_case(api, "k", summary="A different incident.")
    problem = assert_problem(response, 422, "/problems/idempotency-key-reused")
    assert problem["detail"] == (
        "This Idempotency-Key was first used with a different request body."
    )
    assert "A different incident." not in response.text
    assert snapshot(first.json()["id"]) == before
    assert case_count() == 1


def test_keys_belong_to_their_caller(api: Api) -> None:
    mine = post_case(api, "shared-key")
    colleague = post_case(api, "shared-key", who="business")
    elsewhere = post_case(api, "shared-key", partnership="OT")
    for response in (colleague, elsewhere):
        assert response.status_code == 201, response.text
        assert "idempotent-replayed" not in response.headers
    references = [r.json()["reference"] for r in (mine, colleague, elsewhere)]
    assert references == ["TW-2026-0001", "TW-2026-0002", "OT-2026-0001"]
    assert len({r.json()["id"] for r in (mine, colleague, elsewhere)}) == 3
    assert case_count() == 3


def test_a_refused_request_does_not_use_up_its_key(api: Api) -> None:
    refused = post_case(api, "k", became_aware_on="2026-06-18")
    assert_problem(refused, 422, "/problems/invalid-data")
    assert case_count() == 0
    accepted = post_case(api, "k")
    assert accepted.status_code == 201, accepted.text
    assert "idempotent-replayed" not in accepted.headers


def test_without_a_key_every_post_is_a_new_case(api: Api) -> None:
    first = post_case(api, None)
    second = post_case(api, None)
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["reference"] == "TW-2026-0002"


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_bad_idempotency_key_is_422(api: Api, key: str) -> None:
    response = post_case(api, key)
    problem = assert_problem(response, 422, "/problems/invalid-data")
    assert [e["loc"] for e in problem["errors"]] == ["header.Idempotency-Key"]
    assert case_count() == 0


def test_longest_idempotency_key_is_accepted(api: Api) -> None:
    first = post_case(api, "k" * 200)
    assert first.status_code == 201, first.text
    assert post_case(api, "k" * 200).headers["idempotent-replayed"] == "true"
    assert case_count() == 1


# -- Idempotency-Key on transitions -------------------------------------------------------------


def post_transition(
    api: Api, case_id: str, key: str, trigger: str, data: dict[str, Any], who: str = "superuser"
) -> httpx.Response:
    return api.fire(case_id, trigger, data, who=who, **{"Idempotency-Key": key})


def test_transition_replay_fires_once(api: Api) -> None:
    case_id = api.create_case()["id"]
    first = post_transition(api, case_id, "notify-1", "notify_panel", NOTIFY)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    before = snapshot(case_id)

    again = post_transition(api, case_id, "notify-1", "notify_panel", NOTIFY)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == '"2"'
    assert snapshot(case_id) == before
    fired = [e for e in api.events(case_id) if e["kind"] == "case.transitioned"]
    assert [e["trigger"] for e in fired] == ["notify_panel"]


def test_transition_replay_after_the_case_moved_on(api: Api) -> None:
    case_id = api.create_case()["id"]
    first = post_transition(api, case_id, "notify-1", "notify_panel", NOTIFY)
    api.ok(case_id, "complete_rapid_review", RAPID_REVIEW)
    before = snapshot(case_id)
    again = post_transition(api, case_id, "notify-1", "notify_panel", NOTIFY)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.json()["state"] == "rapid_review"
    assert snapshot(case_id) == before
    assert api.get_case(case_id)["state"] == "dsp_decision"


def test_transition_replay_ignores_a_now_stale_if_match(api: Api) -> None:
    """A retry of a write that succeeded is answered as it was, not with a 412."""
    case_id = api.create_case()["id"]
    headers = {"Idempotency-Key": "notify-1", "If-Match": '"1"'}
    first = api.fire(case_id, "notify_panel", NOTIFY, **headers)
    assert first.status_code == 200, first.text
    again = api.fire(case_id, "notify_panel", NOTIFY, **headers)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


def test_transition_key_with_another_body_is_422(api: Api) -> None:
    case_id = api.create_case()["id"]
    post_transition(api, case_id, "k", "notify_panel", NOTIFY)
    before = snapshot(case_id)
    response = post_transition(api, case_id, "k", "notify_panel", {"notified_on": "2026-06-11"})
    assert_problem(response, 422, "/problems/idempotency-key-reused")
    other_trigger = post_transition(api, case_id, "k", "withdraw", {"rationale": "No."})
    assert_problem(other_trigger, 422, "/problems/idempotency-key-reused")
    assert snapshot(case_id) == before


def test_transition_keys_belong_to_their_caller_and_case(api: Api) -> None:
    case_id = api.create_case()["id"]
    other_case = api.create_case()["id"]
    post_transition(api, case_id, "k", "notify_panel", NOTIFY, who="chair")
    # Another caller's identical request is a request of its own: it finds the case moved on.
    response = post_transition(api, case_id, "k", "notify_panel", NOTIFY, who="business")
    problem = assert_problem(response, 409, "/problems/invalid-transition")
    assert problem["state"] == "rapid_review"
    # The same caller's key on another case is a new request there.
    response = post_transition(api, other_case, "k", "notify_panel", NOTIFY, who="chair")
    assert response.status_code == 200, response.text
    assert "idempotent-replayed" not in response.headers
    assert response.json()["id"] == other_case
    for cid in (case_id, other_case):
        fired = [e for e in api.events(cid) if e["kind"] == "case.transitioned"]
        assert len(fired) == 1


def test_refused_transition_does_not_use_up_its_key(api: Api) -> None:
    case_id = api.create_case()["id"]
    refused = post_transition(api, case_id, "k", "notify_panel", {"notified_on": "2026-06-18"})
    assert_problem(refused, 422, "/problems/invalid-data")
    accepted = post_transition(api, case_id, "k", "notify_panel", NOTIFY)
    assert accepted.status_code == 200, accepted.text
    assert "idempotent-replayed" not in accepted.headers


# -- the list -----------------------------------------------------------------------------------


def listing(api: Api, query: str = "", who: str = "chair", partnership: str = "TW") -> Any:
    response = api.client.get(f"{CASES}?{query}", headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    return response.json()


def references(page: dict[str, Any]) -> list[str]:
    return [item["reference"] for item in page["items"]]


@pytest.fixture
def five_cases(api: Api, clock: FixedClock) -> list[dict[str, Any]]:
    """Five TW cases opened a minute apart (TW-2026-0001 oldest), in several states and
    from several agencies; and two OT cases that TW must never see."""
    cases = []
    specs = [
        ("police", "POL-1"),
        ("education", "EDU-1"),
        ("police", "POL-2"),
        ("health", "NHS-1"),
        ("police", "POL-1"),
    ]
    for minute, (agency, partner_reference) in enumerate(specs):
        clock.set(NOW + timedelta(minutes=minute))
        cases.append(api.create_case(referring_agency=agency, partner_reference=partner_reference))
    clock.set(NOW + timedelta(minutes=10))
    api.ok(cases[1]["id"], "notify_panel", NOTIFY)
    api.ok(cases[3]["id"], "notify_panel", NOTIFY)
    api.ok(
        cases[4]["id"],
        "decide_not_notifiable",
        {"rationale": "Threshold not met.", "alternative_learning": "none"},
    )
    for _ in range(2):
        api.create_case(partnership="OT", partner_reference="POL-1")
    clock.set(NOW)
    return cases


def test_list_is_newest_first_and_only_the_callers_partnership(
    api: Api, five_cases: list[dict[str, Any]]
) -> None:
    page = listing(api)
    assert references(page) == [f"TW-2026-{n:04d}" for n in (5, 4, 3, 2, 1)]
    assert page["next_cursor"] is None
    item = page["items"][0]
    assert set(item) == {
        "id",
        "reference",
        "workflow",
        "state",
        "version",
        "partner_reference",
        "referring_agency",
        "became_aware_on",
        "created_at",
        "updated_at",
    }
    assert item["state"] == "closed"
    assert item["version"] == 2
    other = listing(api, partnership="OT")
    assert sorted(references(other)) == ["OT-2026-0001", "OT-2026-0002"]  # opened together


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=referred", [3, 1]),
        ("state=rapid_review", [4, 2]),
        ("state=closed", [5]),
        ("state=dsp_decision", []),
        ("agency=police", [5, 3, 1]),
        ("agency=education", [2]),
        ("agency=coroner", []),
        ("q=POL-1", [5, 1]),
        ("q=pol-1", []),  # exact, as partners' references are
        ("q=POL", []),  # not a prefix search
        ("q=NHS-1", [4]),
        ("state=referred&agency=police", [3, 1]),
        ("state=referred&q=POL-1", [1]),
        ("agency=education&q=POL-1", []),
        ("workflow=cspr&state=closed", [5]),
    ],
)
def test_list_filters(
    api: Api, five_cases: list[dict[str, Any]], query: str, expected: list[int]
) -> None:
    page = listing(api, query)
    assert references(page) == [f"TW-2026-{n:04d}" for n in expected]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("state=no_such_state", "state"),
        ("agency=fire_service", "agency"),
        ("workflow=sar", "workflow"),
    ],
)
def test_a_filter_on_a_value_that_cannot_exist_is_422(
    api: Api, five_cases: list[dict[str, Any]], query: str, parameter: str
) -> None:
    response = api.client.get(f"/api/v1/cases?{query}", headers=api.headers("chair"))
    problem = assert_problem(response, 422, "/problems/invalid-query")
    assert problem["parameter"] == parameter
    assert problem["detail"].startswith(f"{parameter} must be one of: ")


def test_another_partnerships_cases_never_appear(
    api: Api, five_cases: list[dict[str, Any]]
) -> None:
    for query in ("", "q=POL-1", "agency=police", "state=referred", "limit=500"):
        for who in ("chair", "scrutineer", "referrer"):
            assert all(r.startswith("TW-") for r in references(listing(api, query, who=who)))
    ot_ids = {item["id"] for item in listing(api, partnership="OT")["items"]}
    assert ot_ids
    assert ot_ids.isdisjoint(item["id"] for item in listing(api, "limit=500")["items"])


def walk(api: Api, query: str) -> list[list[str]]:
    """Every page of a listing, following next_cursor (bounded)."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(20):
        page = listing(api, query + (f"&cursor={cursor}" if cursor else ""))
        pages.append(references(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)
        assert cursor
    raise AssertionError("the cursor never ran out")


def test_cursor_pagination_walks_every_case_once_newest_first(
    api: Api, five_cases: list[dict[str, Any]]
) -> None:
    pages = walk(api, "limit=2")
    assert pages == [
        ["TW-2026-0005", "TW-2026-0004"],
        ["TW-2026-0003", "TW-2026-0002"],
        ["TW-2026-0001"],
    ]
    assert walk(api, "limit=5") == [[f"TW-2026-{n:04d}" for n in (5, 4, 3, 2, 1)]]
    assert walk(api, "limit=1") == [[f"TW-2026-{n:04d}"] for n in (5, 4, 3, 2, 1)]


def test_cursor_pagination_keeps_its_filters(api: Api, five_cases: list[dict[str, Any]]) -> None:
    assert walk(api, "limit=1&agency=police") == [
        ["TW-2026-0005"],
        ["TW-2026-0003"],
        ["TW-2026-0001"],
    ]


def test_cursor_pagination_with_equal_timestamps(api: Api) -> None:
    """Cases opened in the same instant are ordered by id: no case is lost or repeated."""
    ids = {api.create_case()["id"] for _ in range(7)}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        response = api.client.get(f"{CASES}?{query}", headers=api.headers("chair"))
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7
    assert set(seen) == ids
    assert seen == sorted(seen, reverse=True)


def test_cursor_is_stable_while_new_cases_arrive(
    api: Api, clock: FixedClock, five_cases: list[dict[str, Any]]
) -> None:
    first = listing(api, "limit=2")
    clock.set(NOW + timedelta(minutes=30))
    api.create_case()  # newer than every page: must not shift the pages already handed out
    second = listing(api, f"limit=2&cursor={first['next_cursor']}")
    assert references(second) == ["TW-2026-0003", "TW-2026-0002"]


def test_limit_bounds(api: Api, five_cases: list[dict[str, Any]]) -> None:
    assert len(listing(api, "limit=500")["items"]) == 5
    assert len(listing(api, "limit=1")["items"]) == 1
    assert listing(api, "limit=4")["next_cursor"] is not None


# -- by reference -------------------------------------------------------------------------------


def test_a_case_is_found_by_its_reference(api: Api) -> None:
    first = api.create_case()
    second = api.create_case()
    for key in ("TW-2026-0001", "tw-2026-0001", first["id"], first["id"].replace("-", "")):
        response = api.client.get(f"{CASES}/{key}", headers=api.headers("chair"))
        assert response.status_code == 200, response.text
        assert response.json()["id"] == first["id"]
        assert response.headers["etag"] == '"1"'
    assert api.get_case("TW-2026-0002")["id"] == second["id"]
    fired = api.fire("TW-2026-0002", "notify_panel", NOTIFY)
    assert fired.status_code == 200, fired.text
    assert fired.json()["id"] == second["id"]
    assert api.get_case(second["id"])["state"] == "rapid_review"


def test_a_reference_is_looked_up_in_the_callers_partnership(api: Api) -> None:
    tw = api.create_case()
    ot = api.create_case(partnership="OT")
    assert tw["reference"] == "TW-2026-0001"
    assert ot["reference"] == "OT-2026-0001"
    missing = api.client.get(f"{CASES}/TW-2026-0001", headers=api.headers("chair", "OT"))
    assert_problem(missing, 404, "/problems/case-not-found")
    found = api.client.get(f"{CASES}/OT-2026-0001", headers=api.headers("chair", "OT"))
    assert found.json()["id"] == ot["id"]


def test_if_match_is_judged_before_the_state(api: Api) -> None:
    # RFC 9110 §13.2.2: a failed precondition is the answer even when the trigger itself would
    # also be refused in the case's new state.
    case_id = api.create_case()["id"]
    api.ok(case_id, "notify_panel", NOTIFY)
    before = snapshot(case_id)
    response = api.fire(case_id, "decide_not_notifiable", {}, **{"If-Match": '"1"'})
    problem = assert_problem(response, 412, "/problems/stale-version")
    assert problem["current_version"] == 2
    assert snapshot(case_id) == before


def test_if_match_may_list_several_etags(api: Api) -> None:
    case_id = api.create_case()["id"]
    response = api.fire(case_id, "notify_panel", NOTIFY, **{"If-Match": '"7", W/"1", "1"'})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    stale = api.fire(case_id, "complete_rapid_review", RAPID_REVIEW, **{"If-Match": '"1", "3"'})
    problem = assert_problem(stale, 412, "/problems/stale-version")
    assert problem["detail"] == "If-Match names versions 1, 3; the case is at version 2."
