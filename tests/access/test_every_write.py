"""No partnership-scoped role changes another partnership's data through any endpoint: every
write operation of the app's own OpenAPI document (so a route added later is covered without a
word here), called by every user of partnership OT with partnership TW's objects in its path
and the operation's own example as its body, changes no row that belongs to TW, and where the
path names a TW object it is refused."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import ApiToken, Partnership
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.kit.tables import metadata
from tests.factories import PEOPLE, Api, Directory

# Rows that record the attempt itself, not TW's data.
NOT_DATA = {"access_events", "sign_in_attempts", "idempotency_keys", "alembic_version"}
WRITES = ("post", "put", "patch", "delete")


def tw_rows(directory: Directory) -> dict[str, list[str]]:
    """Every row that belongs to TW: by its partnership, its case or its user."""
    tw_users = [uuid.UUID(u) for u in directory.user_ids["TW"].values()]
    out: dict[str, list[str]] = {}
    with Session(get_engine()) as session:
        tw = session.exec(select(Partnership.id).where(col(Partnership.code) == "TW")).one()
        cases = list(session.exec(select(Case.id).where(col(Case.partnership_id) == tw)))
    with get_engine().connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in NOT_DATA:
                continue
            columns = table.columns
            if "partnership_id" in columns:
                query = table.select().where(columns["partnership_id"] == tw)
            elif "case_id" in columns:
                query = table.select().where(columns["case_id"].in_(cases))
            elif "user_id" in columns:
                query = table.select().where(columns["user_id"].in_(tw_users))
            elif table.name in ("partnerships", "calendar_additions"):
                query = table.select()  # the partnerships themselves; the national calendar
            else:
                continue
            out[table.name] = sorted(repr(tuple(row)) for row in conn.execute(query))
    return out


def tw_objects(api: Api, directory: Directory) -> dict[str, str]:
    """TW's objects to name in paths, made through the API as TW's own users would."""
    case = api.create_case()
    other = api.create_case(partner_reference="TW-OTHER-1")
    link = api.client.post(
        f"/api/v1/cases/{case['id']}/links",
        json={"case": other["reference"], "type": "related", "reason": "Same family."},
        headers=api.headers("chair"),
    )
    webhook = api.client.post(
        "/api/v1/webhooks",
        json={"url": "https://partner.example.org/tw", "events": ["*"]},
        headers=api.headers("admin"),
    )
    assert webhook.status_code == 201, webhook.text
    with Session(get_engine()) as session:
        token_id = session.exec(
            select(ApiToken.id).where(
                col(ApiToken.user_id) == uuid.UUID(directory.user_ids["TW"]["chair"])
            )
        ).first()
    assert token_id is not None
    link_id = link.json()["id"] if link.status_code == 201 else str(uuid.uuid4())
    return {
        "case_id": case["id"],
        "link_id": link_id,
        "webhook_id": webhook.json()["id"],
        "token_id": str(token_id),
        "code": "TW",
        "workflow": "cspr",
        "gate": "dsp_joint_decision",
        "key": "rapid_review",
        "day": "2026-06-26",
    }


def example_body(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema is None:
        return None
    examples = schema.get("examples") or []
    body = dict(examples[0]) if examples else {}
    if "partnership" in body or "partnership" in str(schema):
        body["partnership"] = "TW"  # where a body may name a partnership, it names TW's
    return body


def write_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    resolved = app.openapi()
    components = resolved.get("components", {}).get("schemas", {})
    found = []
    for path, operations in sorted(resolved["paths"].items()):
        for method, operation in operations.items():
            if method not in WRITES:
                continue
            schema_ref = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref", "")
            )
            if schema_ref:
                name = schema_ref.rsplit("/", 1)[-1]
                operation = {
                    **operation,
                    "requestBody": {
                        "content": {"application/json": {"schema": components.get(name, {})}}
                    },
                }
            found.append((method, path, operation))
    return found


def test_every_write_is_covered(app: FastAPI) -> None:
    """The list is the app's own: at least the writes known today, every one with a path this
    test can fill."""
    operations = write_operations(app)
    assert len(operations) >= 28
    known = {
        *("case_id", "action_id", "request_id", "document_id", "link_id", "share_id"),
        *("webhook_id", "token_id", "feed_id", "code", "workflow", "gate", "key", "day"),
    }
    for _method, path, _operation in operations:
        assert set(re.findall(r"{(\w+)}", path)) <= known, path


@pytest.mark.parametrize("who", [key for key, _roles, _agency in PEOPLE])
def test_no_other_partnership_user_changes_tw_through_any_write(
    app: FastAPI, api: Api, directory: Directory, who: str
) -> None:
    objects = tw_objects(api, directory)
    before = tw_rows(directory)
    answered: dict[str, int] = {}
    for method, path, operation in write_operations(app):
        filled = re.sub(r"{(\w+)}", lambda m: objects.get(m.group(1), str(uuid.uuid4())), path)
        body = example_body(operation)
        kwargs: dict[str, Any] = {"headers": api.headers(who, "OT")}
        if body is not None:
            kwargs["json"] = body
        response = api.client.request(method.upper(), filled, **kwargs)
        answered[f"{method.upper()} {path}"] = response.status_code
        assert response.status_code < 500, (method, path, response.text)
        if any(f"{{{k}}}" in path for k in objects):
            assert response.status_code >= 400, (who, method, path, response.text)
    # Whatever each answered, nothing of TW's changed.
    after = tw_rows(directory)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, (who, list(changed), answered)
