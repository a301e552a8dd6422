"""The committed OpenAPI document is the one the app serves, and it documents every error as a
problem document (`make openapi` regenerates it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cspr_engine.api.openapi import SPEC_PATH, render
from cspr_engine.errors import PROBLEM_MEDIA_TYPE
from cspr_engine.main import create_app

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OUTSIDE_API = {"/healthz", "/readyz"}
OUTSIDE_API |= {"/metrics"}  # issue #7: observability (its own token, no input)


@pytest.fixture(scope="module")
def rendered() -> str:
    return render(create_app())


@pytest.fixture(scope="module")
def spec(rendered: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(rendered)
    return parsed


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in sorted(spec["paths"].items())
        for method, op in sorted(item.items())
        if method in METHODS
    ]


def test_the_committed_document_is_up_to_date(rendered: str) -> None:
    assert SPEC_PATH.exists(), "openapi/openapi.json is missing: run `make openapi`"
    committed = SPEC_PATH.read_text(encoding="utf-8")
    assert committed == rendered, "openapi/openapi.json is out of date: run `make openapi`"


def test_rendering_is_stable(rendered: str) -> None:
    assert render(create_app()) == rendered
    assert rendered.endswith("}\n")


def test_the_served_document_is_the_rendered_one(client: TestClient, spec: dict[str, Any]) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == spec


def test_there_are_operations(spec: dict[str, Any]) -> None:
    paths = {path for path, _, _ in operations(spec)}
    assert OUTSIDE_API <= paths
    assert any(p.startswith("/api/v1/") for p in paths)


def test_every_operation_has_a_unique_operation_id_and_a_summary(spec: dict[str, Any]) -> None:
    ids = []
    for path, method, op in operations(spec):
        assert op.get("operationId"), (method, path)
        assert op.get("summary", "").strip(), (method, path)
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


def test_every_error_status_is_a_problem_document(spec: dict[str, Any]) -> None:
    assert "Problem" in spec["components"]["schemas"]
    faults = []
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            if status == "default" or int(status) < 400:
                continue
            content = response.get("content", {})
            if content.get(PROBLEM_MEDIA_TYPE, {}).get("schema") != PROBLEM_REF:
                faults.append((method, path, status, sorted(content)))
            if not response.get("description"):
                faults.append((method, path, status, "no description"))
    assert faults == []


def test_every_api_operation_documents_its_usual_errors(spec: dict[str, Any]) -> None:
    # Every /api/v1 route needs a token (401) and validates its input (422).
    for path, method, op in operations(spec):
        if path in OUTSIDE_API:
            continue
        assert {"401", "422"} <= set(op["responses"]), (method, path)


def test_readiness_documents_503(spec: dict[str, Any]) -> None:
    assert "503" in spec["paths"]["/readyz"]["get"]["responses"]


def test_no_fastapi_validation_error_schema(spec: dict[str, Any]) -> None:
    # Validation errors are problem documents too, not FastAPI's {"detail": [...]}.
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(spec)


def test_every_path_is_under_api_v1_except_health(spec: dict[str, Any]) -> None:
    for path in spec["paths"]:
        assert path.startswith("/api/v1/") or path in OUTSIDE_API, path


def test_an_error_is_served_as_the_documented_problem(
    client: TestClient, spec: dict[str, Any]
) -> None:
    response = client.get("/api/v1/workflows")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body = response.json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) <= set(body)
    assert set(body) <= set(problem["properties"]) | {"request_id"}
    assert body["status"] == 401
