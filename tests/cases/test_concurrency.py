"""Real concurrency: requests released together against a real uvicorn server on 127.0.0.1.

Of two writes racing on one case exactly one wins; the loser is told so (409 or 412) and the
audit trail holds one event. References are handed out without gaps or duplicates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.factories import Api, Directory, assert_problem, referral, snapshot

ROUNDS = 10  # cases raced on per test: enough to meet the race, bounded in time
JOIN_SECONDS = 60

Call = Callable[[httpx.Client], httpx.Response]


def race(base_url: str, calls: list[Call]) -> list[httpx.Response]:
    """Run `calls` on their own threads and connections, released together by a barrier."""
    barrier = threading.Barrier(len(calls), timeout=20)
    results: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def run(index: int, call: Call) -> None:
        try:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                http.get("/healthz").raise_for_status()  # connected before the start line
                barrier.wait()
                results[index] = call(http)
        except BaseException as exc:  # reported below, on the test's own thread
            results[index] = exc

    threads = [
        threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), "a racing request did not finish in time"
    responses: list[httpx.Response] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        responses.append(result)
    return responses


def transition(
    api: Api, case_id: str, trigger: str, data: dict[str, Any], who: str, **headers: str
) -> Call:
    def call(http: httpx.Client) -> httpx.Response:
        return http.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"trigger": trigger, "data": data},
            headers=api.headers(who, **headers),
        )

    return call


def transitioned(api: Api, case_id: str) -> list[dict[str, Any]]:
    return [e for e in api.events(case_id) if e["kind"] == "case.transitioned"]


NOTIFY = {"notified_on": "2026-06-12"}
NOT_NOTIFIABLE = {"rationale": "Threshold not met.", "alternative_learning": "none"}
LOSER_TYPES = {
    409: {"/problems/invalid-transition", "/problems/concurrent-update"},
    412: {"/problems/stale-version"},
}


def split(responses: list[httpx.Response]) -> tuple[httpx.Response, httpx.Response]:
    """The one winner (200) and the one loser of a two-way race."""
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 200, [r.text for r in responses]
    assert statuses[1] != 200, "both racing writes succeeded"
    winner = next(r for r in responses if r.status_code == 200)
    loser = next(r for r in responses if r is not winner)
    return winner, loser


def test_same_trigger_twice_fires_once(live_server: str, api: Api) -> None:
    for _ in range(ROUNDS):
        case_id = api.create_case()["id"]
        responses = race(
            live_server,
            [
                transition(api, case_id, "notify_panel", NOTIFY, "chair"),
                transition(api, case_id, "notify_panel", NOTIFY, "business"),
            ],
        )
        winner, loser = split(responses)
        assert winner.json()["state"] == "rapid_review"
        assert winner.json()["version"] == 2
        assert winner.headers["etag"] == '"2"'
        problem = assert_problem(loser, 409)
        assert problem["type"] in LOSER_TYPES[409]
        events = transitioned(api, case_id)
        assert [(e["trigger"], e["seq"]) for e in events] == [("notify_panel", 2)]
        case = api.get_case(case_id)
        assert (case["state"], case["version"]) == ("rapid_review", 2)


def test_two_triggers_with_the_same_if_match_one_wins(live_server: str, api: Api) -> None:
    winners: set[str] = set()
    for _ in range(ROUNDS):
        case_id = api.create_case()["id"]
        responses = race(
            live_server,
            [
                transition(api, case_id, "notify_panel", NOTIFY, "chair", **{"If-Match": '"1"'}),
                transition(
                    api,
                    case_id,
                    "decide_not_notifiable",
                    NOT_NOTIFIABLE,
                    "dsp_la",
                    **{"If-Match": '"1"'},
                ),
            ],
        )
        winner, loser = split(responses)
        problem = assert_problem(loser, loser.status_code)
        assert loser.status_code in LOSER_TYPES, loser.text
        assert problem["type"] in LOSER_TYPES[loser.status_code]
        state = winner.json()["state"]
        assert state in ("rapid_review", "closed")
        won = "notify_panel" if state == "rapid_review" else "decide_not_notifiable"
        winners.add(won)
        events = transitioned(api, case_id)
        assert [(e["trigger"], e["seq"]) for e in events] == [(won, 2)]
        case = api.get_case(case_id)
        assert (case["state"], case["version"]) == (state, 2)
        assert set(case["recorded"]) == {won}
    assert winners  # which one wins is up to the race; that one always does


def test_same_trigger_with_the_same_if_match_fires_once(live_server: str, api: Api) -> None:
    for _ in range(ROUNDS):
        case_id = api.create_case()["id"]
        responses = race(
            live_server,
            [
                transition(api, case_id, "notify_panel", NOTIFY, who, **{"If-Match": '"1"'})
                for who in ("chair", "business")
            ],
        )
        _, loser = split(responses)
        problem = assert_problem(loser, loser.status_code)
        assert loser.status_code in LOSER_TYPES, loser.text
        assert problem["type"] in LOSER_TYPES[loser.status_code]
        assert [e["trigger"] for e in transitioned(api, case_id)] == ["notify_panel"]


def test_racing_replays_of_one_idempotency_key_fire_once(live_server: str, api: Api) -> None:
    for round_ in range(ROUNDS):
        case_id = api.create_case()["id"]
        key = f"retry-{round_}"
        responses = race(
            live_server,
            [
                transition(
                    api, case_id, "notify_panel", NOTIFY, "chair", **{"Idempotency-Key": key}
                )
                for _ in range(2)
            ],
        )
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        assert responses[0].json() == responses[1].json()
        replayed = sorted(r.headers.get("idempotent-replayed", "") for r in responses)
        assert replayed == ["", "true"]
        assert [e["trigger"] for e in transitioned(api, case_id)] == ["notify_panel"]
        assert snapshot(case_id)["case"]["version"] == 2


def create(api: Api, who: str = "chair", partnership: str = "TW", **headers: str) -> Call:
    def call(http: httpx.Client) -> httpx.Response:
        return http.post(
            "/api/v1/cases",
            json=referral(partner_reference=f"{partnership}-{who}"),
            headers=api.headers(who, partnership, **headers),
        )

    return call


def test_parallel_creation_numbers_without_gaps_or_duplicates(live_server: str, api: Api) -> None:
    people = ["chair", "business", "referrer", "referrer_education", "superuser"] * 2
    responses = race(live_server, [create(api, who) for who in people])
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    references = sorted(b["reference"] for b in bodies)
    assert references == [f"TW-2026-{n:04d}" for n in range(1, 11)]
    assert len({b["id"] for b in bodies}) == 10
    for response, body in zip(responses, bodies, strict=True):
        assert response.headers["location"] == f"/api/v1/cases/{body['id']}"
        assert response.headers["etag"] == '"1"'
    listed = api.client.get("/api/v1/cases?limit=500", headers=api.headers("chair")).json()
    assert sorted(c["reference"] for c in listed["items"]) == references
    assert snapshot(bodies[0]["id"])["counts"]["cases"] == 10
    # The series carries on from where the race left it.
    assert api.create_case()["reference"] == "TW-2026-0011"


def test_parallel_creation_in_two_partnerships_keeps_two_series(
    live_server: str, api: Api, directory: Directory
) -> None:
    calls = [create(api, "chair", code) for code in ("TW", "OT") for _ in range(4)]
    responses = race(live_server, calls)
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    references = sorted(r.json()["reference"] for r in responses)
    assert references == [f"OT-2026-{n:04d}" for n in range(1, 5)] + [
        f"TW-2026-{n:04d}" for n in range(1, 5)
    ]


def test_racing_creations_with_one_idempotency_key_make_one_case(
    live_server: str, api: Api
) -> None:
    responses = race(
        live_server, [create(api, "chair", **{"Idempotency-Key": "referral-118"}) for _ in range(4)]
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0]["reference"] == "TW-2026-0001"
    replayed = sorted(r.headers.get("idempotent-replayed", "") for r in responses)
    assert replayed == ["", "true", "true", "true"]
    assert snapshot(bodies[0]["id"])["counts"]["cases"] == 1


@pytest.mark.parametrize("trigger", ["notify_panel", "decide_not_notifiable"])
def test_a_vote_racing_a_transition_leaves_a_consistent_case(
    live_server: str, api: Api, trigger: str
) -> None:
    """A vote on the advisory notification gate and a transition both claim the next version:
    one goes first (or the other is refused), and the history keeps one event per version."""
    data = NOTIFY if trigger == "notify_panel" else NOT_NOTIFIABLE
    for _ in range(ROUNDS // 2):
        case_id = api.create_case()["id"]

        def vote(http: httpx.Client, case_id: str = case_id) -> httpx.Response:
            return http.post(
                f"/api/v1/cases/{case_id}/approvals/notification_decision",
                json={"decision": "agree", "rationale": "Meets the criteria."},
                headers=api.headers("dsp_police"),
            )

        fired, voted = race(live_server, [transition(api, case_id, trigger, data, "dsp_la"), vote])
        assert 200 in (fired.status_code, voted.status_code), [fired.text, voted.text]
        if fired.status_code != 200:
            # Both read version 1 and the vote claimed version 2 first.
            assert_problem(fired, 409, "/problems/concurrent-update")
        if voted.status_code != 200:
            # The transition went first: the gate is no longer open (or lost the claim).
            problem = assert_problem(voted, 409)
            assert problem["type"] in {"/problems/gate-closed", "/problems/concurrent-update"}
        events = api.events(case_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        kinds = {e["kind"] for e in events[1:]}
        expected = {"case.transitioned"} if fired.status_code == 200 else set()
        if voted.status_code == 200:
            expected.add("approval.voted")
        assert kinds == expected
        assert len(events) == 1 + len(expected)
        assert api.get_case(case_id)["version"] == len(events)
