"""The OpenAPI document is complete, checked over every operation so that a new route cannot
break it silently: the security schemes (and which operations need them), an example for every
request body that the body's own schema and model accept, errors as problem documents only,
every status a route can give for reasons around it, list envelopes, the response headers; and
the headers the API really sends are the ones documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from cspr_engine.accounts.dependencies import SESSION_COOKIE
from cspr_engine.api.openapi import render
from cspr_engine.cases.schemas import IDENTIFYING_KEYS
from cspr_engine.errors import PROBLEM_MEDIA_TYPE
from cspr_engine.links.schemas import looks_like_nhs_number
from cspr_engine.main import create_app
from tests.actions.support import add_action, to_action_monitoring
from tests.documents.support import use_documents_dir
from tests.factories import Api

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
UNSAFE = {"put", "post", "delete", "patch"}
# Operations anyone may call: no credentials (GET /metrics asks for its own token, if set).
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("post", "/api/v1/auth/sign-in")}
METRICS = ("get", "/metrics")
DOCUMENTED = ("ETag", "Location", "Retry-After", "X-Request-ID")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(render(create_app()))
    return parsed


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in sorted(spec["paths"].items()):
        for method, op in sorted(item.items()):
            if method in METHODS:
                yield method, path, op


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        found: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def parameters(op: dict[str, Any], where: str) -> set[str]:
    return {p["name"].lower() for p in op.get("parameters", []) if p["in"] == where}


def validate(spec: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """`value` against `schema`, its `#/components/...` references resolved in `spec`."""
    jsonschema_rs.Draft202012Validator({**schema, "components": spec["components"]}).validate(value)


def request_models() -> dict[str, type[BaseModel]]:
    """Every pydantic model of the service, by the name its schema is given."""
    found: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("cspr_engine."):
            found[cls.__name__] = cls
    return found


# -- security ------------------------------------------------------------------------------


def test_the_two_security_schemes_are_declared(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert "Authorization: Bearer" in schemes["bearer"]["description"]
    assert schemes["session"]["type"] == "apiKey"
    assert schemes["session"]["in"] == "cookie"
    assert schemes["session"]["name"] == SESSION_COOKIE
    assert "X-CSRF-Token" in schemes["session"]["description"]


def test_every_operation_but_the_public_ones_asks_for_a_token_or_the_session(
    spec: dict[str, Any],
) -> None:
    secured = []
    for method, path, op in operations(spec):
        if (method, path) in PUBLIC or (method, path) == METRICS:
            assert "security" not in op, (method, path)
            continue
        assert op.get("security") == [{"bearer": []}, {"session": []}], (method, path)
        assert "401" in op["responses"], (method, path)
        secured.append(path)
    assert len(secured) >= 60
    # Its own token, only when CSPR_METRICS_TOKEN is set: documented, not required.
    assert "security" not in spec["paths"]["/metrics"]["get"]


# -- request bodies ------------------------------------------------------------------------


def body_examples(spec: dict[str, Any], media: dict[str, Any]) -> list[Any]:
    examples: list[Any] = []
    if "example" in media:
        examples.append(media["example"])
    examples += [e["value"] for e in media.get("examples", {}).values()]
    examples += resolve(spec, media["schema"]).get("examples", [])
    return examples


def test_every_request_body_has_an_example_its_schema_and_model_accept(
    spec: dict[str, Any],
) -> None:
    models = request_models()
    checked = 0
    for method, path, op in operations(spec):
        if "requestBody" not in op:
            continue
        for media_type, media in op["requestBody"]["content"].items():
            if media_type == "multipart/form-data":
                # A form with a file: each field but the file has examples.
                props = resolve(spec, media["schema"])["properties"]
                for name, prop in props.items():
                    if prop.get("format") != "binary":
                        assert prop.get("examples"), (method, path, name)
                        for example in prop["examples"]:
                            validate(spec, prop, example)
                continue
            examples = body_examples(spec, media)
            assert examples, f"{method.upper()} {path}: no example for {media_type}"
            ref = media["schema"].get("$ref", "")
            model = models.get(ref.rsplit("/", 1)[-1].removesuffix("-Input"))
            assert model is not None, (method, path, ref)
            for example in examples:
                validate(spec, media["schema"], example)
                model.model_validate(example)  # the model's own rules too (dates in order ...)
                checked += 1
    assert checked >= 20


def keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from keys_of(child)
    elif isinstance(value, list):
        for child in value:
            yield from keys_of(child)


def test_no_example_holds_a_childs_identifying_details(spec: dict[str, Any]) -> None:
    # The bodies about a case (elsewhere `name` is a token's or a feed's, never a child's).
    examples = [
        body_examples(spec, media)
        for _, path, op in operations(spec)
        if path.startswith("/api/v1/cases")
        for media in op.get("requestBody", {}).get("content", {}).values()
        if "schema" in media and "properties" not in media["schema"]
    ]
    assert examples
    assert not IDENTIFYING_KEYS & set(keys_of(examples))
    for text in re.findall(r'"([^"]*)"', json.dumps(examples)):
        assert not looks_like_nhs_number(text), text


# -- responses -----------------------------------------------------------------------------


def test_errors_are_documented_as_problem_documents_only(spec: dict[str, Any]) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {PROBLEM_MEDIA_TYPE: {"schema": problem}}, (
                    method,
                    path,
                    status,
                )
    assert "Problem" in spec["components"]["schemas"]
    assert "FieldError" in spec["components"]["schemas"]


def test_every_status_a_route_can_give_for_reasons_around_it_is_documented(
    spec: dict[str, Any],
) -> None:
    faults = []
    for method, path, op in operations(spec):
        documented = set(op["responses"])
        wanted: set[str] = set()
        if path != "/healthz":
            wanted.add("503")  # the database unavailable (readiness: not ready)
        if "requestBody" in op:
            # Not JSON; no body or not JSON at all; too large; invalid.
            wanted |= {"400", "413", "415", "422"}
        if method in UNSAFE:
            wanted |= {"409", "413"}  # a write that lost a race; a body over the limit
            if "security" in op:
                wanted.add("403")  # the session cookie without its CSRF token
        if parameters(op, "path"):
            wanted.add("404")
        if "if-match" in parameters(op, "header"):
            wanted |= {"412", "422"}
        if "security" in op:
            wanted |= {"401", "422"}
        if wanted - documented:
            faults.append((method.upper(), path, sorted(wanted - documented)))
    assert faults == []


def test_the_bodiless_configuration_put_is_a_documented_415(api: Api, spec: dict[str, Any]) -> None:
    path = "/api/v1/partnerships/TW/workflows/cspr/configuration"
    response = api.client.put(path, headers=api.headers("admin"))
    assert response.status_code == 415, response.text
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert response.json()["type"] == "/problems/unsupported-media-type"
    put = spec["paths"]["/api/v1/partnerships/{code}/workflows/{workflow}/configuration"]["put"]
    assert "415" in put["responses"]


def is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array"


def test_every_list_answers_an_envelope(spec: dict[str, Any]) -> None:
    envelopes = []
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                schema = resolve(spec, media.get("schema", {}))
                assert not is_array(schema), (method, path, status, media_type)
                items = schema.get("properties", {}).get("items")
                if items is not None and is_array(items):
                    envelopes.append((method, path))
                    assert set(schema["required"]) >= {"items", "next_cursor"}, (method, path)
                    cursor = schema["properties"]["next_cursor"]
                    assert cursor["anyOf"] == [{"type": "string"}, {"type": "null"}], path
        query = parameters(op, "query")
        assert ("limit" in query) == ("cursor" in query), (method, path)
    paths = {p for _, p in envelopes}
    for listed in (
        "/api/v1/webhooks",
        "/api/v1/workflows",
        "/api/v1/cases/{case_id}/deadlines",
        "/api/v1/cases/{case_id}/transitions",
        "/api/v1/cases",
    ):
        assert listed in paths, listed
    assert {"limit", "cursor"} <= parameters(spec["paths"]["/api/v1/webhooks"]["get"], "query")


def test_every_response_documents_its_headers(spec: dict[str, Any]) -> None:
    headers = spec["components"]["headers"]
    assert set(DOCUMENTED) <= set(headers)
    assert all(h["required"] and h["description"] for h in headers.values())
    for method, path, op in operations(spec):
        for status, response in op["responses"].items():
            named = response.get("headers", {})
            assert named.get("X-Request-ID") == {"$ref": "#/components/headers/X-Request-ID"}
            if status == "429":
                assert "Retry-After" in named, (method, path)
            success = status.startswith("2")
            if success and "if-match" in parameters(op, "header"):
                # A write conditional on a version says which version it made.
                assert "ETag" in named, (method, path, status)
            media = response.get("content", {}).get("application/json", {})
            if success and media.get("schema", {}).get("$ref", "").endswith("/CaseRead"):
                assert "ETag" in named, (method, path, status)  # every case response


def test_head_is_no_operation_of_its_own(spec: dict[str, Any]) -> None:
    assert not [p for p, item in spec["paths"].items() if "head" in item]


# -- what is sent is what is documented -----------------------------------------------------


def matcher(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) for every path, literal paths first (`/cases/export.csv` before
    `/cases/{case_id}`)."""
    templates = sorted(spec["paths"], key=lambda p: (p.count("{"), p))
    return [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", t) + "$"), t) for t in templates]


@pytest.fixture
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from use_documents_dir(tmp_path, monkeypatch)


def test_the_headers_sent_are_the_documented_ones(
    client: TestClient, api: Api, spec: dict[str, Any], documents_dir: Path
) -> None:
    seen: list[httpx.Response] = []
    client.event_hooks["response"].append(seen.append)
    tw = api.headers
    referred = api.create_case(who="chair")
    rid = referred["id"]
    client.get(f"/api/v1/cases/{rid}", headers=tw("chair"))
    client.get(f"/api/v1/cases/{rid}/transitions", headers=tw("chair"))
    client.get(f"/api/v1/cases/{rid}/deadlines", headers=tw("chair"))
    client.post(
        f"/api/v1/cases/{rid}/deadlines/rapid_review/extensions",
        json={"new_due_on": "2026-07-31", "reason": "Records from another area."},
        headers=tw("chair"),
    )
    client.post(
        f"/api/v1/cases/{rid}/information-requests",
        json={"agencies": ["police"], "asked": "A chronology of contact."},
        headers=tw("business"),
    )
    monitored = to_action_monitoring(api)
    mid = monitored["id"]
    action = add_action(api, mid)
    client.get(f"/api/v1/cases/{mid}/actions/{action['id']}", headers=tw("qpd"))
    client.post(
        f"/api/v1/cases/{mid}/documents",
        files={"file": ("chronology.txt", b"Chronology of contact.\n", "text/plain")},
        data={"kind": "information_return", "title": "Police chronology"},
        headers=tw("chair"),
    )
    client.post(
        f"/api/v1/cases/{mid}/links",
        json={"type": "sibling", "target": referred["reference"]},
        headers=tw("chair"),
    )
    client.post(
        f"/api/v1/cases/{mid}/shares",
        json={"partnership": "OT", "reason": "The family moved to OT's area."},
        headers=tw("chair"),
    )
    config = "/api/v1/partnerships/TW/workflows/cspr/configuration"
    client.get(config, headers=tw("admin"))
    client.put(config, json={"values": {}, "reason": "Defaults."}, headers=tw("admin"))
    client.get("/api/v1/webhooks", headers=tw("admin"))
    client.get("/api/v1/workflows", headers=tw("chair"))
    client.get("/healthz")
    client.get(f"/api/v1/cases/{rid}/nothing-here", headers=tw("chair"))  # 404, no operation
    for _ in range(12):  # the sign-in backoff: a 429 with Retry-After
        client.post("/api/v1/auth/sign-in", json={"email": "chair@tw.example", "password": "no"})

    paths = matcher(spec)
    checked: set[tuple[str, str, int]] = set()
    for response in seen:
        path = response.request.url.path
        template = next((t for rx, t in paths if rx.match(path)), None)
        method = response.request.method.lower()
        assert "x-request-id" in response.headers, path
        if template is None or method not in spec["paths"][template]:
            continue
        documented = spec["paths"][template][method]["responses"].get(str(response.status_code))
        assert documented is not None, (method, template, response.status_code, response.text)
        for name in DOCUMENTED:
            if name.lower() in response.headers:
                assert name in documented.get("headers", {}), (method, template, name)
        checked.add((method, template, response.status_code))
    sent = {(m, t, s) for m, t, s in checked}
    assert ("post", "/api/v1/cases", 201) in sent
    assert ("post", "/api/v1/cases/{case_id}/documents", 201) in sent
    assert ("put", "/api/v1/partnerships/{code}/workflows/{workflow}/configuration", 200) in sent
    assert ("post", "/api/v1/auth/sign-in", 429) in sent
    assert len(checked) >= 20
