"""Racing writes on a case's requests, against a real uvicorn server on 127.0.0.1: of two asks
at once, or two returns to one request, exactly one is recorded and the other is told so."""

from __future__ import annotations

from typing import Any

import httpx

from tests.cases.test_concurrency import Call, race, split
from tests.factories import Api, assert_problem
from tests.information_requests.helpers import (
    ASKED,
    a_return,
    asked,
    audit_kinds,
    in_rapid_review,
    request_rows,
    url,
)

ROUNDS = 5
LOSERS = {"/problems/concurrent-update", "/problems/request-not-open"}


def post(api: Api, path: str, body: dict[str, Any], who: str) -> Call:
    def call(http: httpx.Client) -> httpx.Response:
        return http.post(path, json=body, headers=api.headers(who))

    return call


def test_two_asks_at_once_number_no_request_twice(live_server: str, api: Api) -> None:
    for _ in range(ROUNDS):
        case = in_rapid_review(api)
        responses = race(
            live_server,
            [
                post(api, url(case), {"agencies": ["police"], "asked": ASKED}, "business"),
                post(api, url(case), {"agencies": ["health"], "asked": ASKED}, "chair"),
            ],
        )
        statuses = sorted(r.status_code for r in responses)
        if statuses == [201, 201]:
            # Serialised by the database after all: both stand, numbered 1 and 2.
            numbers = sorted(r["number"] for r in request_rows(case["id"]))
            assert numbers == [1, 2]
            continue
        winner = next(r for r in responses if r.status_code == 201)
        loser = next(r for r in responses if r is not winner)
        assert assert_problem(loser, 409)["type"] == "/problems/concurrent-update"
        (made,) = winner.json()["items"]
        assert [(r["number"], r["agency"]) for r in request_rows(case["id"])] == [
            (1, made["agency"])
        ]
        assert audit_kinds(api, case).count("information_request.created") == 1


def test_two_returns_at_once_one_is_recorded(live_server: str, api: Api) -> None:
    for _ in range(ROUNDS):
        case = in_rapid_review(api)
        (made,) = asked(api, case, "police")
        path = url(case, made["id"], "response")
        responses = race(
            live_server,
            [
                post(api, path, a_return(summary="From the officer."), "referrer"),
                post(api, path, a_return(summary="From the DSP."), "dsp_police"),
            ],
        )
        winner, loser = split(responses)
        assert assert_problem(loser, 409)["type"] in LOSERS
        (stored,) = request_rows(case["id"])
        assert stored["status"] == "answered"
        summary = winner.json()["response"]["summary"]
        assert summary in str(stored["response"])
        assert audit_kinds(api, case).count("information_request.answered") == 1
