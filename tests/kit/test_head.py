"""HEAD answers wherever GET does, with GET's status and headers and no body; a 405 lists HEAD
in `Allow` beside GET; the OpenAPI document gains no HEAD operations."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cspr_engine.kit.head import allow_with_head
from tests.factories import Api, access_events, assert_problem

# Headers that differ between any two responses.
VARYING = {"date", "x-request-id"}


def same_but_the_body(client: TestClient, path: str, **headers: str) -> None:
    got = client.get(path, headers=headers, follow_redirects=False)
    head = client.head(path, headers=headers, follow_redirects=False)
    assert head.status_code == got.status_code, (path, head.status_code)
    assert head.content == b"", path
    assert got.content, path
    kept = {k: v for k, v in head.headers.items() if k not in VARYING}
    assert kept == {k: v for k, v in got.headers.items() if k not in VARYING}, path
    assert int(head.headers["content-length"]) == len(got.content), path
    assert head.headers["x-request-id"], path


def test_the_health_checks(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        same_but_the_body(client, path)
        assert client.head(path).status_code == 200


def test_an_api_read_with_a_token(client: TestClient, api: Api) -> None:
    case = api.create_case()
    path = f"/api/v1/cases/{case['id']}"
    same_but_the_body(client, path, **api.headers("chair"))
    head = client.head(path, headers=api.headers("chair"))
    assert head.headers["etag"] == f'"{case["version"]}"'
    assert head.headers["content-type"] == "application/json"
    # A read like any other: the access log has it, as the HEAD it was.
    logged = access_events(request_id=head.headers["x-request-id"])
    assert [(r["method"], r["action"], r["status"]) for r in logged] == [("HEAD", "case.read", 200)]
    same_but_the_body(client, "/api/v1/workflows", **api.headers("chair"))
    # Without a token: the same 401 problem's headers, and no body.
    head = client.head(path)
    assert head.status_code == 401
    assert head.headers["www-authenticate"].startswith("Bearer")
    assert head.headers["content-type"].startswith("application/problem+json")
    assert head.content == b""


def test_a_page_and_a_static_file(client: TestClient) -> None:
    same_but_the_body(client, "/ui/sign-in")
    assert client.head("/ui/sign-in").headers["content-type"].startswith("text/html")
    same_but_the_body(client, "/ui/static/favicon.svg")
    same_but_the_body(client, "/ui/static/build/app.css")
    same_but_the_body(client, "/docs")
    # A page that needs a session sends the browser to sign in, HEAD as GET.
    assert client.head("/ui", follow_redirects=False).status_code == 303


def test_an_unknown_path_is_the_same_404(client: TestClient) -> None:
    head = client.head("/api/v1/nothing-here")
    assert head.status_code == 404
    assert head.content == b""
    assert head.headers["content-type"].startswith("application/problem+json")


def test_a_405_lists_head_wherever_it_lists_get(client: TestClient, api: Api) -> None:
    case = api.create_case()
    response = client.delete(f"/api/v1/cases/{case['id']}", headers=api.headers("chair"))
    assert_problem(response, 405, "/problems/method-not-allowed")
    assert response.headers["allow"] == "GET, HEAD"
    # HEAD where only POST is: 405, and no HEAD offered.
    head = client.head("/api/v1/auth/sign-in")
    assert head.status_code == 405
    assert head.headers["allow"] == "POST"
    assert head.content == b""


@pytest.mark.parametrize(
    ("allow", "expected"),
    [
        (b"GET", b"GET, HEAD"),
        (b"POST, GET", b"GET, HEAD, POST"),
        (b"GET, HEAD", b"GET, HEAD"),
        (b"POST", b"POST"),
        (b"DELETE,PATCH", b"DELETE, PATCH"),
    ],
)
def test_allow_gains_head_beside_get(allow: bytes, expected: bytes) -> None:
    headers = [(b"content-type", b"application/problem+json"), (b"Allow", allow)]
    assert allow_with_head(headers) == [
        (b"content-type", b"application/problem+json"),
        (b"Allow", expected),
    ]


def test_the_openapi_document_has_no_head_operations(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert not [path for path, item in spec["paths"].items() if "head" in item]
    assert "get" in spec["paths"]["/healthz"]
