"""Web sign-in: e-mail and password (argon2id) give an HttpOnly, SameSite=Lax session cookie
that the whole API accepts; unsafe requests made with it need the session's CSRF token;
repeated failures back off (429 with a growing Retry-After); an unknown e-mail and a wrong
password get the same answer; service accounts never sign in with a password."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SESSION_COOKIE
from cspr_engine.accounts.models import SignInAttempt
from cspr_engine.config import get_settings
from cspr_engine.db import get_engine
from cspr_engine.errors import Unprocessable
from cspr_engine.kit.clock import FixedClock, get_clock
from tests.conftest import NOW
from tests.factories import PASSWORD, Api, assert_problem, referral, set_password, sign_in

CHAIR = "chair@tw.example"


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def signed_in(client: TestClient, email: str = CHAIR) -> str:
    """Sign `email` in on `client` (its cookie jar keeps the session); returns the CSRF token."""
    set_password(email)
    response = sign_in(client, email)
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def app_with(clock: FixedClock, **settings: Any) -> FastAPI:
    from cspr_engine.main import create_app

    application = create_app(get_settings().model_copy(update=settings))
    application.dependency_overrides[get_clock] = lambda: clock
    return application


def problem_without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


class TestSignIn:
    def test_it_sets_an_http_only_lax_cookie_that_lasts_the_session(
        self, api: Api, client: TestClient
    ) -> None:
        set_password(CHAIR)
        response = sign_in(client, CHAIR)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert set(body) == {"user", "csrf_token", "expires_at"}
        assert body["user"]["email"] == CHAIR
        assert body["user"]["partnership"] == "TW"
        assert body["user"]["roles"] == ["panel_chair"]
        assert body["expires_at"] == "2026-06-17T17:00:00Z"  # CSPR_SESSION_HOURS: 8
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "path=/" in attributes
        assert "max-age=28800" in attributes
        assert "secure" not in attributes  # CSPR_COOKIE_SECURE is off outside production
        assert len(client.cookies[SESSION_COOKIE]) >= 40

    def test_the_cookie_authenticates_the_api(self, api: Api, client: TestClient) -> None:
        csrf = signed_in(client)
        me = client.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["authenticated_by"] == "session"
        assert me.json()["csrf_token"] == csrf
        assert me.json()["session_expires_at"] == "2026-06-17T17:00:00Z"
        assert client.get("/api/v1/workflows").status_code == 200

    def test_the_email_is_matched_whatever_its_case(self, api: Api, client: TestClient) -> None:
        set_password(CHAIR)
        assert sign_in(client, "  Chair@TW.Example ").status_code == 200

    def test_the_password_is_taken_exactly_as_typed(self, api: Api, client: TestClient) -> None:
        set_password(CHAIR, "  spaced out password  ")
        assert sign_in(client, CHAIR, "spaced out password").status_code == 401
        assert sign_in(client, CHAIR, "  spaced out password  ").status_code == 200

    def test_secure_cookies_when_configured(self, api: Api, clock: FixedClock) -> None:
        set_password(CHAIR)
        with TestClient(app_with(clock, cookie_secure=True), base_url="https://testserver") as c:
            response = sign_in(c, CHAIR)
            assert response.status_code == 200, response.text
            attributes = [a.strip().lower() for a in response.headers["set-cookie"].split(";")]
            assert "secure" in attributes
            assert c.get("/api/v1/auth/me").status_code == 200

    def test_the_session_expires_after_session_hours(self, api: Api, clock: FixedClock) -> None:
        set_password(CHAIR)
        with TestClient(app_with(clock, session_hours=1)) as c:
            response = sign_in(c, CHAIR)
            assert response.json()["expires_at"] == "2026-06-17T10:00:00Z"
            assert "max-age=3600" in response.headers["set-cookie"].lower()
            clock.set(NOW + timedelta(minutes=59))
            assert c.get("/api/v1/auth/me").status_code == 200
            clock.set(NOW + timedelta(hours=1))
            assert_problem(c.get("/api/v1/auth/me"), 401, "/problems/unauthenticated")

    def test_the_password_is_stored_as_an_argon2id_hash(self, api: Api) -> None:
        set_password(CHAIR)
        (user,) = rows("SELECT password_hash FROM users WHERE email = :e", e=CHAIR)
        assert user["password_hash"].startswith("$argon2id$")
        assert PASSWORD not in user["password_hash"]

    def test_only_the_cookies_hash_is_stored(self, api: Api, client: TestClient) -> None:
        signed_in(client)
        secret = client.cookies[SESSION_COOKIE]
        (stored,) = rows("SELECT * FROM web_sessions")
        assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        assert all(secret not in str(value) for value in stored.values())

    def test_every_checked_attempt_is_recorded(self, api: Api, client: TestClient) -> None:
        set_password(CHAIR)
        sign_in(client, CHAIR, "wrong password!")
        sign_in(client, "Chair@TW.example")
        sign_in(client, "nobody@tw.example")
        attempts = rows("SELECT email, client, succeeded FROM sign_in_attempts")
        assert sorted((a["email"], bool(a["succeeded"])) for a in attempts) == [
            (CHAIR, False),
            (CHAIR, True),
            ("nobody@tw.example", False),
        ]
        assert {a["client"] for a in attempts} == {"testclient"}

    def test_signing_in_again_ends_the_session_the_browser_held(
        self, api: Api, client: TestClient
    ) -> None:
        signed_in(client)
        first = client.cookies[SESSION_COOKIE]
        signed_in(client)
        assert client.cookies[SESSION_COOKIE] != first
        client.cookies.clear()
        stale = client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={first}"})
        assert_problem(stale, 401)

    def test_last_seen_is_recorded_every_few_minutes(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        signed_in(client)

        def last_seen() -> Any:
            return rows("SELECT last_seen_at FROM web_sessions")[0]["last_seen_at"]

        before = last_seen()
        clock.set(NOW + timedelta(minutes=2))
        client.get("/api/v1/auth/me")
        assert last_seen() == before
        clock.set(NOW + timedelta(minutes=6))
        client.get("/api/v1/auth/me")
        assert last_seen() != before

    @pytest.mark.parametrize(
        "body",
        [
            {"email": CHAIR},
            {"password": PASSWORD},
            {"email": CHAIR, "password": ""},
            {"email": CHAIR, "password": PASSWORD, "remember": True},
            {"email": CHAIR, "password": "x" * 1025},
        ],
    )
    def test_malformed_bodies_are_422(
        self, api: Api, client: TestClient, body: dict[str, Any]
    ) -> None:
        assert_problem(client.post("/api/v1/auth/sign-in", json=body), 422)


class TestRefusals:
    def test_an_unknown_email_and_a_wrong_password_look_the_same(
        self, api: Api, client: TestClient
    ) -> None:
        set_password(CHAIR)
        wrong = sign_in(client, CHAIR, "not the password")
        unknown = sign_in(client, "nobody@tw.example", "not the password")
        no_password = sign_in(client, "business@tw.example", "not the password")
        for response in (wrong, unknown, no_password):
            assert_problem(response, 401, "/problems/sign-in-failed")
            assert "set-cookie" not in response.headers
        assert problem_without_request_id(wrong) == problem_without_request_id(unknown)
        assert problem_without_request_id(wrong) == problem_without_request_id(no_password)
        assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")

    def test_a_service_account_cannot_sign_in_with_a_password(
        self, api: Api, client: TestClient
    ) -> None:
        created = client.post(
            "/api/v1/users",
            json={
                "email": "cms@police.example",
                "display_name": "Police case system",
                "roles": ["referrer"],
                "agency": "police",
                "service_account": True,
            },
            headers=api.headers("admin"),
        )
        assert created.status_code == 201, created.text
        with pytest.raises(Unprocessable, match="service account"):
            set_password("cms@police.example")
        # Even with a hash put in place behind the service's back, it cannot sign in.
        with get_engine().begin() as conn:
            conn.execute(
                text("UPDATE users SET password_hash = :h WHERE email = 'cms@police.example'"),
                {"h": accounts_service.hash_password(PASSWORD)},
            )
        assert_problem(sign_in(client, "cms@police.example"), 401, "/problems/sign-in-failed")

    def test_a_disabled_user_cannot_sign_in_and_its_session_stops(
        self, api: Api, client: TestClient
    ) -> None:
        signed_in(client)
        with get_engine().begin() as conn:
            conn.execute(
                text("UPDATE users SET is_active = :f WHERE email = :e"), {"f": False, "e": CHAIR}
            )
        assert_problem(client.get("/api/v1/auth/me"), 401)
        client.cookies.clear()
        assert_problem(sign_in(client, CHAIR), 401, "/problems/sign-in-failed")

    def test_a_new_password_ends_the_users_sessions(self, api: Api, client: TestClient) -> None:
        signed_in(client)
        set_password(CHAIR, "another long password")
        assert_problem(client.get("/api/v1/auth/me"), 401)

    @pytest.mark.parametrize("password", ["short", "elevenchars", CHAIR, "x" * 1025])
    def test_weak_passwords_are_refused(self, api: Api, password: str) -> None:
        with pytest.raises(Unprocessable):
            set_password(CHAIR, password)

    def test_a_forged_or_oversized_cookie_is_a_401(self, api: Api, client: TestClient) -> None:
        for value in ("forged", "x" * 500):
            response = client.get(
                "/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={value}"}
            )
            assert_problem(response, 401, "/problems/unauthenticated")


class TestSignOut:
    def test_it_ends_the_session_and_clears_the_cookie(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        csrf = signed_in(client)
        secret = client.cookies[SESSION_COOKIE]
        clock.set(NOW + timedelta(minutes=3))
        response = client.post("/api/v1/auth/sign-out", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 204, response.text
        assert "max-age=0" in response.headers["set-cookie"].lower()
        assert SESSION_COOKIE not in client.cookies
        (stored,) = rows("SELECT ended_at FROM web_sessions")
        assert stored["ended_at"] is not None
        replayed = client.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={secret}"})
        assert_problem(replayed, 401, "/problems/unauthenticated")

    def test_it_needs_the_csrf_token(self, api: Api, client: TestClient) -> None:
        signed_in(client)
        response = client.post("/api/v1/auth/sign-out")
        assert_problem(response, 403, "/problems/csrf-token-invalid")
        assert client.get("/api/v1/auth/me").status_code == 200

    def test_with_a_bearer_token_nothing_changes(self, api: Api) -> None:
        response = api.client.post("/api/v1/auth/sign-out", headers=api.headers("chair"))
        assert response.status_code == 204
        assert api.client.get("/api/v1/auth/me", headers=api.headers("chair")).status_code == 200

    def test_without_credentials_it_is_a_401(self, api: Api, client: TestClient) -> None:
        assert_problem(client.post("/api/v1/auth/sign-out"), 401)


class TestMe:
    def test_with_a_token_there_is_no_csrf_token(self, api: Api) -> None:
        response = api.client.get("/api/v1/auth/me", headers=api.headers("dsp_la"))
        assert response.status_code == 200
        body = response.json()
        assert body["authenticated_by"] == "token"
        assert body["csrf_token"] is None
        assert body["session_expires_at"] is None
        assert body["user"]["agency"] == "local_authority"
        assert "password_hash" not in body["user"]

    def test_without_credentials_it_is_a_401(self, api: Api, client: TestClient) -> None:
        assert_problem(client.get("/api/v1/auth/me"), 401, "/problems/unauthenticated")


class TestCsrf:
    def count_cases(self) -> int:
        return int(rows("SELECT COUNT(*) AS n FROM cases")[0]["n"])

    def test_an_unsafe_request_with_the_cookie_needs_the_token(
        self, api: Api, client: TestClient
    ) -> None:
        csrf = signed_in(client)
        missing = client.post("/api/v1/cases", json=referral())
        assert_problem(missing, 403, "/problems/csrf-token-invalid")
        wrong = client.post("/api/v1/cases", json=referral(), headers={"X-CSRF-Token": "x" + csrf})
        assert_problem(wrong, 403, "/problems/csrf-token-invalid")
        assert self.count_cases() == 0
        right = client.post("/api/v1/cases", json=referral(), headers={"X-CSRF-Token": csrf})
        assert right.status_code == 201, right.text
        assert self.count_cases() == 1

    def test_another_sessions_token_does_not_do(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        with TestClient(app_with(clock)) as other:
            other_csrf = signed_in(other, "business@tw.example")
        signed_in(client)
        response = client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "x"},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert_problem(response, 403, "/problems/csrf-token-invalid")

    def test_safe_requests_need_no_token(self, api: Api, client: TestClient) -> None:
        signed_in(client)
        assert client.get("/api/v1/tokens").status_code == 200

    def test_bearer_requests_are_exempt_even_with_a_cookie(
        self, api: Api, client: TestClient
    ) -> None:
        signed_in(client)  # the client now sends the cookie too: the Authorization header wins
        response = client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["referrer"], "name": "x"},
            headers=api.headers("referrer"),
        )
        assert response.status_code == 201, response.text

    def test_a_signed_in_user_creates_a_token_for_itself(
        self, api: Api, client: TestClient
    ) -> None:
        csrf = signed_in(client)
        response = client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "from the web"},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 201, response.text


class TestBackoff:
    def fail(self, client: TestClient, times: int, email: str = CHAIR) -> None:
        for _ in range(times):
            assert_problem(sign_in(client, email, "wrong password!"), 401)

    def test_after_five_failures_attempts_wait_longer_and_longer(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        set_password(CHAIR)
        self.fail(client, 5)
        sixth = sign_in(client, CHAIR, "wrong password!")
        body = assert_problem(sixth, 429, "/problems/sign-in-backoff")
        assert sixth.headers["retry-after"] == "60"
        assert body["retry_after"] == 60
        # The right password is not even checked while backing off; a refusal writes nothing,
        # so a flood of them neither writes nor makes the wait longer.
        seventh = sign_in(client, CHAIR)
        assert_problem(seventh, 429, "/problems/sign-in-backoff")
        assert seventh.headers["retry-after"] == "60"
        assert "set-cookie" not in seventh.headers
        attempts = rows("SELECT succeeded FROM sign_in_attempts WHERE email = :e", e=CHAIR)
        assert len(attempts) == 5
        assert not any(a["succeeded"] for a in attempts)
        # Each failure checked after a wait doubles the next wait.
        clock.set(NOW + timedelta(seconds=60))
        self.fail(client, 1)
        assert sign_in(client, CHAIR).headers["retry-after"] == "120"
        clock.set(NOW + timedelta(seconds=180))
        self.fail(client, 1)
        assert sign_in(client, CHAIR).headers["retry-after"] == "240"
        # Once the failures have left the window, the right password works again.
        clock.set(NOW + timedelta(minutes=16))
        assert sign_in(client, CHAIR).status_code == 200

    def test_the_wait_never_exceeds_the_window(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        set_password(CHAIR)
        with Session(get_engine()) as session:  # twelve failures, all just now
            for _ in range(12):
                session.add(
                    SignInAttempt(email=CHAIR, client="testclient", succeeded=False, at=NOW)
                )
            session.commit()
        response = sign_in(client, CHAIR)
        assert_problem(response, 429, "/problems/sign-in-backoff")
        assert response.headers["retry-after"] == str(15 * 60)

    def test_once_the_wait_is_over_one_attempt_is_checked(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        set_password(CHAIR)
        self.fail(client, 5)
        clock.set(NOW + timedelta(seconds=61))
        assert sign_in(client, CHAIR).status_code == 200

    def test_a_success_starts_the_count_afresh(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        set_password(CHAIR)
        self.fail(client, 4)
        clock.set(NOW + timedelta(seconds=1))
        assert sign_in(client, CHAIR).status_code == 200
        clock.set(NOW + timedelta(seconds=2))
        self.fail(client, 4)
        assert sign_in(client, CHAIR).status_code == 200

    def test_unknown_emails_back_off_alike(self, api: Api, client: TestClient) -> None:
        self.fail(client, 5, "nobody@tw.example")
        assert_problem(sign_in(client, "nobody@tw.example"), 429, "/problems/sign-in-backoff")

    def test_it_is_per_email(self, api: Api, client: TestClient) -> None:
        set_password("business@tw.example")
        self.fail(client, 5)
        assert_problem(sign_in(client, CHAIR), 429)
        assert sign_in(client, "business@tw.example").status_code == 200

    def test_one_address_failing_for_many_e_mails_waits_too(
        self, api: Api, client: TestClient, clock: FixedClock
    ) -> None:
        """One password tried against many accounts, or many unknown e-mails, from one
        address: after twenty failures in the window that address waits, whatever the
        e-mail, even one with no failures of its own."""
        set_password("business@tw.example")
        for n in range(20):
            assert_problem(sign_in(client, f"someone{n}@tw.example", "Summer2026!"), 401)
        refused = sign_in(client, "business@tw.example")
        body = assert_problem(refused, 429, "/problems/sign-in-backoff")
        assert body["retry_after"] == 60
        assert "from this address in all" in body["detail"]
        clock.set(NOW + timedelta(seconds=61))
        assert sign_in(client, "business@tw.example").status_code == 200


class TestLogs:
    @pytest.fixture
    def everything(self, caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
        caplog.set_level(logging.DEBUG)
        return caplog

    def test_no_password_token_or_cookie_reaches_the_logs(
        self, api: Api, client: TestClient, everything: pytest.LogCaptureFixture
    ) -> None:
        set_password(CHAIR)
        sign_in(client, CHAIR, "a wrong password")
        csrf = signed_in(client)
        cookie = client.cookies[SESSION_COOKIE]
        created = client.post(
            "/api/v1/tokens",
            json={"user_id": api.directory.user_ids["TW"]["chair"], "name": "x"},
            headers={"X-CSRF-Token": csrf},
        ).json()
        client.cookies.clear()
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {created['token']}"})
        client.delete(
            f"/api/v1/tokens/{created['id']}",
            headers={"Authorization": f"Bearer {created['token']}"},
        )
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {created['token']}"})
        self.fail_to_backoff(client)
        logged = everything.text + "".join(str(r.args) for r in everything.records)
        assert everything.records, "expected some log records to inspect"
        for secret in (PASSWORD, "a wrong password", cookie, csrf, created["token"]):
            assert secret not in logged
        assert "$argon2" not in logged

    def fail_to_backoff(self, client: TestClient) -> None:
        for _ in range(6):
            sign_in(client, CHAIR, "a wrong password")


def test_password_hashing_runs_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each argon2 hash or check holds 64 MiB while it runs: simultaneous sign-ins (and password
    changes) take their turn, so the service's memory does not grow with the number of people
    signing in at once. (On SQLite the write lock already orders sign-ins; on PostgreSQL they
    run side by side.)"""
    running = 0
    most = 0
    guard = threading.Lock()
    real = accounts_service._hasher

    def watched(work: Any) -> Any:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)  # long enough for the others to arrive
            return work()
        finally:
            with guard:
                running -= 1

    class Watched:
        def verify(self, stored: str, password: str) -> bool:
            return bool(watched(lambda: real.verify(stored, password)))

        def hash(self, password: str) -> str:
            return str(watched(lambda: real.hash(password)))

    monkeypatch.setattr(accounts_service, "_hasher", Watched())
    passwords = ["one", "two", "three", "four"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(accounts_service.hash_password, passwords))
    assert most == 1
    assert all(real.verify(h, p) for h, p in zip(hashes, passwords, strict=True))
