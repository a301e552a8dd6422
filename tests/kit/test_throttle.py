"""The budget of requests without credentials, per client address: the bucket's arithmetic,
and on a real server a flood from one address refused (429 problem, Retry-After) while
another address, a request with a token, and the health probes go on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cspr_engine.kit.throttle import MAX_ADDRESSES, AddressBudget
from tests.factories import Directory
from tests.processes import start_server, stopped_at_exit


class Ticking:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_bucket_allows_its_minute_then_refills_evenly() -> None:
    clock = Ticking()
    budget = AddressBudget(60, now=clock)
    assert [budget.take("192.0.2.1") for _ in range(60)] == [0] * 60
    assert budget.take("192.0.2.1") == 1  # one a second comes back
    assert budget.take("198.51.100.7") == 0  # another address has its own
    clock.t += 1
    assert budget.take("192.0.2.1") == 0
    assert budget.take("192.0.2.1") == 1
    clock.t += 3600  # never more than a full bucket
    assert [budget.take("192.0.2.1") for _ in range(60)] == [0] * 60
    assert budget.take("192.0.2.1") >= 1


def test_the_buckets_kept_are_bounded() -> None:
    budget = AddressBudget(10, now=Ticking())
    for n in range(MAX_ADDRESSES + 500):
        budget.take(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(budget.buckets) == MAX_ADDRESSES


@pytest.mark.heavy
def test_a_flood_without_credentials_is_refused_for_its_address_only(
    database_url: str, directory: Directory, tmp_path: Path
) -> None:
    with stopped_at_exit() as keep:
        server = keep(
            start_server(database_url, tmp_path, "budget", CSPR_ANONYMOUS_REQUESTS_PER_MINUTE="30")
        )
        server.wait_ready()
        local = httpx.HTTPTransport(local_address="127.0.0.1")
        with httpx.Client(base_url=server.url, transport=local, timeout=10) as flood:
            answers = [flood.get("/api/v1/cases").status_code for _ in range(40)]
            # Thirty answered (401: no credentials), then refused before any work.
            assert answers[:30] == [401] * 30
            assert set(answers[30:]) == {429}
            refused = flood.get("/ui/sign-in")
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            problem = refused.json()
            assert problem["type"].endswith("/too-many-requests")
            assert problem["retry_after"] == int(refused.headers["retry-after"])
            assert "without credentials from this address" in problem["detail"]
            # Probes, and a request with a token from the same address, are not counted.
            assert flood.get("/healthz").status_code == 200
            assert flood.get("/readyz").status_code == 200
            token = {"Authorization": f"Bearer {directory.token('chair')}"}
            listed = flood.get("/api/v1/cases", headers=token)
            assert listed.status_code == 200, listed.text
            assert listed.json()["items"] == []
        elsewhere = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=server.url, transport=elsewhere, timeout=10) as other:
            page = other.get("/ui/sign-in")
            assert page.status_code == 200
            assert "Sign in" in page.text
