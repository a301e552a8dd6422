"""Every request counted and timed by method, route template and status class: never by the
raw path, so no case id or reference becomes a label value."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import Api
from tests.metrics.helpers import Samples, scrape

REQUESTS = "cspr_http_requests_total"
LATENCY_COUNT = "cspr_http_request_duration_seconds_count"


def counts(samples: Samples, name: str = REQUESTS) -> dict[tuple[str, str, str], float]:
    found = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            got = dict(labels)
            found[(got["method"], got["route"], got["status_class"])] = value
    return found


def grown(before: Samples, after: Samples, name: str = REQUESTS) -> dict[tuple[str, ...], float]:
    old = counts(before, name)
    return {k: v - old.get(k, 0) for k, v in counts(after, name).items() if v != old.get(k, 0)}


def test_requests_are_labelled_by_route_template_never_by_path(
    api: Api, client: TestClient
) -> None:
    case = api.create_case()
    before = scrape(client)
    chair = api.headers("chair")
    assert client.get(f"/api/v1/cases/{case['id']}", headers=chair).status_code == 200
    assert client.get(f"/api/v1/cases/{case['reference']}", headers=chair).status_code == 200
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/api/v1/cases/{missing}", headers=chair).status_code == 404
    assert client.get(f"/api/v1/cases/{case['id']}/deadlines", headers=chair).status_code == 200
    assert client.get(f"/no/such/{case['reference']}").status_code == 404
    assert client.get("/ui/static/no-such-file.css").status_code == 404
    assert client.put("/healthz").status_code == 405
    assert client.request("BREW", "/healthz").status_code == 405
    assert client.get("/api/v1/cases/", headers=chair, follow_redirects=False).status_code == 307
    after = client.get("/metrics")

    assert grown(before, scrape(client)) == {
        ("GET", "/api/v1/cases/{case_id}", "2xx"): 2,
        ("GET", "/api/v1/cases/{case_id}", "4xx"): 1,
        ("GET", "/api/v1/cases/{case_id}/deadlines", "2xx"): 1,
        ("GET", "unmatched", "4xx"): 1,
        ("GET", "/ui/static/{path}", "4xx"): 1,
        ("PUT", "/healthz", "4xx"): 1,
        ("other", "/healthz", "4xx"): 1,
        ("GET", "unmatched", "3xx"): 1,  # the redirect to the path without its slash
        # `before` and `after` (a scrape is counted once it has answered, so not this one)
        ("GET", "/metrics", "2xx"): 2,
    }
    # Each was timed under the same labels.
    assert grown(before, scrape(client), LATENCY_COUNT)[("GET", "/api/v1/cases/{case_id}", "2xx")]
    for raw in (case["id"], case["reference"], missing, "/no/such"):
        assert raw not in after.text


def test_a_request_that_fails_with_a_500_is_counted_as_5xx(
    app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cspr_engine.cases import router as cases_router

    case = api.create_case()

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cases_router, "_case_response", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        before = scrape(client)
        response = client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("chair"))
        assert response.status_code == 500
        assert grown(before, scrape(client)) == {
            ("GET", "/api/v1/cases/{case_id}", "5xx"): 1,
            ("GET", "/metrics", "2xx"): 1,
        }
