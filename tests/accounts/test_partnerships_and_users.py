"""Partnerships and users over the API: a platform admin creates partnerships and users anywhere;
a partnership's admin manages its own users; nobody else manages either; no response carries
a password hash."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from cspr_engine.db import get_engine
from tests.conftest import NOW
from tests.factories import PEOPLE, Api, assert_problem, create_platform_admin, set_password


@pytest.fixture
def root(api: Api) -> dict[str, str]:
    """Headers of a platform admin."""
    return {"Authorization": f"Bearer {create_platform_admin(NOW)}"}


def new_user(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "new.person@tw.example",
        "display_name": "New Person",
        "roles": ["business_unit"],
    }
    body.update(overrides)
    return body


def db_user(email: str) -> dict[str, Any]:
    with get_engine().connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM users WHERE email = :e"), {"e": email})
            .mappings()
            .first()
        )
    assert row is not None, email
    return dict(row)


class TestCreatePartnership:
    def test_a_platform_admin_creates_one_and_the_code_is_upper_cased(
        self, api: Api, root: dict[str, str]
    ) -> None:
        response = api.client.post(
            "/api/v1/partnerships",
            json={"code": "nw3", "name": "  North West 3 Partnership "},
            headers=root,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "code", "name", "created_at"}
        assert body["code"] == "NW3"
        assert body["name"] == "North West 3 Partnership"
        assert body["created_at"] == "2026-06-17T09:00:00Z"

    def test_a_taken_code_is_a_409(self, api: Api, root: dict[str, str]) -> None:
        response = api.client.post(
            "/api/v1/partnerships", json={"code": "tw", "name": "Again"}, headers=root
        )
        body = assert_problem(response, 409, "/problems/partnership-exists")
        assert body["code"] == "TW"

    @pytest.mark.parametrize(
        "payload",
        [
            {"code": "T", "name": "Too short"},
            {"code": "ABCDEFGHIJKLMNOPQ", "name": "Too long"},
            {"code": "T-W", "name": "Not alphanumeric"},
            {"code": "NEW", "name": ""},
            {"code": "NEW"},
            {"code": "NEW", "name": "x", "extra": 1},
        ],
    )
    def test_invalid_bodies_are_422(
        self, api: Api, root: dict[str, str], payload: dict[str, Any]
    ) -> None:
        response = api.client.post("/api/v1/partnerships", json=payload, headers=root)
        assert_problem(response, 422, "/problems/invalid-data")

    @pytest.mark.parametrize("who", ["admin", "chair", "scrutineer"])
    def test_anyone_but_a_platform_admin_is_refused(self, api: Api, who: str) -> None:
        response = api.client.post(
            "/api/v1/partnerships", json={"code": "NEW", "name": "New"}, headers=api.headers(who)
        )
        assert_problem(response, 403, "/problems/not-an-administrator")

    def test_without_credentials_it_is_a_401(self, api: Api) -> None:
        response = api.client.post("/api/v1/partnerships", json={"code": "NEW", "name": "New"})
        assert_problem(response, 401, "/problems/unauthenticated")


class TestListPartnerships:
    def test_a_platform_admin_sees_every_partnership_by_code(
        self, api: Api, root: dict[str, str]
    ) -> None:
        response = api.client.get("/api/v1/partnerships", headers=root)
        assert response.status_code == 200, response.text
        assert [p["code"] for p in response.json()["items"]] == ["OT", "TW"]
        assert response.json()["next_cursor"] is None

    def test_pages_follow_the_cursor(self, api: Api, root: dict[str, str]) -> None:
        first = api.client.get("/api/v1/partnerships?limit=1", headers=root).json()
        assert [p["code"] for p in first["items"]] == ["OT"]
        second = api.client.get(
            "/api/v1/partnerships",
            params={"limit": 1, "cursor": first["next_cursor"]},
            headers=root,
        ).json()
        assert [p["code"] for p in second["items"]] == ["TW"]
        assert second["next_cursor"] is None

    def test_a_bad_cursor_is_a_422(self, api: Api, root: dict[str, str]) -> None:
        response = api.client.get("/api/v1/partnerships?cursor=nonsense", headers=root)
        assert_problem(response, 422, "/problems/invalid-query")

    def test_a_partnership_admin_sees_only_its_own(self, api: Api) -> None:
        for code in ("TW", "OT"):
            response = api.client.get("/api/v1/partnerships", headers=api.headers("admin", code))
            assert response.status_code == 200, response.text
            assert [p["code"] for p in response.json()["items"]] == [code]

    @pytest.mark.parametrize("who", ["chair", "dsp_la", "referrer"])
    def test_other_roles_are_refused(self, api: Api, who: str) -> None:
        response = api.client.get("/api/v1/partnerships", headers=api.headers(who))
        assert_problem(response, 403, "/problems/not-an-administrator")


class TestCreateUser:
    def test_an_admin_adds_a_user_to_its_own_partnership(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/users",
            json=new_user(email=" New.Person@TW.example ", roles=["dsp"], agency="police"),
            headers=api.headers("admin"),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["email"] == "new.person@tw.example"
        assert body["partnership"] == "TW"
        assert body["roles"] == ["dsp"]
        assert body["agency"] == "police"
        assert body["service_account"] is False
        assert body["has_password"] is False
        assert body["is_platform_admin"] is False
        assert "password_hash" not in body
        assert db_user("new.person@tw.example")["partnership_id"] is not None

    def test_naming_its_own_partnership_is_allowed(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/users", json=new_user(partnership="tw"), headers=api.headers("admin")
        )
        assert response.status_code == 201, response.text

    def test_an_admin_cannot_add_users_to_another_partnership(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/users", json=new_user(partnership="OT"), headers=api.headers("admin")
        )
        assert_problem(response, 403, "/problems/not-an-administrator")
        with get_engine().connect() as conn:
            count = conn.execute(
                text("SELECT COUNT(*) FROM users WHERE email = 'new.person@tw.example'")
            ).scalar_one()
        assert count == 0

    def test_a_platform_admin_adds_users_to_a_named_partnership(
        self, api: Api, root: dict[str, str]
    ) -> None:
        response = api.client.post(
            "/api/v1/users", json=new_user(partnership="OT", email="x@ot.example"), headers=root
        )
        assert response.status_code == 201, response.text
        assert response.json()["partnership"] == "OT"

    def test_a_platform_admin_must_name_an_existing_partnership(
        self, api: Api, root: dict[str, str]
    ) -> None:
        missing = assert_problem(
            api.client.post("/api/v1/users", json=new_user(), headers=root), 422
        )
        assert missing["errors"][0]["loc"] == "partnership"
        unknown = assert_problem(
            api.client.post("/api/v1/users", json=new_user(partnership="ZZ"), headers=root), 422
        )
        assert unknown["errors"][0]["loc"] == "partnership"

    def test_a_service_account_is_marked_as_one(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/users",
            json=new_user(
                email="cms@police.example",
                roles=["referrer"],
                agency="police",
                service_account=True,
            ),
            headers=api.headers("admin"),
        )
        assert response.status_code == 201, response.text
        assert response.json()["service_account"] is True
        assert db_user("cms@police.example")["is_service_account"] in (True, 1)

    @pytest.mark.parametrize(
        ("overrides", "type_"),
        [
            ({"roles": ["wizard"]}, "/problems/invalid-data"),
            ({"roles": []}, "/problems/invalid-data"),
            ({"agency": "fire_brigade"}, "/problems/invalid-data"),
            ({"email": "not-an-email"}, "/problems/invalid-data"),
            ({"display_name": ""}, "/problems/invalid-data"),
            ({"is_platform_admin": True}, "/problems/invalid-data"),
            ({"password_hash": "x"}, "/problems/invalid-data"),
            # The service's own rule: a DSP acts for one of the three statutory partners.
            ({"roles": ["dsp"], "agency": "education"}, "/problems/unprocessable"),
            ({"roles": ["dsp"]}, "/problems/unprocessable"),
        ],
    )
    def test_invalid_roles_agencies_and_fields_are_422(
        self, api: Api, overrides: dict[str, Any], type_: str
    ) -> None:
        response = api.client.post(
            "/api/v1/users", json=new_user(**overrides), headers=api.headers("admin")
        )
        assert_problem(response, 422, type_)

    def test_a_taken_email_is_a_409_whatever_its_case(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/users", json=new_user(email="Chair@TW.example"), headers=api.headers("admin")
        )
        assert_problem(response, 409, "/problems/email-taken")

    @pytest.mark.parametrize("who", ["chair", "business", "scrutineer", "referrer"])
    def test_only_admins_create_users(self, api: Api, who: str) -> None:
        response = api.client.post("/api/v1/users", json=new_user(), headers=api.headers(who))
        assert_problem(response, 403, "/problems/not-an-administrator")


class TestListUsers:
    def test_an_admin_lists_its_partnerships_users_by_email(self, api: Api) -> None:
        response = api.client.get("/api/v1/users?limit=500", headers=api.headers("admin"))
        assert response.status_code == 200, response.text
        emails = [u["email"] for u in response.json()["items"]]
        assert emails == sorted(f"{key}@tw.example" for key, _, _ in PEOPLE)
        assert {u["partnership"] for u in response.json()["items"]} == {"TW"}

    def test_no_password_hash_is_ever_shown(self, api: Api) -> None:
        set_password("chair@tw.example")
        response = api.client.get("/api/v1/users", headers=api.headers("admin"))
        assert "$argon2" not in response.text
        assert "password_hash" not in response.text
        chair = next(u for u in response.json()["items"] if u["email"] == "chair@tw.example")
        assert chair["has_password"] is True

    def test_pages_follow_the_cursor(self, api: Api) -> None:
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 5}
        for _ in range(10):
            page = api.client.get("/api/v1/users", params=params, headers=api.headers("admin"))
            seen += [u["email"] for u in page.json()["items"]]
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]
        assert seen == sorted(f"{key}@tw.example" for key, _, _ in PEOPLE)

    def test_an_admin_cannot_list_another_partnership(self, api: Api) -> None:
        response = api.client.get("/api/v1/users?partnership=OT", headers=api.headers("admin"))
        assert_problem(response, 403, "/problems/not-an-administrator")

    def test_a_platform_admin_lists_one_partnership_or_everyone(
        self, api: Api, root: dict[str, str]
    ) -> None:
        one = api.client.get("/api/v1/users?partnership=ot&limit=500", headers=root).json()
        assert {u["partnership"] for u in one["items"]} == {"OT"}
        everyone = api.client.get("/api/v1/users?limit=500", headers=root).json()
        assert len(everyone["items"]) == 2 * len(PEOPLE) + 1
        platform = [u for u in everyone["items"] if u["is_platform_admin"]]
        assert [u["partnership"] for u in platform] == [None]
        unknown = api.client.get("/api/v1/users?partnership=ZZ", headers=root)
        assert_problem(unknown, 422, "/problems/invalid-query")

    @pytest.mark.parametrize("who", ["chair", "qpd", "dsp_health"])
    def test_other_roles_are_refused(self, api: Api, who: str) -> None:
        assert_problem(api.client.get("/api/v1/users", headers=api.headers(who)), 403)
