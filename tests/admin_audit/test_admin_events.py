"""The administrative audit: every account, token, password, calendar and configuration change
is an append-only event (who, what, before and after, when, request id), read by the
partnership's panel chair and scrutineer, never by another partnership; a service account
that reads cases, or a password set by someone else, is also told to the panel chair."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cspr_engine.accounts import service as accounts_service
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import (
    Api,
    Directory,
    assert_problem,
    create_platform_admin,
    set_password,
    sign_in,
)

EVENTS = "/api/v1/admin-events"
SERVICE_ACCOUNT = {
    "email": "police-system@tw.example",
    "display_name": "Police case system",
    "partnership": "TW",
    "roles": ["referrer"],
    "agency": "police",
    "service_account": True,
}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def events(api: Api, who: str, partnership: str = "TW", **query: Any) -> list[dict[str, Any]]:
    response = api.client.get(EVENTS, params=query, headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def inbox(api: Api, who: str) -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/alerts", headers=api.headers(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_case_reading_service_account_is_recorded_and_told_to_the_chair(
    api: Api, directory: Directory
) -> None:
    created = api.client.post("/api/v1/users", json=SERVICE_ACCOUNT, headers=api.headers("admin"))
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    token = api.client.post(
        "/api/v1/tokens", json={"user_id": user_id, "name": "police"}, headers=api.headers("admin")
    )
    assert token.status_code == 201, token.text

    for reader in ("scrutineer", "chair"):
        seen = events(api, reader)
        kinds = {(e["kind"], e["subject_id"]) for e in seen}
        assert {("token.issued", token.json()["id"]), ("user.created", user_id)} <= kinds
        [made] = [e for e in seen if e["subject_id"] == user_id]
        assert made["partnership"] == "TW"
        assert made["actor"]["id"] == directory.user_ids["TW"]["admin"]
        assert made["after"] == {
            "email": "police-system@tw.example",
            "display_name": "Police case system",
            "roles": ["referrer"],
            "agency": "police",
            "service_account": True,
            "platform_admin": False,
        }
        assert made["before"] is None
        assert made["request_id"] == created.headers["x-request-id"]
    # The secret is shown once to the admin, and is nowhere in the record.
    listed = api.client.get(EVENTS, headers=api.headers("scrutineer")).text
    assert token.json()["token"] not in listed

    [alert] = [a for a in inbox(api, "chair") if a["type"] == "admin.case_reader_created"]
    assert alert["case_id"] is None
    assert alert["data"]["subject"] == (
        "A service account that reads case records was created: Police case system (referrer)"
    )
    assert alert["data"]["by"] == directory.user_ids["TW"]["admin"]
    # It is the chair's to know, not everyone's, and not the other partnership's.
    assert not [a for a in inbox(api, "business") if a["type"].startswith("admin.")]
    assert [e for e in events(api, "chair", "OT") if e["subject_id"] == user_id] == []


def test_a_person_who_reads_no_cases_is_recorded_without_an_alert(api: Api) -> None:
    body = {**SERVICE_ACCOUNT, "roles": ["admin"], "agency": None, "email": "ops@tw.example"}
    created = api.client.post("/api/v1/users", json=body, headers=api.headers("admin"))
    assert created.status_code == 201, created.text
    made = [e for e in events(api, "scrutineer") if e["subject_id"] == created.json()["id"]]
    assert [e["kind"] for e in made] == ["user.created"]
    assert not [a for a in inbox(api, "chair") if a["type"].startswith("admin.")]


def test_an_administrator_setting_the_chairs_password_is_recorded_and_told(
    api: Api, client: TestClient, directory: Directory
) -> None:
    set_password("admin@tw.example")
    signed = sign_in(client, "admin@tw.example")
    csrf = signed.json()["csrf_token"]
    chair = directory.user_ids["TW"]["chair"]
    response = client.post(
        f"/ui/admin/users/{chair}/password",
        data={"csrf_token": csrf, "password": "a long enough passphrase"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    sets = [e for e in events(api, "scrutineer") if e["kind"] == "password.set"]
    # The admin's own was set at the command line first (the test's set-up): both are here.
    assert {e["subject_id"]: e["actor"] is None for e in sets} == {
        chair: False,
        directory.user_ids["TW"]["admin"]: True,
    }
    [event] = [e for e in sets if e["subject_id"] == chair]
    assert event["actor"]["id"] == directory.user_ids["TW"]["admin"]
    assert event["after"] == {"by_the_person": False, "sessions_ended": True}
    assert "a long enough passphrase" not in str(event)
    # The administrator's act is told; the command line's reset is recorded, not told.
    told = [a["data"]["subject"] for a in inbox(api, "chair") if a["type"] == "admin.password_set"]
    assert told == ["The password of chair was set by an administrator"]


def test_the_record_is_read_by_chair_and_scrutineer_only(api: Api) -> None:
    for who in ("admin", "business", "dsp_la", "lsp_la", "referrer", "qpd"):
        problem = assert_problem(
            api.client.get(EVENTS, headers=api.headers(who)), 403, "/problems/forbidden"
        )
        assert "panel chair and scrutineer" in problem["detail"]


def test_calendar_changes_are_the_platforms_record(api: Api, clock: FixedClock) -> None:
    root = {"Authorization": f"Bearer {create_platform_admin(NOW)}"}
    added = api.client.post(
        "/api/v1/calendar/holidays",
        json={"date": "2026-06-26", "title": "Extra bank holiday", "reason": "Proclaimed."},
        headers=root,
    )
    assert added.status_code == 201, added.text
    clock.set(NOW + timedelta(minutes=5))
    withdrawn = api.client.post(
        "/api/v1/calendar/holidays/2026-06-26/withdrawal", json={"reason": "Revoked."}, headers=root
    )
    assert withdrawn.status_code == 200, withdrawn.text
    everything = api.client.get(EVENTS, headers=root).json()["items"]
    platform = [e for e in everything if e["subject_type"] == "calendar"]
    assert [(e["kind"], e["partnership"], e["subject_id"]) for e in platform] == [
        ("calendar.day_withdrawn", None, "2026-06-26"),
        ("calendar.day_added", None, "2026-06-26"),
    ]
    assert platform[1]["after"] == {
        "title": "Extra bank holiday",
        "reason": "Proclaimed.",
        "clocks_moved": 0,
    }
    # A partnership's readers see their partnership's record, not the platform's.
    assert [e for e in events(api, "scrutineer") if e["subject_type"] == "calendar"] == []
    only_tw = api.client.get(EVENTS, params={"partnership": "TW"}, headers=root).json()["items"]
    assert all(e["partnership"] == "TW" for e in only_tw)


def test_a_configuration_change_keeps_before_and_after(api: Api) -> None:
    path = "/api/v1/partnerships/TW/workflows/cspr/configuration"
    current = api.client.get(path, headers=api.headers("admin"))
    assert current.status_code == 200, current.text
    setting = next(iter(current.json()["settings"]))
    response = api.client.put(
        path,
        json={"values": {}, "reason": "Back to the defaults."},
        headers=api.headers("admin"),
    )
    assert response.status_code == 200, response.text
    [event] = [e for e in events(api, "chair") if e["kind"] == "configuration.changed"]
    assert event["subject_id"] == "cspr:1"
    assert event["before"] is None
    assert event["after"] == {"version": 1, "values": {}, "reason": "Back to the defaults."}
    assert setting  # the workflow has settings a partnership may change


def test_the_record_cannot_be_changed_on_postgresql(api: Api, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("the append-only trigger is PostgreSQL's")
    created = api.client.post("/api/v1/users", json=SERVICE_ACCOUNT, headers=api.headers("admin"))
    assert created.status_code == 201
    for statement in ("UPDATE admin_events SET kind = 'x'", "DELETE FROM admin_events"):
        with pytest.raises(DBAPIError, match="admin_events is append-only"):
            with get_engine().begin() as conn:
                conn.execute(text(statement))


def test_the_page_shows_the_record_to_the_chair(
    api: Api, client: TestClient, directory: Directory
) -> None:
    created = api.client.post("/api/v1/users", json=SERVICE_ACCOUNT, headers=api.headers("admin"))
    assert created.status_code == 201
    set_password("chair@tw.example")
    assert sign_in(client, "chair@tw.example").status_code == 200
    page = client.get("/ui/administrative-record")
    assert page.status_code == 200
    assert 'href="/ui/administrative-record"' in page.text  # in the menu
    row = page.text.split('data-kind="user.created"')[1].split("</tr>")[0]
    assert "User created" in row
    assert "admin (admin@tw.example)" in row
    assert "police-system@tw.example" in row
    alerts = client.get("/ui/alerts").text
    assert "A service account that reads case records was created" in alerts


def test_the_page_tells_others_it_is_not_theirs(client: TestClient, directory: Directory) -> None:
    set_password("business@tw.example")
    assert sign_in(client, "business@tw.example").status_code == 200
    page = client.get("/ui/administrative-record")
    assert page.status_code == 403
    assert "read by the partnership's panel chair and scrutineer" in html.unescape(page.text)
    assert 'href="/ui/administrative-record"' not in page.text
