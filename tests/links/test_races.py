"""Racing writes on links and shares against a real uvicorn server on 127.0.0.1: of two
requests that would make the same link (from either side) or the same share, exactly one wins
and the other is told so; neither deadlocks nor answers 500."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cases.test_concurrency import Call, race
from tests.factories import Api, Directory

ROUNDS = 5


@pytest.fixture
def live_api(live_server: str, directory: Directory) -> Iterator[Api]:
    with httpx.Client(base_url=live_server, timeout=30) as http:
        yield Api(http, directory)


def post(api: Api, path: str, body: dict[str, Any]) -> Call:
    def call(http: httpx.Client) -> httpx.Response:
        return http.post(path, json=body, headers=api.headers("chair"))

    return call


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, "" if r.status_code < 300 else r.json()["type"]) for r in responses
    )


LOSERS = {"/problems/duplicate-link", "/problems/duplicate-share", "/problems/concurrent-update"}


def test_linking_two_cases_from_both_sides_at_once_makes_one_link(live_api: Api) -> None:
    for _ in range(ROUNDS):
        a, b = live_api.create_case(), live_api.create_case()
        responses = race(
            str(live_api.client.base_url),
            [
                post(
                    live_api,
                    f"/api/v1/cases/{a['id']}/links",
                    {"type": "sibling", "target": b["id"]},
                ),
                post(
                    live_api,
                    f"/api/v1/cases/{b['id']}/links",
                    {"type": "sibling", "target": a["id"]},
                ),
            ],
        )
        seen = outcomes(responses)
        assert seen[(201, "")] == 1, seen
        (loser,) = [key for key in seen if key[0] != 201]
        assert loser[0] == 409
        assert loser[1] in LOSERS, seen
        links = live_api.client.get(
            f"/api/v1/cases/{a['id']}/links", headers=live_api.headers("chair")
        ).json()["items"]
        assert len(links) == 1


def test_the_same_share_twice_at_once_makes_one_share(live_api: Api) -> None:
    for _ in range(ROUNDS):
        case = live_api.create_case()
        body = {"partnership": "OT", "reason": "Home authority."}
        path = f"/api/v1/cases/{case['id']}/shares"
        responses = race(
            str(live_api.client.base_url),
            [post(live_api, path, body), post(live_api, path, body)],
        )
        seen = outcomes(responses)
        assert seen[(201, "")] == 1, seen
        assert all(status == 409 and kind in LOSERS for status, kind in seen if status != 201)
        shares = live_api.client.get(path, headers=live_api.headers("chair")).json()["items"]
        assert len(shares) == 1
