"""API tokens: random, shown once, stored hashed, named, expiring, revocable (at once), their
last use recorded; a user manages its own, an admin those of its partnership's users; another
partnership's users and tokens are 404; creation is rate-limited per user."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock
from tests.conftest import NOW
from tests.factories import Api, assert_problem, create_platform_admin


def create(
    api: Api, who: str, for_: str | None = None, partnership: str = "TW", **body: Any
) -> dict[str, Any]:
    user_id = api.directory.user_ids[partnership][for_ or who]
    response = api.client.post(
        "/api/v1/tokens",
        json={"user_id": user_id, "name": "laptop", **body},
        headers=api.headers(who, partnership),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def service_account(api: Api, partnership: str) -> str:
    """A partner case system's account in `partnership`, created by its admin; its id."""
    response = api.client.post(
        "/api/v1/users",
        json={
            "email": f"cms@{partnership.lower()}-police.example",
            "display_name": "Police case system",
            "roles": ["referrer"],
            "agency": "police",
            "service_account": True,
        },
        headers=api.headers("admin", partnership),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_rows() -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM api_tokens")).mappings()]


def listed(api: Api, who: str, user_id: str | None = None) -> list[dict[str, Any]]:
    params = {"user_id": user_id} if user_id else {}
    response = api.client.get("/api/v1/tokens", params=params, headers=api.headers(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestCreate:
    def test_any_user_creates_a_token_for_itself_and_it_works(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["referrer"], "name": " case system "},
            headers=api.headers("referrer"),
        )
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"id", "token", "name", "user_id", "created_at", "expires_at"}
        assert body["name"] == "case system"
        assert body["token"].startswith("cspr_")
        assert len(body["token"]) > 40
        assert body["expires_at"] is None
        me = api.client.get("/api/v1/auth/me", headers=bearer(body["token"]))
        assert me.json()["user"]["email"] == "referrer@tw.example"
        assert me.json()["authenticated_by"] == "token"

    def test_the_token_is_stored_hashed_and_never_shown_again(self, api: Api) -> None:
        body = create(api, "chair")
        rows = [
            r for r in token_rows() if str(r["id"]).replace("-", "") == body["id"].replace("-", "")
        ]
        assert len(rows) == 1
        assert rows[0]["token_hash"] == hashlib.sha256(body["token"].encode()).hexdigest()
        assert all(
            body["token"] not in str(value) for row in token_rows() for value in row.values()
        )
        listing = api.client.get("/api/v1/tokens", headers=api.headers("chair"))
        assert body["token"] not in listing.text
        assert all("token" not in item for item in listing.json()["items"])
        assert {item["name"] for item in listing.json()["items"]} == {"tests", "laptop"}

    def test_tokens_differ_each_time(self, api: Api) -> None:
        assert create(api, "chair")["token"] != create(api, "chair")["token"]

    def test_an_admin_creates_tokens_for_its_service_accounts(self, api: Api) -> None:
        system = service_account(api, "TW")
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": system, "name": "laptop"},
            headers=api.headers("admin"),
        )
        assert response.status_code == 201, response.text
        assert response.json()["user_id"] == system
        rows = [r for r in token_rows() if r["name"] == "laptop"]
        assert rows[0]["note"] == f"created by user {api.directory.user_ids['TW']['admin']}"

    def test_an_admin_cannot_mint_a_token_for_a_person(self, api: Api) -> None:
        # It would read cases as that person: people create their own tokens.
        before = len(token_rows())
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["referrer"], "name": "x"},
            headers=api.headers("admin"),
        )
        assert_problem(response, 403, "/problems/token-issue-forbidden")
        assert len(token_rows()) == before

    def test_a_platform_admin_creates_tokens_for_any_service_account(self, api: Api) -> None:
        root = create_platform_admin(NOW)
        system = service_account(api, "OT")
        response = api.client.post(
            "/api/v1/tokens", json={"user_id": system, "name": "for OT"}, headers=bearer(root)
        )
        assert response.status_code == 201, response.text
        person = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["OT"]["chair"], "name": "x"},
            headers=bearer(root),
        )
        assert_problem(person, 403, "/problems/token-issue-forbidden")

    def test_another_partnerships_user_is_not_found(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["OT"]["chair"], "name": "x"},
            headers=api.headers("admin"),
        )
        assert_problem(response, 404, "/problems/user-not-found")

    def test_a_non_admin_cannot_create_tokens_for_a_colleague(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "x"},
            headers=api.headers("business"),
        )
        assert_problem(response, 404, "/problems/user-not-found")

    def test_an_unknown_user_is_not_found(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": str(uuid.uuid4()), "name": "x"},
            headers=api.headers("admin"),
        )
        assert_problem(response, 404, "/problems/user-not-found")

    @pytest.mark.parametrize(
        ("body", "type_"),
        [
            ({"expires_at": "2026-06-17T08:59:59Z"}, "/problems/unprocessable"),
            ({"expires_at": "2026-06-17T09:00:00Z"}, "/problems/unprocessable"),
            ({"expires_at": "2026-07-01T09:00:00"}, "/problems/invalid-data"),  # no offset
            ({"expires_at": "next week"}, "/problems/invalid-data"),
            ({"name": ""}, "/problems/invalid-data"),
            ({"name": "x" * 101}, "/problems/invalid-data"),
            ({"user_id": "not-a-uuid"}, "/problems/invalid-data"),
            ({"secret": "mine"}, "/problems/invalid-data"),
        ],
    )
    def test_invalid_bodies_are_422(self, api: Api, body: dict[str, Any], type_: str) -> None:
        payload = {"user_id": api.directory.user_ids["TW"]["chair"], "name": "x", **body}
        response = api.client.post("/api/v1/tokens", json=payload, headers=api.headers("chair"))
        assert_problem(response, 422, type_)


class TestExpiry:
    def test_an_expired_token_is_refused(self, api: Api, clock: FixedClock) -> None:
        body = create(api, "chair", expires_at="2026-06-18T09:00:00Z")
        assert body["expires_at"] == "2026-06-18T09:00:00Z"
        assert api.client.get("/api/v1/auth/me", headers=bearer(body["token"])).status_code == 200
        clock.set(NOW + timedelta(days=1))
        response = api.client.get("/api/v1/auth/me", headers=bearer(body["token"]))
        assert_problem(response, 401, "/problems/unauthenticated")


class TestRevoke:
    def test_a_revoked_token_stops_working_at_once(self, api: Api, clock: FixedClock) -> None:
        body = create(api, "chair")
        assert api.client.get("/api/v1/workflows", headers=bearer(body["token"])).status_code == 200
        clock.set(NOW + timedelta(minutes=1))
        response = api.client.delete(f"/api/v1/tokens/{body['id']}", headers=api.headers("chair"))
        assert response.status_code == 204, response.text
        assert response.content == b""
        refused = api.client.get("/api/v1/workflows", headers=bearer(body["token"]))
        assert_problem(refused, 401, "/problems/unauthenticated")
        item = next(t for t in listed(api, "chair") if t["id"] == body["id"])
        assert item["revoked_at"] == "2026-06-17T09:01:00Z"

    def test_revoking_twice_keeps_the_first_time(self, api: Api, clock: FixedClock) -> None:
        body = create(api, "chair")
        api.client.delete(f"/api/v1/tokens/{body['id']}", headers=api.headers("chair"))
        clock.set(NOW + timedelta(hours=1))
        again = api.client.delete(f"/api/v1/tokens/{body['id']}", headers=api.headers("chair"))
        assert again.status_code == 204
        item = next(t for t in listed(api, "chair") if t["id"] == body["id"])
        assert item["revoked_at"] == "2026-06-17T09:00:00Z"

    def test_an_admin_revokes_its_partnerships_tokens(self, api: Api) -> None:
        body = create(api, "referrer")
        response = api.client.delete(f"/api/v1/tokens/{body['id']}", headers=api.headers("admin"))
        assert response.status_code == 204
        assert api.client.get("/api/v1/workflows", headers=bearer(body["token"])).status_code == 401

    @pytest.mark.parametrize(
        ("who", "partnership"), [("admin", "OT"), ("chair", "OT"), ("business", "TW")]
    )
    def test_others_get_404_and_the_token_keeps_working(
        self, api: Api, who: str, partnership: str
    ) -> None:
        body = create(api, "referrer")
        response = api.client.delete(
            f"/api/v1/tokens/{body['id']}", headers=api.headers(who, partnership)
        )
        assert_problem(response, 404, "/problems/token-not-found")
        assert api.client.get("/api/v1/workflows", headers=bearer(body["token"])).status_code == 200

    def test_an_unknown_or_malformed_id(self, api: Api) -> None:
        unknown = api.client.delete(f"/api/v1/tokens/{uuid.uuid4()}", headers=api.headers("admin"))
        assert_problem(unknown, 404, "/problems/token-not-found")
        malformed = api.client.delete("/api/v1/tokens/nope", headers=api.headers("admin"))
        assert_problem(malformed, 422)

    def test_a_user_may_revoke_the_token_it_is_using(self, api: Api) -> None:
        body = create(api, "chair")
        response = api.client.delete(f"/api/v1/tokens/{body['id']}", headers=bearer(body["token"]))
        assert response.status_code == 204
        assert api.client.get("/api/v1/workflows", headers=bearer(body["token"])).status_code == 401


class TestList:
    def test_last_use_is_recorded_every_few_minutes(self, api: Api, clock: FixedClock) -> None:
        body = create(api, "chair")
        item = next(t for t in listed(api, "chair") if t["id"] == body["id"])
        assert item["last_used_at"] is None
        api.client.get("/api/v1/workflows", headers=bearer(body["token"]))

        def last_used() -> str:
            return next(t for t in listed(api, "chair") if t["id"] == body["id"])["last_used_at"]

        assert last_used() == "2026-06-17T09:00:00Z"
        clock.set(NOW + timedelta(minutes=2))
        api.client.get("/api/v1/workflows", headers=bearer(body["token"]))
        assert last_used() == "2026-06-17T09:00:00Z"  # throttled: not a write per request
        clock.set(NOW + timedelta(minutes=6))
        api.client.get("/api/v1/workflows", headers=bearer(body["token"]))
        assert last_used() == "2026-06-17T09:06:00Z"

    def test_an_admin_lists_a_users_tokens_but_not_another_partnerships(self, api: Api) -> None:
        create(api, "referrer")
        items = listed(api, "admin", api.directory.user_ids["TW"]["referrer"])
        assert sorted(t["name"] for t in items) == ["laptop", "tests"]
        other = api.client.get(
            "/api/v1/tokens",
            params={"user_id": api.directory.user_ids["OT"]["referrer"]},
            headers=api.headers("admin"),
        )
        assert_problem(other, 404, "/problems/user-not-found")

    def test_a_user_cannot_list_a_colleagues_tokens(self, api: Api) -> None:
        response = api.client.get(
            "/api/v1/tokens",
            params={"user_id": api.directory.user_ids["TW"]["chair"]},
            headers=api.headers("business"),
        )
        assert_problem(response, 404, "/problems/user-not-found")

    def test_pages_follow_the_cursor(self, api: Api, clock: FixedClock) -> None:
        for minute in range(1, 4):
            clock.set(NOW + timedelta(minutes=minute))
            create(api, "chair", name=f"t{minute}")
        first = api.client.get("/api/v1/tokens?limit=2", headers=api.headers("chair")).json()
        second = api.client.get(
            "/api/v1/tokens",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=api.headers("chair"),
        ).json()
        names = [t["name"] for t in first["items"] + second["items"]]
        assert names == ["tests", "t1", "t2", "t3"]
        assert second["next_cursor"] is None


class TestRateLimit:
    def test_at_most_twenty_tokens_per_user_per_hour(self, api: Api, clock: FixedClock) -> None:
        clock.set(NOW + timedelta(hours=2))  # the directory's own token is out of the hour
        for _ in range(20):
            create(api, "chair")
        response = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "one more"},
            headers=api.headers("chair"),
        )
        body = assert_problem(response, 429, "/problems/token-rate-limited")
        assert response.headers["retry-after"] == "3600"
        assert body["retry_after"] == 3600
        assert len([r for r in token_rows() if r["name"] == "one more"]) == 0
        # An admin cannot get round it either: it issues no tokens to people at all.
        by_admin = api.client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "one more"},
            headers=api.headers("admin"),
        )
        assert_problem(by_admin, 403, "/problems/token-issue-forbidden")
        clock.set(NOW + timedelta(hours=3, seconds=1))
        create(api, "chair")
