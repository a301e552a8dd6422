"""Issue #8: every request input is bounded, and an input over its bound is refused with a
problem document that changes nothing.

The first test walks the committed OpenAPI document (openapi/openapi.json) and names any request
input without a bound: a future route cannot forget one. The others send one input of each kind
over its bound (the body, a string, a list, a trigger's `data` too wide or too deep, a number, a
path, query or header parameter, a multipart field) and check the answer and the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cspr_engine.api.openapi import SPEC_PATH
from cspr_engine.config import get_settings
from cspr_engine.kit.limits import (
    MAX_DATA_FIELDS,
    MAX_DATA_ITEMS,
    MAX_DATA_KEY,
    MAX_DATA_NUMBER,
    MAX_DATA_TEXT,
)
from tests.documents.support import document_rows, files_in, use_documents_dir
from tests.factories import Api, assert_problem, snapshot, stored

INVALID = "/problems/invalid-data"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))

# -- the committed document: no request input without a bound ------------------------------------

# Formats whose parser refuses any long value (a date, a UUID): they bound a string themselves.
BOUNDING_FORMATS = {"date", "date-time", "uuid"}
# A quantifier with no upper bound: `+`, `*` or `{n,}` outside a character class.
_UNBOUNDED_QUANTIFIER = re.compile(r"(?<!\\)(?:[+*]|\{\d+,\})")


def _pattern_bounds(pattern: str) -> bool:
    """An anchored pattern without an open-ended quantifier matches only short strings."""
    body = re.sub(r"\[(?:\\.|[^\]])*\]", "C", pattern)  # character classes: one character
    return (
        pattern.startswith("^") and pattern.endswith("$") and not _UNBOUNDED_QUANTIFIER.search(body)
    )


def _resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    ref = schema.get("$ref")
    if ref is None:
        return schema, None
    name = ref.rsplit("/", 1)[-1]
    return SPEC["components"]["schemas"][name], name


def unbounded(schema: dict[str, Any], where: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """Where in `schema` a request could carry something of unbounded size, as messages.
    Length bounds may sit beside an `anyOf` (JSON Schema applies them to its string branch)."""
    schema, name = _resolve(schema)
    if name is not None:
        if name in seen:
            return [f"{where}: recursive schema {name} (unbounded nesting)"]
        seen = seen | {name}
    faults: list[str] = []
    branches = [b for key in ("anyOf", "oneOf", "allOf") for b in schema.get(key, [])]
    for branch in branches:
        inherited: dict[str, Any] = {
            k: schema[k] for k in ("maxLength", "maxItems", "maximum") if k in schema
        }
        resolved, _ = _resolve(branch)
        faults += unbounded({**inherited, **resolved}, where, seen)
    if branches or "enum" in schema or "const" in schema:
        return faults
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "binary":
            # A file part: its size is the upload allowance kit.limits counts as it arrives.
            return faults
        if not (
            "maxLength" in schema
            or schema.get("format") in BOUNDING_FORMATS
            or _pattern_bounds(schema.get("pattern", ""))
        ):
            faults.append(f"{where}: a string without maxLength")
    elif kind in ("integer", "number"):
        if "maximum" not in schema or "minimum" not in schema:
            faults.append(f"{where}: a {kind} without minimum and maximum")
    elif kind == "array":
        if "maxItems" not in schema:
            faults.append(f"{where}: an array without maxItems")
        faults += unbounded(schema.get("items", {}), f"{where}[]", seen)
    elif kind == "object" or "properties" in schema:
        extra = schema.get("additionalProperties", "properties" not in schema)
        if extra is not False:
            if "maxProperties" not in schema:
                faults.append(f"{where}: an object with free keys but no maxProperties")
            if "maxLength" not in schema.get("propertyNames", {}):
                faults.append(f"{where}: an object with free keys but no propertyNames.maxLength")
            if isinstance(extra, dict):
                faults += unbounded(extra, f"{where}.*", seen)
            else:
                faults.append(f"{where}: an object whose values may be anything")
        for key, sub in schema.get("properties", {}).items():
            faults += unbounded(sub, f"{where}.{key}", seen)
    elif kind not in ("boolean", "null"):
        faults.append(f"{where}: a value of any type (any JSON, nested as deep as it likes)")
    return faults


def request_inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield f"{label} {parameter['in']} {parameter['name']}", parameter["schema"]
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{label} body ({media_type})", content["schema"]


def test_every_request_input_in_the_committed_document_is_bounded() -> None:
    inputs = list(request_inputs())
    assert len(inputs) > 120, "the walk found too few inputs to be walking the document"
    faults = [fault for where, schema in inputs for fault in unbounded(schema, where)]
    assert not faults, "unbounded request inputs:\n" + "\n".join(faults)


@pytest.mark.parametrize(
    ("schema", "fault"),
    [
        ({"type": "string"}, "a string without maxLength"),
        ({"type": "string", "pattern": "^[a-z]+$"}, "a string without maxLength"),
        ({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}}, "maxItems"),
        ({"type": "integer", "minimum": 1}, "without minimum and maximum"),
        ({"type": "object", "additionalProperties": True}, "no maxProperties"),
        ({"type": "object", "maxProperties": 5, "additionalProperties": {}}, "any type"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "a string without maxLength"),
        ({}, "any type"),
    ],
)
def test_the_walk_names_each_kind_of_unbounded_input(schema: dict[str, Any], fault: str) -> None:
    # The guard above passes only if the walk can fail: each kind of gap, named.
    faults = unbounded(schema, "GET /x query q")
    assert faults, schema
    assert any(fault in f for f in faults), faults
    assert all(f.startswith("GET /x query q") for f in faults), faults


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "maxLength": 10},
        {"type": "string", "pattern": "^[A-Za-z0-9]{2,16}$"},
        {"type": "string", "format": "uuid"},
        {"type": "string", "enum": ["a", "b"]},
        {"anyOf": [{"type": "string"}, {"type": "null"}], "maxLength": 200},
        {"type": "object", "properties": {"a": {"type": "boolean"}}},
        {
            "type": "object",
            "maxProperties": 3,
            "propertyNames": {"maxLength": 8},
            "additionalProperties": {"type": "string", "maxLength": 8},
        },
    ],
)
def test_the_walk_accepts_bounded_inputs(schema: dict[str, Any]) -> None:
    assert unbounded(schema, "here") == []


# -- over the limit, over the API -----------------------------------------------------------------

CASES = "/api/v1/cases"


@pytest.fixture
def case(api: Api) -> dict[str, Any]:
    """A referred TW case, notified to the Panel (its rapid review is under way)."""
    made = api.create_case(who="chair", became_aware_on="2026-06-10")
    return api.ok(made["id"], "notify_panel", {"notified_on": "2026-06-11"})


def field_locs(problem: dict[str, Any]) -> list[str]:
    return [e["loc"] for e in problem["errors"]]


def refused(response: Any, status: int, type_: str) -> dict[str, Any]:
    """A problem document a client can act on, from a response that is one."""
    problem = assert_problem(response, status, type_)
    assert problem["title"]
    if status == 422 and type_ == INVALID:
        assert problem["errors"], problem
        for error in problem["errors"]:
            assert set(error) == {"loc", "message", "type"}, error
    return problem


# Every operation a body may be sent to, but the document upload (its allowance is a
# document's size: tests/documents).
BODY_OPERATIONS = sorted(
    (method.upper(), path)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
    if method not in ("get", "head") and not path.endswith("/documents")
)


def test_a_body_over_the_limit_is_a_documented_413_on_every_operation(
    api: Api, case: dict[str, Any]
) -> None:
    """Refused before any route reads it, whoever sends it, to whatever route (one that takes
    no body included): the limit is the service's, not a route's."""
    assert len(BODY_OPERATIONS) >= 25
    limit = get_settings().max_body_bytes
    body = json.dumps({"comment": "x" * limit}).encode()
    ids = {"case_id": case["id"], "action_id": "A1", "gate": "dsp_joint_decision"}
    unknown = "00000000-0000-4000-8000-000000000000"
    before, case_before = stored(), snapshot(case["id"])
    for method, path in BODY_OPERATIONS:
        assert "413" in SPEC["paths"][path][method.lower()]["responses"], (method, path)
        url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), unknown), path)
        response = api.client.request(
            method,
            url,
            content=body,
            headers=api.headers("superuser", **{"Content-Type": "application/json"}),
        )
        problem = refused(response, 413, "/problems/payload-too-large")
        assert problem["detail"] == f"The body may be at most {limit} bytes.", (method, path)
        assert "xxxx" not in response.text
    assert stored() == before
    assert snapshot(case["id"]) == case_before


def transitions(case: dict[str, Any]) -> str:
    return f"{CASES}/{case['id']}/transitions"


TRIGGER_DATA_OVER = [
    pytest.param(
        {"notified_on": "2026-06-11", "panel_reference": "p" * (MAX_DATA_TEXT + 1)},
        ["data.panel_reference"],
        f"at most {MAX_DATA_TEXT} characters",
        id="text-too-long",
    ),
    pytest.param(
        {"notified_on": "2026-06-11", "criteria": ["a"] * (MAX_DATA_ITEMS + 1)},
        ["data.criteria"],
        f"at most {MAX_DATA_ITEMS} items",
        id="list-too-long",
    ),
    pytest.param(
        {f"field_{i}": "x" for i in range(MAX_DATA_FIELDS + 1)},
        ["data"],
        f"at most {MAX_DATA_FIELDS} items",
        id="too-many-keys",
    ),
    pytest.param(
        {"k" * (MAX_DATA_KEY + 1): "x"},
        [f"data.{'k' * (MAX_DATA_KEY + 1)}.[key]"],
        f"at most {MAX_DATA_KEY} characters",
        id="key-too-long",
    ),
    pytest.param(
        {"notified_on": "2026-06-11", "x": {"y": "z"}},
        ["data.x"],
        "may not nest deeper",
        id="object-in-data",
    ),
    pytest.param(
        {"notified_on": "2026-06-11", "x": [["a"]]},
        ["data.x"],
        "may not nest deeper",
        id="list-in-a-list",
    ),
    pytest.param(
        {"notified_on": "2026-06-11", "n": MAX_DATA_NUMBER + 1},
        ["data.n"],
        f"between -{MAX_DATA_NUMBER} and {MAX_DATA_NUMBER}",
        id="number-too-large",
    ),
]


@pytest.mark.parametrize(("data", "locs", "message"), TRIGGER_DATA_OVER)
def test_a_trigger_data_over_its_bounds_is_422_naming_the_field(
    api: Api, case: dict[str, Any], data: dict[str, Any], locs: list[str], message: str
) -> None:
    before, case_before = stored(), snapshot(case["id"])
    response = api.client.post(
        transitions(case),
        json={"trigger": "complete_rapid_review", "data": data},
        headers=api.headers("superuser"),
    )
    problem = refused(response, 422, INVALID)
    assert field_locs(problem) == locs
    assert message in problem["errors"][0]["message"]
    assert message in problem["detail"]
    assert stored() == before
    assert snapshot(case["id"]) == case_before


def test_data_within_its_bounds_reaches_the_workflow(api: Api, case: dict[str, Any]) -> None:
    # The bounds are the API's; what suits a trigger is still its workflow's call.
    response = api.client.post(
        transitions(case),
        json={"trigger": "complete_rapid_review", "data": {"k" * MAX_DATA_KEY: "x"}},
        headers=api.headers("superuser"),
    )
    problem = refused(response, 422, INVALID)
    assert f"data.{'k' * MAX_DATA_KEY}" in field_locs(problem)


BODY_FIELDS_OVER = [
    pytest.param(
        "information-requests",
        {"agencies": ["police"], "asked": "a" * 20_001},
        ["asked"],
        id="string-too-long",
    ),
    pytest.param(
        "information-requests",
        {"agencies": ["police", "health"] * 5, "asked": "A chronology."},
        ["agencies"],
        id="list-too-long",
    ),
    pytest.param(
        "transitions",
        {"trigger": "t" * 65, "data": {}},
        ["trigger"],
        id="trigger-name-too-long",
    ),
    pytest.param(
        "transitions",
        {"trigger": "complete_rapid_review", "data": {}, "comment": "c" * 10_001},
        ["comment"],
        id="comment-too-long",
    ),
]


@pytest.mark.parametrize(("route", "body", "locs"), BODY_FIELDS_OVER)
def test_a_body_field_over_its_bound_is_422_naming_it(
    api: Api, case: dict[str, Any], route: str, body: dict[str, Any], locs: list[str]
) -> None:
    before, case_before = stored(), snapshot(case["id"])
    response = api.client.post(
        f"{CASES}/{case['id']}/{route}", json=body, headers=api.headers("superuser")
    )
    problem = refused(response, 422, INVALID)
    assert field_locs(problem) == locs
    assert stored() == before
    assert snapshot(case["id"]) == case_before


@pytest.mark.parametrize(
    ("route", "field"),
    [("information-requests", "asked"), ("links", "note"), ("shares", "reason")],
)
def test_a_body_nested_too_deep_is_422_whatever_the_route(
    api: Api, case: dict[str, Any], route: str, field: str
) -> None:
    """Every request body, not only a trigger's data, refuses nesting deeper than any field
    needs (kit.schemas.MAX_NESTING), before its fields are looked at."""
    nested = "[" * 40 + "]" * 40
    before, case_before = stored(), snapshot(case["id"])
    response = api.client.post(
        f"{CASES}/{case['id']}/{route}",
        content=f'{{"{field}": {nested}}}'.encode(),
        headers=api.headers("superuser", **{"Content-Type": "application/json"}),
    )
    problem = refused(response, 422, INVALID)
    assert "levels deep" in problem["detail"]
    assert stored() == before
    assert snapshot(case["id"]) == case_before


def test_a_webhook_with_too_many_events_is_422(api: Api) -> None:
    before = stored()
    response = api.client.post(
        "/api/v1/webhooks",
        json={
            "url": "https://partner.example.org/cspr",
            "events": ["case.created"] * 21,
            "secret": "whsec_" + "c2VjcmV0" * 4,
        },
        headers=api.headers("admin"),
    )
    assert field_locs(refused(response, 422, INVALID)) == ["events"]
    assert stored() == before


VOTE = {"decision": "agree", "rationale": "Agreed at the meeting."}
EXTENSION = {"new_due_on": "2026-07-31", "reason": "The family moved away."}
PARAMETERS_OVER = [
    pytest.param("GET", "{cases}?q=" + "q" * 101, None, ["query.q"], id="query-string"),
    pytest.param("GET", "{cases}?limit=501", None, ["query.limit"], id="query-integer"),
    pytest.param("GET", "{cases}?cursor=" + "c" * 5_000, None, ["query.cursor"], id="query-cursor"),
    pytest.param(
        "GET",
        "/api/v1/webhooks?partnership=" + "P" * 17,
        None,
        ["query.partnership"],
        id="query-code",
    ),
    pytest.param("POST", "{case}/approvals/" + "g" * 65, VOTE, ["path.gate"], id="path-gate"),
    pytest.param(
        "POST",
        "{case}/deadlines/" + "k" * 65 + "/extensions",
        EXTENSION,
        ["path.key"],
        id="path-clock",
    ),
    pytest.param("GET", "/api/v1/workflows/" + "w" * 65, None, ["path.name"], id="path-workflow"),
]


@pytest.mark.parametrize(("method", "path", "body", "locs"), PARAMETERS_OVER)
def test_a_parameter_over_its_bound_is_422_naming_it(
    api: Api,
    case: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    locs: list[str],
) -> None:
    url = path.format(cases=CASES, case=f"{CASES}/{case['id']}")
    before, case_before = stored(), snapshot(case["id"])
    response = api.client.request(method, url, json=body, headers=api.headers("superuser"))
    problem = refused(response, 422, INVALID)
    assert field_locs(problem) == locs
    # The value is not echoed back (`instance` is the path the client sent, as RFC 9457 has it).
    echoed = json.dumps({k: v for k, v in problem.items() if k != "instance"})
    for long_value in ("q" * 101, "c" * 200, "g" * 65, "k" * 65, "w" * 65):
        assert long_value not in echoed
    assert stored() == before
    assert snapshot(case["id"]) == case_before


@pytest.mark.parametrize(
    ("headers", "loc"),
    [
        pytest.param({"If-Match": '"1", ' * 250}, "header.If-Match", id="if-match"),
        pytest.param(
            {"Idempotency-Key": "k" * 201}, "header.Idempotency-Key", id="idempotency-key"
        ),
    ],
)
def test_a_header_over_its_bound_is_422_naming_it(
    api: Api, case: dict[str, Any], headers: dict[str, str], loc: str
) -> None:
    before, case_before = stored(), snapshot(case["id"])
    response = api.fire(case["id"], "complete_rapid_review", {}, **headers)
    problem = refused(response, 422, INVALID)
    assert field_locs(problem) == [loc]
    assert stored() == before
    assert snapshot(case["id"]) == case_before


def test_an_accept_header_over_its_bound_is_422(api: Api) -> None:
    response = api.client.get(
        "/api/v1/reports/timeliness",
        headers=api.headers("chair", Accept="text/csv, " + "a/b;q=0.1, " * 200),
    )
    assert field_locs(refused(response, 422, INVALID)) == ["header.accept"]


@pytest.mark.parametrize(
    "path",
    [
        "{cases}/" + "x" * 65,
        "{case}/actions/" + "A" * 65,
        "{case}/documents/" + "d" * 65,
    ],
    ids=["case", "action", "document"],
)
def test_a_key_over_its_bound_names_nothing_so_is_404(
    api: Api, case: dict[str, Any], path: str
) -> None:
    """Case, action and document keys are documented as at most 64 characters; a longer one
    names nothing, so it is answered like any unknown key: a 404 (404 is documented for each)."""
    before = stored()
    response = api.client.get(
        path.format(cases=CASES, case=f"{CASES}/{case['id']}"), headers=api.headers("chair")
    )
    problem = assert_problem(response, 404)
    assert problem["type"].endswith("-not-found"), problem
    assert stored() == before


# -- the document upload's multipart fields --------------------------------------------------------


@pytest.fixture
def documents_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from use_documents_dir(tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("data", "locs"),
    [
        pytest.param({"kind": "other", "title": "t" * 201}, ["title"], id="title-too-long"),
        pytest.param({"kind": "other", "title": "t", "x": "y" * 5_000}, ["x"], id="field-too-long"),
        pytest.param(
            {"kind": "other", "title": "t", **{f"f{i}": "v" for i in range(10)}},
            ["body"],
            id="too-many-fields",
        ),
    ],
)
def test_an_upload_field_over_its_bound_is_422_and_stores_nothing(
    documents_dir: Path,
    api: Api,
    case: dict[str, Any],
    data: dict[str, str],
    locs: list[str],
) -> None:
    before, case_before = stored(), snapshot(case["id"])
    response = api.client.post(
        f"{CASES}/{case['id']}/documents",
        files={"file": ("note.txt", b"A note.\n", "text/plain")},
        data=data,
        headers=api.headers("chair"),
    )
    problem = refused(response, 422, INVALID)
    assert field_locs(problem) == locs
    assert document_rows() == []
    assert files_in(documents_dir) == []
    assert stored() == before
    assert snapshot(case["id"]) == case_before
