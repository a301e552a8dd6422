"""The calendar feed page, /ui/calendar-feed: served by the app in-process (and once in a real
browser for the accessibility check). The feed's own content is tested in tests/feeds."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from icalendar import Calendar
from playwright.sync_api import expect
from sqlmodel import Session, col, select

from cspr_engine.accounts import service as accounts_service
from cspr_engine.config import get_settings
from cspr_engine.db import get_engine
from cspr_engine.feeds.models import CalendarFeed
from tests.factories import Api, Directory, remember_secret, set_password, sign_in
from tests.web.conftest import SignIn, serious_violations

BASE = get_settings().public_base_url.rstrip("/")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every test here signs someone in; the page's rules do not depend on argon2's cost.
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def signed_in(client: TestClient, email: str) -> str:
    """Sign `email` in (the cookie stays on `client`); returns the session's CSRF token."""
    set_password(email)
    response = sign_in(client, email)
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


@pytest.fixture
def chair(client: TestClient, directory: Directory) -> str:
    return signed_in(client, "chair@tw.example")


def post(client: TestClient, url: str, data: dict[str, Any]) -> httpx.Response:
    return client.post(url, data=data, follow_redirects=False)


def shown_url(page: str) -> str:
    found = re.search(
        r'<textarea class="govuk-textarea app-secret" id="feed-url"[^>]*>([^<]+)</textarea>', page
    )
    assert found, "no feed address on the page"
    url = html_lib.unescape(found.group(1))
    remember_secret(url.removeprefix(f"{BASE}/feeds/").removesuffix(".ics"))
    return url


def feeds_of(user_id: str) -> list[CalendarFeed]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(CalendarFeed).where(col(CalendarFeed.user_id) == uuid.UUID(user_id))
            )
        )


def row_of(page: str, feed_id: object) -> str:
    found = re.search(rf'<tr class="govuk-table__row" data-feed="{feed_id}".*?</tr>', page, re.S)
    assert found, f"no row for feed {feed_id}"
    return found.group(0)


class TestPage:
    def test_signed_out_is_sent_to_sign_in_and_back(self, client: TestClient) -> None:
        response = client.get("/ui/calendar-feed", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/sign-in?next=/ui/calendar-feed"

    def test_every_signed_in_page_links_to_it(self, client: TestClient, chair: str) -> None:
        dashboard = client.get("/ui").text
        assert re.search(
            r'<a class="govuk-link[^"]*" href="/ui/calendar-feed">Calendar feed</a>', dashboard
        )
        page = client.get("/ui/calendar-feed")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        assert 'href="/ui/calendar-feed" aria-current="page">Calendar feed</a>' in page.text
        assert '<h1 class="govuk-heading-l">Calendar feed</h1>' in page.text
        assert 'id="no-feeds"' in page.text

    def test_a_feed_is_created_shown_once_works_and_is_revoked(
        self, client: TestClient, chair: str, directory: Directory, api: Api
    ) -> None:
        case = api.create_case(became_aware_on="2026-06-10")
        response = post(
            client, "/ui/calendar-feed", {"csrf_token": chair, "name": "Outlook at work"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert "It will not be shown again" in response.text
        url = shown_url(response.text)
        assert url.startswith(f"{BASE}/feeds/cspr_")
        (stored,) = feeds_of(directory.user_ids["TW"]["chair"])
        assert stored.name == "Outlook at work"
        secret = url.removeprefix(f"{BASE}/feeds/").removesuffix(".ics")
        assert stored.token_hash == accounts_service.hash_token(secret)

        feed = client.get(url.removeprefix(BASE))
        assert feed.status_code == 200
        (event, _review) = Calendar.from_ical(feed.content).walk("VEVENT")
        assert str(event["SUMMARY"]) == f"{case['reference']}: Notify the Panel due"

        listing = client.get("/ui/calendar-feed").text
        assert secret not in listing
        row = row_of(listing, stored.id)
        assert "Outlook at work" in row
        assert 'data-status="active"' in row
        assert "17 June 2026 at 10:00am" in row  # created, and last used by the fetch above

        revoked = post(client, f"/ui/calendar-feed/{stored.id}/revoke", {"csrf_token": chair})
        assert revoked.status_code == 303
        page = client.get(revoked.headers["location"]).text
        assert "The calendar feed was revoked" in page
        assert 'data-status="revoked"' in row_of(page, stored.id)
        assert "Revoke<span" not in row_of(page, stored.id)
        assert client.get(url.removeprefix(BASE)).status_code == 404

    def test_the_page_lists_only_my_feeds(
        self, client: TestClient, chair: str, directory: Directory, api: Api
    ) -> None:
        theirs = api.client.post(
            "/api/v1/calendar-feeds", json={"name": "Someone else's"}, headers=api.headers("qpd")
        )
        assert theirs.status_code == 201
        remember_secret(theirs.json()["url"].removeprefix(f"{BASE}/feeds/").removesuffix(".ics"))
        assert "Someone else" not in client.get("/ui/calendar-feed").text

    def test_a_missing_name_is_shown_with_the_error_summary_and_nothing_is_created(
        self, client: TestClient, chair: str, directory: Directory
    ) -> None:
        response = post(client, "/ui/calendar-feed", {"csrf_token": chair, "name": "  "})
        assert response.status_code == 422
        assert '<a href="#feed-name">Enter a name for the feed</a>' in response.text
        assert 'id="feed-name-error"' in response.text
        assert response.text.count("Error: ") >= 1
        assert feeds_of(directory.user_ids["TW"]["chair"]) == []

    def test_a_name_too_long_is_refused(
        self, client: TestClient, chair: str, directory: Directory
    ) -> None:
        response = post(client, "/ui/calendar-feed", {"csrf_token": chair, "name": "x" * 101})
        assert response.status_code == 422
        assert "The name of the feed must be 100 characters or fewer" in response.text
        assert feeds_of(directory.user_ids["TW"]["chair"]) == []

    def test_posts_without_the_csrf_token_are_refused(
        self, client: TestClient, chair: str, directory: Directory
    ) -> None:
        created = post(client, "/ui/calendar-feed", {"name": "Outlook"})
        assert created.status_code == 403
        assert feeds_of(directory.user_ids["TW"]["chair"]) == []
        post(client, "/ui/calendar-feed", {"csrf_token": chair, "name": "Outlook"})
        (stored,) = feeds_of(directory.user_ids["TW"]["chair"])
        refused = post(client, f"/ui/calendar-feed/{stored.id}/revoke", {"csrf_token": "wrong"})
        assert refused.status_code == 403
        (after,) = feeds_of(directory.user_ids["TW"]["chair"])
        assert after.revoked_at is None

    def test_another_users_feed_cannot_be_revoked_from_the_page(
        self, client: TestClient, chair: str, directory: Directory, api: Api
    ) -> None:
        theirs = api.client.post(
            "/api/v1/calendar-feeds", json={"name": "Theirs"}, headers=api.headers("qpd")
        ).json()
        remember_secret(theirs["url"].removeprefix(f"{BASE}/feeds/").removesuffix(".ics"))
        refused = post(client, f"/ui/calendar-feed/{theirs['id']}/revoke", {"csrf_token": chair})
        assert refused.status_code == 404
        (stored,) = feeds_of(directory.user_ids["TW"]["qpd"])
        assert stored.revoked_at is None


@pytest.mark.browser
def test_the_calendar_feed_pages_have_no_serious_accessibility_violations(
    signed_in: SignIn,
) -> None:
    page = signed_in("scrutineer", bypass_csp=True)
    page.get_by_role("link", name="Calendar feed").click()
    expect(page.get_by_role("heading", name="Calendar feed", level=1)).to_be_visible()
    found = {"empty": serious_violations(page)}
    page.get_by_role("button", name="Create a calendar feed").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    found["with errors"] = serious_violations(page)
    page.get_by_label("Name of the feed").fill("Outlook")
    page.get_by_role("button", name="Create a calendar feed").click()
    expect(page.get_by_role("heading", name="Calendar feed created")).to_be_visible()
    url = page.get_by_label("Address of the feed").input_value()
    remember_secret(url.rsplit("/", 1)[1].removesuffix(".ics"))
    found["created"] = serious_violations(page)
    page.get_by_role("link", name="Back to your calendar feeds").click()
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    found["listed"] = serious_violations(page)
    assert {name: v for name, v in found.items() if v} == {}
