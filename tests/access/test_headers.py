"""Security headers on every response: API answers, problems (including the last-resort 500),
health checks and the API docs (whose Content-Security-Policy lets Swagger UI and ReDoc load)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cspr_engine.config import get_settings
from cspr_engine.kit.clock import get_clock
from cspr_engine.kit.headers import API_CSP, DOCS_CSP, PAGE_CSP
from tests.factories import Api, assert_problem

EVERYWHERE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


def assert_secure(response: httpx.Response, csp: str, *, api: bool) -> None:
    for name, value in EVERYWHERE.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    assert response.headers["content-security-policy"] == csp
    assert response.headers.get_list("content-security-policy") == [csp]
    assert (response.headers.get("cache-control") == "no-store") is api
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-request-id"]
    policy = response.headers["permissions-policy"]
    assert "camera=()" in policy
    assert "geolocation=()" in policy
    assert "server" not in response.headers  # nothing says what runs here


def test_api_answers_and_problems_carry_them(api: Api) -> None:
    case = api.create_case()
    responses = [
        api.client.get("/api/v1/cases", headers=api.headers("chair")),
        api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("chair")),
        api.client.post("/api/v1/cases", json=api_referral(), headers=api.headers("chair")),
    ]
    assert [r.status_code for r in responses] == [200, 200, 201]
    problems = [
        (api.client.get("/api/v1/cases"), 401),
        (api.client.get(f"/api/v1/cases/{case['id']}", headers=api.headers("admin")), 404),
        (api.fire(case["id"], "notify_panel", {}, who="scrutineer"), 403),
        (api.client.get("/api/v1/cases?limit=0", headers=api.headers("chair")), 422),
        (api.client.get("/api/v1/nowhere", headers=api.headers("chair")), 404),
        (api.client.delete("/api/v1/cases", headers=api.headers("chair")), 405),
    ]
    for response, status in problems:
        assert_problem(response, status)
        responses.append(response)
    for response in responses:
        assert_secure(response, API_CSP, api=True)


def api_referral() -> dict[str, object]:
    from tests.factories import referral

    return referral(partner_reference="HDR-1")


def test_health_checks_carry_them(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, response.text
        assert_secure(response, PAGE_CSP, api=False)


def test_the_docs_get_a_policy_that_lets_them_load_from_this_origin_only(
    client: TestClient,
) -> None:
    for path in ("/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200
        assert_secure(response, DOCS_CSP, api=False)
        # What the pages load is this origin's: no other host is named, no inline script.
        assert "http" not in response.text, path
        assert "<script>" not in response.text, path
        assert '<script src="/ui/static/' in response.text, path
    # No OAuth2 redirect page: the API takes tokens and the session cookie, not OAuth2.
    assert client.get("/docs/oauth2-redirect").status_code == 404
    assert "http" not in DOCS_CSP
    assert "script-src 'self';" in DOCS_CSP
    assert "unsafe-eval" not in DOCS_CSP
    assert "connect-src 'self'" in DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP
    assert_secure(client.get("/openapi.json"), PAGE_CSP, api=False)


def test_the_last_resort_500_carries_them(clock: object) -> None:
    from cspr_engine.main import create_app

    app = create_app()
    app.dependency_overrides[get_clock] = lambda: clock

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert_secure(response, API_CSP, api=True)


@pytest.fixture
def tls_app(clock: object) -> FastAPI:
    from cspr_engine.main import create_app

    app = create_app(get_settings().model_copy(update={"cookie_secure": True}))
    app.dependency_overrides[get_clock] = lambda: clock
    return app


def test_hsts_only_when_served_over_tls(client: TestClient, tls_app: FastAPI) -> None:
    assert "strict-transport-security" not in client.get("/healthz").headers
    with TestClient(tls_app) as tls:
        for path in ("/healthz", "/api/v1/cases", "/docs"):
            assert tls.get(path).headers["strict-transport-security"] == "max-age=31536000"


def test_a_405_lists_every_method_the_path_answers(api: Api) -> None:
    response = api.client.delete("/api/v1/cases", headers=api.headers("chair"))
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "POST"}


@pytest.mark.parametrize("value", ["0", "1718000000", "17/06/2026", "2026-6-1"])
def test_a_date_in_a_query_is_a_date_written_yyyy_mm_dd(api: Api, value: str) -> None:
    response = api.client.get(
        "/api/v1/cases", params={"due_before": value}, headers=api.headers("chair")
    )
    problem = assert_problem(response, 422)
    [error] = problem["errors"]
    assert error["loc"] == "query.due_before"
    assert error["message"] == "must be a date written YYYY-MM-DD"
