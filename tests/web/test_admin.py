"""The administration pages (/ui/admin): users and passwords, API tokens, webhooks and the
calendar, over the API's own route functions and permission checks. Each test reads the page's
HTML and the database, so a page that claims a change it did not make (or makes one it should
have refused) fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import ApiToken, User
from cspr_engine.alerts.models import WebhookSubscription
from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import CalendarAddition
from cspr_engine.kit.clock import FixedClock
from tests.factories import (
    PEOPLE,
    Api,
    Directory,
    create_platform_admin,
    set_password,
    sign_in,
)

NOW = datetime(2026, 6, 17, 9, 0, tzinfo=UTC)
PAGES = [
    "/ui/admin",
    "/ui/admin/users",
    "/ui/admin/users/new",
    "/ui/admin/tokens",
    "/ui/admin/tokens/new",
    "/ui/admin/webhooks",
    "/ui/admin/webhooks/new",
    "/ui/admin/configuration",
    "/ui/admin/calendar",
]
HOOK = "https://hooks.partner.example/cspr"


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its production cost (64 MiB) takes a third of a second per hash, and every
    test here signs someone in; the password rules under test do not depend on the cost."""
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def signed_in(client: TestClient, email: str) -> str:
    """Sign `email` in (the session cookie stays on `client`); returns the CSRF token."""
    set_password(email)
    response = sign_in(client, email)
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


@pytest.fixture
def tw_admin(client: TestClient, directory: Directory) -> str:
    return signed_in(client, "admin@tw.example")


def post(client: TestClient, url: str, data: dict[str, Any]) -> httpx.Response:
    return client.post(url, data=data, follow_redirects=False)


def redirect_target(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def db_user(email: str) -> User | None:
    with Session(get_engine()) as session:
        return accounts_repository.user_by_email(session, email)


def count(model: Any) -> int:
    with Session(get_engine()) as session:
        return len(session.exec(select(model)).all())


def tokens_of(email: str) -> list[ApiToken]:
    user = db_user(email)
    assert user is not None
    with Session(get_engine()) as session:
        return list(session.exec(select(ApiToken).where(col(ApiToken.user_id) == user.id)))


def make_service_account(code: str, email: str) -> User:
    with Session(get_engine(), expire_on_commit=False) as session:
        partnership = accounts_repository.partnership_by_code(session, code)
        user = accounts_service.create_user(
            session=session,
            email=email,
            display_name=f"Police case system ({code})",
            partnership=partnership,
            roles=["referrer"],
            agency="police",
            now=NOW,
            is_service_account=True,
        )
        session.commit()
    return user


def error_summary(html: str) -> list[str]:
    """The messages of the GOV.UK error summary, in order."""
    found = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    assert found, "no error summary on the page"
    return re.findall(r'<li><a href="#[^"]+">([^<]+)</a></li>', found.group(0))


def inline_error(html: str, field_id: str) -> str:
    found = re.search(
        rf'<p id="{re.escape(field_id)}-error" class="govuk-error-message">'
        r'<span class="govuk-visually-hidden">Error:</span> ([^<]+)</p>',
        html,
    )
    assert found, f"no inline error for {field_id}"
    return found.group(1)


def table_row(html: str, attribute: str, value: str) -> str | None:
    found = re.search(
        rf'<tr class="govuk-table__row" {attribute}="{re.escape(value)}".*?</tr>', html, re.S
    )
    return found.group(0) if found else None


def bearer(client: TestClient, secret: str) -> httpx.Response:
    return client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})


# -- who may use the pages -------------------------------------------------------------------


class TestAccess:
    def test_signed_out_is_sent_to_sign_in_and_back(self, client: TestClient) -> None:
        response = client.get("/ui/admin/users", follow_redirects=False)
        assert redirect_target(response) == "/ui/sign-in?next=/ui/admin/users"

    @pytest.mark.parametrize("who", ["chair", "business", "scrutineer", "superuser"])
    def test_anyone_but_an_administrator_gets_403_on_every_page(
        self, client: TestClient, directory: Directory, who: str
    ) -> None:
        signed_in(client, f"{who}@tw.example")
        for url in PAGES:
            response = client.get(url)
            assert response.status_code == 403, url
            assert response.headers["content-type"].startswith("text/html")
            assert "You cannot do that" in response.text
            assert "Only an administrator manages partnerships and users." in response.text

    def test_a_non_admin_changes_nothing_even_with_the_right_csrf_token(
        self, client: TestClient, directory: Directory
    ) -> None:
        csrf = signed_in(client, "chair@tw.example")
        chair_token = directory.token("chair")
        token_id = tokens_of("chair@tw.example")[0].id
        posts: list[tuple[str, dict[str, Any]]] = [
            ("/ui/admin/users/new", {"email": "x@tw.example", "display_name": "X", "roles": "qpd"}),
            (f"/ui/admin/tokens/{token_id}/revoke", {}),
            ("/ui/admin/webhooks/new", {"url": HOOK, "events": "*"}),
            (
                "/ui/admin/calendar",
                {"date-day": "26", "date-month": "6", "date-year": "2026", "title": "A day"},
            ),
        ]
        for url, data in posts:
            response = post(client, url, {"csrf_token": csrf, **data})
            assert response.status_code == 403, url
            assert "Only an administrator" in response.text
        assert db_user("x@tw.example") is None
        assert bearer(client, chair_token).status_code == 200
        assert count(WebhookSubscription) == 0
        assert count(CalendarAddition) == 0

    def test_the_index_links_to_the_four_pages(self, client: TestClient, tw_admin: str) -> None:
        response = client.get("/ui/admin")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        for href in ("/ui/admin/users", "/ui/admin/tokens", "/ui/admin/webhooks"):
            assert f'href="{href}"' in response.text
        assert 'href="/ui/admin/calendar"' in response.text
        # The service navigation marks Administration as the current section.
        assert re.search(r'href="/ui/admin" aria-current="page"', response.text)
        assert "You manage the TW partnership" in response.text

    def test_a_platform_admin_with_no_partnership_yet_is_told_so(self, client: TestClient) -> None:
        create_platform_admin(NOW, email="root@platform.example")
        signed_in(client, "root@platform.example")
        assert "you choose the partnership" in client.get("/ui/admin").text
        for url in PAGES[1:-1]:
            response = client.get(url)
            assert response.status_code == 200, url
            assert 'id="no-partnerships"' in response.text, url

    def test_the_administration_link_shows_for_administrators_only(
        self, client: TestClient, directory: Directory
    ) -> None:
        signed_in(client, "chair@tw.example")
        assert 'href="/ui/admin"' not in client.get("/ui/alerts").text
        signed_in(client, "admin@tw.example")
        assert 'href="/ui/admin"' in client.get("/ui/alerts").text


# -- users -----------------------------------------------------------------------------------


class TestUsers:
    def test_the_list_shows_the_partnerships_users_and_no_others(
        self, client: TestClient, tw_admin: str
    ) -> None:
        html = client.get("/ui/admin/users").text
        for key, roles, _agency in PEOPLE:
            row = table_row(html, "data-user", f"{key}@tw.example")
            assert row is not None, key
            assert f'data-roles="{" ".join(sorted(roles))}"' in row
        assert "@ot.example" not in html
        assert f"{len(PEOPLE)} users in TW" in html
        admin_row = table_row(html, "data-user", "admin@tw.example")
        assert admin_row is not None
        assert 'data-has-password="true"' in admin_row  # signed in with one
        chair_row = table_row(html, "data-user", "chair@tw.example")
        assert chair_row is not None
        assert 'data-has-password="false"' in chair_row
        assert 'data-service-account="false"' in chair_row

    def test_an_admin_adds_a_user_with_roles_and_agency(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": tw_admin,
                "email": "  New.DSP@TW.example ",
                "display_name": "Dana Police",
                "roles": ["dsp", "referrer"],
                "agency": "police",
                "service_account": "false",
            },
        )
        target = redirect_target(response)
        assert target == "/ui/admin/users"
        assert "Dana Police was added" in unquote(response.cookies["cspr_flash"])
        html = client.get(target).text
        assert "govuk-notification-banner--success" in html
        assert "Dana Police was added" in html
        row = table_row(html, "data-user", "new.dsp@tw.example")
        assert row is not None
        assert 'data-roles="dsp referrer"' in row
        assert "Delegated safeguarding partner (DSP)" in row
        assert "Police" in row
        user = db_user("new.dsp@tw.example")
        assert user is not None
        assert user.roles == ["dsp", "referrer"]
        assert user.agency == "police"
        assert user.display_name == "Dana Police"
        assert not user.is_service_account
        assert user.password_hash is None
        with Session(get_engine()) as session:
            assert accounts_repository.partnership_code(session, user.partnership_id) == "TW"

    def test_a_service_account_is_added_as_one(self, client: TestClient, tw_admin: str) -> None:
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": tw_admin,
                "email": "case-system@police.example",
                "display_name": "Police case system",
                "roles": "referrer",
                "agency": "police",
                "service_account": "true",
            },
        )
        html = client.get(redirect_target(response)).text
        row = table_row(html, "data-user", "case-system@police.example")
        assert row is not None
        assert 'data-service-account="true"' in row
        assert "password" not in row.split('data-has-password="false">')[1].split("</tr>")[0]
        user = db_user("case-system@police.example")
        assert user is not None
        assert user.is_service_account

    def test_missing_fields_are_shown_with_the_error_summary_and_nothing_is_added(
        self, client: TestClient, tw_admin: str
    ) -> None:
        before = count(User)
        response = post(
            client,
            "/ui/admin/users/new",
            {"csrf_token": tw_admin, "email": "", "display_name": "Kept Name", "agency": ""},
        )
        assert response.status_code == 422
        html = response.text
        assert "<title>Error: Add a user" in html
        assert error_summary(html) == ["Enter an e-mail address", "Select at least one role"]
        assert inline_error(html, "user-email") == "Enter an e-mail address"
        assert inline_error(html, "user-roles") == "Select at least one role"
        assert 'value="Kept Name"' in html  # what was typed is kept
        assert count(User) == before

    def test_a_malformed_email_gets_a_govuk_message(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": tw_admin,
                "email": "not an address",
                "display_name": "X",
                "roles": "qpd",
            },
        )
        assert response.status_code == 422
        assert inline_error(response.text, "user-email").startswith(
            "Enter an e-mail address in the right format"
        )
        assert db_user("not an address") is None

    def test_the_services_own_rule_is_shown_beside_the_agency(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": tw_admin,
                "email": "dsp@school.example",
                "display_name": "A head teacher",
                "roles": "dsp",
                "agency": "education",
            },
        )
        assert response.status_code == 422
        message = "A DSP acts for local_authority, police or health."
        assert inline_error(response.text, "user-agency") == message
        assert error_summary(response.text) == [message]
        assert db_user("dsp@school.example") is None

    def test_a_taken_email_is_refused_with_409(self, client: TestClient, tw_admin: str) -> None:
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": tw_admin,
                "email": "chair@ot.example",
                "display_name": "X",
                "roles": "qpd",
            },
        )
        assert response.status_code == 409
        assert inline_error(response.text, "user-email") == (
            "A user with e-mail chair@ot.example already exists."
        )

    @pytest.mark.parametrize("csrf", [None, "", "forged"])
    def test_a_post_without_the_csrf_token_is_refused(
        self, client: TestClient, tw_admin: str, csrf: str | None
    ) -> None:
        data = {"email": "sneaky@tw.example", "display_name": "X", "roles": "admin"}
        if csrf is not None:
            data["csrf_token"] = csrf
        response = post(client, "/ui/admin/users/new", data)
        assert response.status_code == 403
        assert "This form has expired or did not come from this service" in response.text
        assert db_user("sneaky@tw.example") is None

    def test_an_admin_sets_a_persons_password_and_they_can_sign_in(
        self, client: TestClient, tw_admin: str, app: Any
    ) -> None:
        chair = db_user("chair@tw.example")
        assert chair is not None
        page = client.get(f"/ui/admin/users/{chair.id}/password")
        assert page.status_code == 200
        assert 'type="password"' in page.text
        assert 'autocomplete="new-password"' in page.text
        response = post(
            client,
            f"/ui/admin/users/{chair.id}/password",
            {"csrf_token": tw_admin, "password": "a long enough passphrase"},
        )
        assert redirect_target(response) == "/ui/admin/users"
        assert "password of chair was set" in unquote(response.cookies["cspr_flash"])
        with TestClient(app) as other:
            assert sign_in(other, "chair@tw.example", "a long enough passphrase").status_code == 200

    @pytest.mark.parametrize(
        ("password", "message"),
        [
            ("short", "A password has at least 12 characters."),
            ("chair@tw.example", "A password may not be the e-mail address."),
            ("", "Enter a password"),
        ],
    )
    def test_a_password_the_service_refuses_is_shown_and_not_set(
        self, client: TestClient, tw_admin: str, password: str, message: str
    ) -> None:
        chair = db_user("chair@tw.example")
        assert chair is not None
        response = post(
            client,
            f"/ui/admin/users/{chair.id}/password",
            {"csrf_token": tw_admin, "password": password},
        )
        assert response.status_code == 422
        assert error_summary(response.text) == [message]
        assert inline_error(response.text, "password") == message
        assert f'value="{password}"' not in response.text or not password  # never echoed
        after = db_user("chair@tw.example")
        assert after is not None
        assert after.password_hash is None

    def test_a_service_account_gets_no_password(self, client: TestClient, tw_admin: str) -> None:
        system = make_service_account("TW", "system@police.example")
        response = post(
            client,
            f"/ui/admin/users/{system.id}/password",
            {"csrf_token": tw_admin, "password": "a long enough passphrase"},
        )
        assert response.status_code == 422
        message = "A service account signs in with API tokens, never a password."
        assert inline_error(response.text, "password") == message
        after = db_user("system@police.example")
        assert after is not None
        assert after.password_hash is None

    def test_another_partnerships_admin_cannot_see_or_change_these_users(
        self, client: TestClient, directory: Directory
    ) -> None:
        csrf = signed_in(client, "admin@ot.example")
        html = client.get("/ui/admin/users").text
        assert table_row(html, "data-user", "chair@ot.example") is not None
        assert "@tw.example" not in html
        # The partnership picker is the platform admin's: anyone else sees their own.
        html = client.get("/ui/admin/users?partnership=TW").text
        assert table_row(html, "data-user", "chair@ot.example") is not None
        assert "@tw.example" not in html
        chair = db_user("chair@tw.example")
        assert chair is not None
        assert client.get(f"/ui/admin/users/{chair.id}/password").status_code == 404
        response = post(
            client,
            f"/ui/admin/users/{chair.id}/password",
            {"csrf_token": csrf, "password": "a long enough passphrase"},
        )
        assert response.status_code == 404
        after = db_user("chair@tw.example")
        assert after is not None
        assert after.password_hash is None
        # A foreign partnership smuggled into the form is not honoured: the user joins OT.
        response = post(
            client,
            "/ui/admin/users/new?partnership=TW",
            {
                "csrf_token": csrf,
                "partnership": "TW",
                "email": "smuggled@ot.example",
                "display_name": "X",
                "roles": "qpd",
            },
        )
        assert redirect_target(response) == "/ui/admin/users"
        smuggled = db_user("smuggled@ot.example")
        assert smuggled is not None
        with Session(get_engine()) as session:
            assert accounts_repository.partnership_code(session, smuggled.partnership_id) == "OT"

    def test_a_platform_admin_picks_the_partnership(
        self, client: TestClient, directory: Directory
    ) -> None:
        create_platform_admin(NOW, email="root@platform.example")
        csrf = signed_in(client, "root@platform.example")
        html = client.get("/ui/admin/users?partnership=OT").text
        assert '<option value="OT" selected>' in html
        assert table_row(html, "data-user", "chair@ot.example") is not None
        assert "@tw.example" not in html
        form = client.get("/ui/admin/users/new?partnership=OT").text
        assert '<select class="govuk-select" id="user-partnership" name="partnership"' in form
        response = post(
            client,
            "/ui/admin/users/new",
            {
                "csrf_token": csrf,
                "partnership": "OT",
                "email": "newcomer@ot.example",
                "display_name": "Newcomer",
                "roles": "business_unit",
            },
        )
        assert "partnership=OT" in redirect_target(response)
        user = db_user("newcomer@ot.example")
        assert user is not None
        with Session(get_engine()) as session:
            assert accounts_repository.partnership_code(session, user.partnership_id) == "OT"


# -- API tokens ------------------------------------------------------------------------------


def create_token(client: TestClient, csrf: str, user_id: object, **data: str) -> httpx.Response:
    return post(
        client,
        "/ui/admin/tokens/new",
        {"csrf_token": csrf, "user_id": str(user_id), "name": "Police feed", **data},
    )


def shown_secret(html: str) -> str:
    found = re.search(r'id="token-secret"><code>([^<]+)</code>', html)
    assert found, "no token on the page"
    return found.group(1)


class TestTokens:
    def test_the_list_shows_the_tokens_of_the_partnerships_users(
        self, client: TestClient, tw_admin: str
    ) -> None:
        html = client.get("/ui/admin/tokens").text
        for key, _roles, _agency in PEOPLE:
            (token,) = tokens_of(f"{key}@tw.example")
            row = table_row(html, "data-token", str(token.id))
            assert row is not None, key
            assert f"{key}@tw.example" in row
            assert 'data-status="active"' in row
        assert "@ot.example" not in html

    def test_a_token_is_shown_once_authenticates_and_stops_when_revoked(
        self, client: TestClient, tw_admin: str
    ) -> None:
        system = make_service_account("TW", "feed@police.example")
        form = client.get("/ui/admin/tokens/new").text
        assert f'<option value="{system.id}"' in form
        chair = db_user("chair@tw.example")
        assert chair is not None
        assert f'<option value="{chair.id}"' not in form  # a person makes their own

        response = create_token(client, tw_admin, system.id)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert "It will not be shown again" in response.text
        secret = shown_secret(response.text)
        assert secret.startswith("cspr_")
        (stored,) = tokens_of("feed@police.example")
        assert stored.name == "Police feed"
        assert stored.token_hash == accounts_service.hash_token(secret)
        assert stored.expires_at is None

        me = bearer(client, secret)
        assert me.status_code == 200
        assert me.json()["user"]["email"] == "feed@police.example"

        listing = client.get("/ui/admin/tokens").text
        assert secret not in listing
        row = table_row(listing, "data-token", str(stored.id))
        assert row is not None
        assert "Police feed" in row

        revoked = post(client, f"/ui/admin/tokens/{stored.id}/revoke", {"csrf_token": tw_admin})
        html = client.get(redirect_target(revoked)).text
        assert "The API token was revoked" in html
        row = table_row(html, "data-token", str(stored.id))
        assert row is not None
        assert 'data-status="revoked"' in row
        assert bearer(client, secret).status_code == 401
        (after,) = tokens_of("feed@police.example")
        assert after.revoked_at == NOW

    def test_an_expiry_date_ends_the_token_that_day(
        self, client: TestClient, tw_admin: str
    ) -> None:
        system = make_service_account("TW", "feed@police.example")
        response = create_token(
            client,
            tw_admin,
            system.id,
            **{"expires_on-day": "31", "expires_on-month": "12", "expires_on-year": "2026"},
        )
        assert response.status_code == 200
        (stored,) = tokens_of("feed@police.example")
        # 23:59:59 in London on 31 December 2026 (GMT).
        assert stored.expires_at == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
        assert "31 December 2026" in response.text

    @pytest.mark.parametrize(
        ("data", "field", "message"),
        [
            ({"name": ""}, "token-name", "Enter a name for the token"),
            (
                {"expires_on-day": "16", "expires_on-month": "6", "expires_on-year": "2026"},
                "token-expires-on",
                "The expiry date must be in the future.",
            ),
            (
                {"expires_on-day": "31", "expires_on-month": "2", "expires_on-year": "2027"},
                "token-expires-on",
                "The expiry date must be a real date",
            ),
        ],
        ids=["no-name", "past", "no-such-date"],
    )
    def test_form_errors_create_no_token(
        self, client: TestClient, tw_admin: str, data: dict[str, str], field: str, message: str
    ) -> None:
        system = make_service_account("TW", "feed@police.example")
        response = create_token(client, tw_admin, system.id, **data)
        assert response.status_code == 422
        assert error_summary(response.text) == [message]
        assert inline_error(response.text, field) == message
        assert tokens_of("feed@police.example") == []

    def test_a_token_for_a_person_is_refused_with_the_services_message(
        self, client: TestClient, tw_admin: str
    ) -> None:
        chair = db_user("chair@tw.example")
        assert chair is not None
        response = create_token(client, tw_admin, chair.id)
        assert response.status_code == 403
        assert inline_error(response.text, "token-user").startswith(
            "A person creates their own tokens"
        )
        assert len(tokens_of("chair@tw.example")) == 1

    def test_revoking_without_the_csrf_token_is_refused(
        self, client: TestClient, tw_admin: str, directory: Directory
    ) -> None:
        (token,) = tokens_of("chair@tw.example")
        for data in ({}, {"csrf_token": "forged"}):
            response = post(client, f"/ui/admin/tokens/{token.id}/revoke", data)
            assert response.status_code == 403
        assert bearer(client, directory.token("chair")).status_code == 200

    def test_another_partnerships_admin_cannot_see_or_touch_these_tokens(
        self, client: TestClient, directory: Directory
    ) -> None:
        system = make_service_account("TW", "feed@police.example")
        csrf = signed_in(client, "admin@ot.example")
        html = client.get("/ui/admin/tokens").text
        assert "@tw.example" not in html
        assert f'<option value="{system.id}"' not in client.get("/ui/admin/tokens/new").text
        assert "@tw.example" not in client.get("/ui/admin/tokens?partnership=TW").text

        (chair_token,) = tokens_of("chair@tw.example")
        response = post(client, f"/ui/admin/tokens/{chair_token.id}/revoke", {"csrf_token": csrf})
        assert response.status_code == 404
        assert bearer(client, directory.token("chair")).status_code == 200

        response = create_token(client, csrf, system.id)
        assert response.status_code == 404
        assert "cspr_" not in response.text
        assert tokens_of("feed@police.example") == []


# -- webhooks --------------------------------------------------------------------------------


def create_webhook(client: TestClient, csrf: str, **data: Any) -> httpx.Response:
    body: dict[str, Any] = {"csrf_token": csrf, "url": HOOK, "events": ["deadline.breached"]}
    body.update(data)
    return post(client, "/ui/admin/webhooks/new", body)


def webhooks() -> list[WebhookSubscription]:
    with Session(get_engine()) as session:
        return list(session.exec(select(WebhookSubscription)))


class TestWebhooks:
    def test_an_admin_subscribes_and_sees_the_secret_once(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = create_webhook(
            client, tw_admin, events=["deadline.breached", "case.created", "case.created"]
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert "It will not be shown again" in response.text
        found = re.search(r'id="webhook-secret"><code>([^<]+)</code>', response.text)
        assert found
        secret = found.group(1)
        assert secret.startswith("whsec_")
        (sub,) = webhooks()
        assert sub.url == HOOK
        assert sub.events == ["case.created", "deadline.breached"]
        assert sub.secret == secret
        assert sub.disabled_at is None

        listing = client.get("/ui/admin/webhooks").text
        row = table_row(listing, "data-webhook", str(sub.id))
        assert row is not None
        assert HOOK in row
        assert "<code>case.created</code>" in row
        assert 'data-status="active"' in row
        assert secret not in listing

    def test_the_api_lists_what_the_page_created(
        self, client: TestClient, tw_admin: str, api: Api
    ) -> None:
        create_webhook(client, tw_admin)
        listed = client.get("/api/v1/webhooks", headers=api.headers("admin")).json()
        assert [(w["url"], w["partnership"]) for w in listed["items"]] == [(HOOK, "TW")]

    def test_a_bad_address_and_no_events_are_shown_and_nothing_is_created(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = create_webhook(client, tw_admin, url="ftp://files.example", events=[])
        assert response.status_code == 422
        messages = error_summary(response.text)
        assert messages == [
            "Enter a web address in the right format, like https://example.org/hooks/cspr",
            "Select at least one event",
        ]
        assert inline_error(response.text, "webhook-url") == messages[0]
        assert inline_error(response.text, "webhook-events") == messages[1]
        assert 'value="ftp://files.example"' in response.text
        assert webhooks() == []

    def test_stopping_a_subscription(self, client: TestClient, tw_admin: str) -> None:
        create_webhook(client, tw_admin)
        (sub,) = webhooks()
        refused = post(client, f"/ui/admin/webhooks/{sub.id}/delete", {"csrf_token": "forged"})
        assert refused.status_code == 403
        assert webhooks()[0].disabled_at is None
        response = post(client, f"/ui/admin/webhooks/{sub.id}/delete", {"csrf_token": tw_admin})
        html = client.get(redirect_target(response)).text
        assert "The webhook subscription was stopped" in html
        row = table_row(html, "data-webhook", str(sub.id))
        assert row is not None
        assert 'data-status="stopped"' in row
        assert webhooks()[0].disabled_at == NOW

    def test_another_partnerships_admin_cannot_see_or_stop_it(
        self, client: TestClient, tw_admin: str
    ) -> None:
        create_webhook(client, tw_admin)
        (sub,) = webhooks()
        csrf = signed_in(client, "admin@ot.example")
        assert HOOK not in client.get("/ui/admin/webhooks").text
        response = post(client, f"/ui/admin/webhooks/{sub.id}/delete", {"csrf_token": csrf})
        assert response.status_code == 404
        assert webhooks()[0].disabled_at is None

    def test_a_platform_admin_subscribes_for_a_chosen_partnership(
        self, client: TestClient, directory: Directory
    ) -> None:
        create_platform_admin(NOW, email="root@platform.example")
        csrf = signed_in(client, "root@platform.example")
        response = create_webhook(client, csrf, partnership="OT")
        assert response.status_code == 200
        (sub,) = webhooks()
        with Session(get_engine()) as session:
            ot = accounts_repository.partnership_by_code(session, "OT")
        assert ot is not None
        assert sub.partnership_id == ot.id


# -- the calendar ----------------------------------------------------------------------------


def add_holiday(client: TestClient, csrf: str, day: str, **data: str) -> httpx.Response:
    d, m, y = day.split("-")[2], day.split("-")[1], day.split("-")[0]
    body = {
        "csrf_token": csrf,
        "date-day": d,
        "date-month": m,
        "date-year": y,
        "title": "Bank holiday for a national celebration",
        "reason": "Royal proclamation of 1 June 2026.",
    }
    body.update(data)
    return post(client, "/ui/admin/calendar", body)


def rapid_review_due(api: Api, case_id: str) -> str:
    response = api.client.get(
        f"/api/v1/cases/{case_id}/deadlines", headers=api.headers("superuser")
    )
    assert response.status_code == 200, response.text
    clocks = response.json()["items"]
    return str(next(c["due_on"] for c in clocks if c["key"] == "rapid_review"))


@pytest.fixture
def platform(client: TestClient, directory: Directory) -> str:
    """The platform administrator, signed in: who alone changes the national calendar."""
    create_platform_admin(NOW, email="root@platform.example")
    return signed_in(client, "root@platform.example")


class TestCalendar:
    def test_this_years_non_working_days_with_their_source(
        self, client: TestClient, tw_admin: str
    ) -> None:
        html = client.get("/ui/admin/calendar").text
        assert "Non-working days in 2026" in html
        christmas = table_row(html, "data-date", "2026-12-25")
        assert christmas is not None
        assert 'data-source="gov.uk"' in christmas
        assert "Christmas Day" in christmas
        assert "Friday 25 December 2026" in christmas
        later = client.get("/ui/admin/calendar?year=2030").text
        row = table_row(later, "data-date", "2030-12-25")
        assert row is not None
        assert 'data-source="computed"' in row

    def test_a_year_that_is_no_year_is_explained_on_the_page(
        self, client: TestClient, tw_admin: str
    ) -> None:
        response = client.get("/ui/admin/calendar?year=1999")
        assert response.status_code == 200
        assert inline_error(response.text, "calendar-year") == (
            "Enter a year from 2012 to 2100, like 2026"
        )
        assert "Non-working days in 2026" in response.text

    def test_an_added_holiday_shows_as_added_and_moves_a_running_clock(
        self, client: TestClient, platform: str, api: Api, clock: FixedClock
    ) -> None:
        case = api.create_case(
            became_aware_on="2026-06-10",
            incident={"occurred_on": "2026-06-10", "outcome": "death", "abuse_or_neglect": "known"},
        )
        assert rapid_review_due(api, case["id"]) == "2026-07-01"

        response = add_holiday(client, platform, "2026-06-26")
        target = redirect_target(response)
        assert target == "/ui/admin/calendar?year=2026"
        html = client.get(target).text
        assert "was added" in html
        row = table_row(html, "data-date", "2026-06-26")
        assert row is not None
        assert 'data-source="added"' in row
        assert ">Added<" in row
        assert "Bank holiday for a national celebration" in row

        assert rapid_review_due(api, case["id"]) == "2026-07-02"
        (addition,) = _additions()
        assert addition.reason == "Royal proclamation of 1 June 2026."
        platform_admin = db_user("root@platform.example")
        assert platform_admin is not None
        assert addition.added_by == platform_admin.id

        # Withdrawn from its row, with the reason: the clock moves back.
        refused = post(
            client,
            "/ui/admin/calendar/2026-06-26/withdrawal",
            {"csrf_token": platform, "reason": ""},
        )
        assert refused.status_code == 422
        assert error_summary(refused.text) == ["Enter why the day on 26 June 2026 is withdrawn"]
        assert rapid_review_due(api, case["id"]) == "2026-07-02"
        response = post(
            client,
            "/ui/admin/calendar/2026-06-26/withdrawal",
            {"csrf_token": platform, "reason": "Added in error."},
        )
        html = client.get(redirect_target(response)).text
        assert "Bank holiday for a national celebration on 26 June 2026 was withdrawn" in html
        assert table_row(html, "data-date", "2026-06-26") is None
        assert rapid_review_due(api, case["id"]) == "2026-07-01"
        (withdrawn,) = _additions()
        assert withdrawn.withdrawn_reason == "Added in error."
        assert withdrawn.withdrawn_by == platform_admin.id

    def test_a_partnership_admin_reads_the_calendar_but_cannot_change_it(
        self, client: TestClient, tw_admin: str, api: Api
    ) -> None:
        html = client.get("/ui/admin/calendar").text
        assert "Non-working days in 2026" in html
        assert 'action="/ui/admin/calendar?year=2026"' not in html  # no form to add a day
        assert "added or withdrawn by the service's platform administrator" in html
        response = add_holiday(client, tw_admin, "2026-06-26")
        assert response.status_code == 403
        assert "only a platform administrator may change it" in response.text
        assert _additions() == []

    @pytest.mark.parametrize(
        ("day", "data", "field", "message"),
        [
            (
                "2026-06-27",
                {},
                "holiday-date",
                "2026-06-27 is a Saturday: it is not a working day anyway.",
            ),
            (
                "2026-12-25",
                {},
                "holiday-date",
                "2026-12-25 is already a non-working day (Christmas Day).",
            ),
            ("2026-02-30", {}, "holiday-date", "The date of the holiday must be a real date"),
            ("2026-06-26", {"title": ""}, "holiday-title", "Enter the name of the holiday"),
        ],
        ids=["weekend", "already", "no-such-date", "no-title"],
    )
    def test_a_refused_day_is_shown_on_the_form_and_nothing_is_added(
        self,
        client: TestClient,
        platform: str,
        day: str,
        data: dict[str, str],
        field: str,
        message: str,
    ) -> None:
        response = add_holiday(client, platform, day, **data)
        assert response.status_code == 422
        assert error_summary(response.text) == [message]
        assert inline_error(response.text, field) == message
        assert _additions() == []

    def test_adding_a_day_without_the_csrf_token_is_refused(
        self, client: TestClient, platform: str
    ) -> None:
        response = add_holiday(client, "forged", "2026-06-26")
        assert response.status_code == 403
        assert _additions() == []


def _additions() -> list[CalendarAddition]:
    with Session(get_engine()) as session:
        return list(session.exec(select(CalendarAddition)))
