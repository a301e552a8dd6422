"""The committed OpenAPI document (`openapi/openapi.json`) and how it is produced: FastAPI's
document, completed with what FastAPI cannot know from the routes alone (the problem schema
every error is sent as, and the headers every response carries)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic.json_schema import models_json_schema

from cspr_engine.config import PROJECT_ROOT
from cspr_engine.errors import Problem
from cspr_engine.kit.http import HEADER_COMPONENTS, header_ref

SPEC_PATH = PROJECT_ROOT / "openapi" / "openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"
METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})
# Added to every response: the request id (kit.requestid) is sent on each one.
EVERY_RESPONSE = ("X-Request-ID",)
# Added to every response of a status: a 429 says when to try again (errors.TooManyRequests).
BY_STATUS = {"429": ("Retry-After",)}


def operation_id(route: APIRoute) -> str:
    tag = str(route.tags[0]) if route.tags else "default"
    return f"{tag}-{route.name}"


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    """Completes FastAPI's document in place: the Problem schema (errors.error_responses
    names it, but declares no model, so that no other media type is listed for an error) and
    the response headers of kit.http's components."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, problem = models_json_schema([(Problem, "validation")], ref_template=REF_TEMPLATE)
    for name, schema in problem["$defs"].items():
        schemas.setdefault(name, schema)
    components["headers"] = dict(sorted(HEADER_COMPONENTS.items()))
    for item in spec.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                for name in (*EVERY_RESPONSE, *BY_STATUS.get(status, ())):
                    headers.setdefault(name, header_ref(name))
    return spec


def install(app: FastAPI) -> None:
    """`app.openapi()` (and so `/openapi.json` and `render`) serves the completed document,
    built once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(app: FastAPI) -> str:
    spec: dict[str, Any] = app.openapi()
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
