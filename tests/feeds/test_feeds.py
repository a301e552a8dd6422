"""Calendar feeds over HTTP: creating, listing and revoking them (/api/v1/calendar-feeds), and
the feed itself (/feeds/{secret}.ics), read with the `icalendar` package.

The suite's "now" is Wednesday 17 June 2026. The due dates below are worked out by hand from
the England and Wales calendar (Spring bank holiday: Monday 25 May 2026):

- aware Friday 22 May: the Panel notification (5 working days) is due Monday 1 June (26, 27,
  28, 29 May, 1 June), the rapid review (15 working days) Monday 15 June; both breached by now.
- aware Wednesday 10 June: the Panel notification is due Wednesday 17 June (today: running),
  the rapid review Wednesday 1 July.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import User
from cspr_engine.accounts.service import hash_token
from cspr_engine.config import get_settings
from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import Deadline
from cspr_engine.feeds import service as feed_service
from cspr_engine.feeds.exceptions import FeedRateLimited
from cspr_engine.feeds.models import CalendarFeed
from cspr_engine.kit.clock import FixedClock
from cspr_engine.kit.logs import DropQueryStrings
from tests.conftest import NOW, _free_port
from tests.factories import (
    Api,
    Directory,
    access_events,
    assert_problem,
    remember_secret,
    uvicorn_in_thread,
)

AWARE_BEFORE_THE_HOLIDAY = "2026-05-22"  # a Friday; Monday 25 May is a bank holiday
AWARE_LAST_WEEK = "2026-06-10"
BASE = get_settings().public_base_url.rstrip("/")


# -- helpers -------------------------------------------------------------------------------


def create_feed(
    api: Api, who: str = "chair", partnership: str = "TW", name: str = "Outlook"
) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/calendar-feeds", json={"name": name}, headers=api.headers(who, partnership)
    )
    assert response.status_code == 201, response.text
    body = dict(response.json())
    remember_secret(secret_of(body["url"]))
    return body


def secret_of(url: str) -> str:
    assert url.startswith(f"{BASE}/feeds/"), url
    assert url.endswith(".ics"), url
    return url.removeprefix(f"{BASE}/feeds/").removesuffix(".ics")


def path_of(feed: dict[str, Any]) -> str:
    return str(feed["url"]).removeprefix(BASE)


def fetch(client: TestClient | httpx.Client, feed: dict[str, Any]) -> httpx.Response:
    return client.get(path_of(feed))


def events(client: TestClient, feed: dict[str, Any]) -> dict[str, Any]:
    """The feed's events by UID, once the feed has parsed as iCalendar."""
    response = fetch(client, feed)
    assert response.status_code == 200, response.text
    calendar = Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def clock_ids(case_id: str) -> dict[str, uuid.UUID]:
    """The case's clocks (first instance of each) by key, straight from the database."""
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Deadline).where(col(Deadline.case_id) == uuid.UUID(case_id))
        ).all()
    return {d.key: d.id for d in rows if d.sequence == 1}


def uid(case_id: str, key: str) -> str:
    return f"{clock_ids(case_id)[key]}@cspr-engine"


def dates(event: Any) -> tuple[object, object]:
    return event["DTSTART"].dt, event["DTEND"].dt


@pytest.fixture
def late_case(api: Api) -> dict[str, Any]:
    return api.create_case(
        became_aware_on=AWARE_BEFORE_THE_HOLIDAY,
        incident={
            "occurred_on": "2026-05-21",
            "outcome": "serious_harm",
            "abuse_or_neglect": "suspected",
            "categories": ["physical_abuse"],
        },
    )


@pytest.fixture
def recent_case(api: Api) -> dict[str, Any]:
    return api.create_case(became_aware_on=AWARE_LAST_WEEK)


# -- the feed's content ---------------------------------------------------------------------


class TestFeedContent:
    def test_each_open_clock_is_an_all_day_event_on_its_hand_computed_due_date(
        self, api: Api, late_case: dict[str, Any], recent_case: dict[str, Any]
    ) -> None:
        feed = create_feed(api)
        response = fetch(api.client, feed)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert b"\r\n" in response.content
        assert b"\n" not in response.content.replace(b"\r\n", b"")

        found = events(api.client, feed)
        late, recent = late_case, recent_case
        expected = {
            uid(late["id"], "panel_notification"): (date(2026, 6, 1), "Notify the Panel", True),
            uid(late["id"], "rapid_review"): (
                date(2026, 6, 15),
                "Complete the rapid review and send it to the Panel",
                True,
            ),
            uid(recent["id"], "panel_notification"): (date(2026, 6, 17), "Notify the Panel", False),
            uid(recent["id"], "rapid_review"): (
                date(2026, 7, 1),
                "Complete the rapid review and send it to the Panel",
                False,
            ),
        }
        assert set(found) == set(expected)
        by_case = {uid(late["id"], k): late for k in ("panel_notification", "rapid_review")}
        by_case |= {uid(recent["id"], k): recent for k in ("panel_notification", "rapid_review")}
        for key, (due, label, breached) in expected.items():
            event = found[key]
            reference = by_case[key]["reference"]
            # All-day: dates, not instants; DTEND is the (exclusive) next day.
            assert dates(event) == (due, due + timedelta(days=1)), label
            assert not isinstance(event["DTSTART"].dt, datetime)
            suffix = " (BREACHED)" if breached else ""
            assert str(event["SUMMARY"]) == f"{reference}: {label} due{suffix}"
            page = f"{BASE}/ui/cases/{reference}"
            assert str(event["URL"]) == page
            description = str(event["DESCRIPTION"])
            assert page in description
            assert ("Breached." in description) is breached

    def test_the_description_names_the_rule_and_basis_and_no_case_content(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        feed = create_feed(api)
        event = events(api.client, feed)[uid(recent_case["id"], "panel_notification")]
        description = str(event["DESCRIPTION"])
        assert "Rule: D1, D2." in description
        assert "Basis: Children Act 2004 s.16C(1)" in description
        assert "Due by the end of 17 June 2026." in description
        assert "Statutory clock." in description
        text = fetch(api.client, feed).text
        # The referral's summary and the partner's reference stay in the case.
        assert "Infant admitted" not in text
        assert "POL-2026-118" not in text
        assert "physical" not in text

    def test_the_calendar_names_itself_and_asks_to_be_fetched_hourly(self, api: Api) -> None:
        feed = create_feed(api)
        calendar = Calendar.from_ical(fetch(api.client, feed).content)
        assert str(calendar["X-WR-CALNAME"]) == "CSPR clocks (TW)"
        assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H"
        assert calendar.walk("VEVENT") == []  # no case yet: a valid, empty calendar

    def test_a_transition_that_meets_a_clock_takes_it_off_the_feed(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        feed = create_feed(api)
        notification = uid(recent_case["id"], "panel_notification")
        review = uid(recent_case["id"], "rapid_review")
        assert set(events(api.client, feed)) == {notification, review}
        api.ok(recent_case["id"], "notify_panel", {"notified_on": "2026-06-16"})
        after = events(api.client, feed)
        assert set(after) == {review}
        assert dates(after[review]) == (date(2026, 7, 1), date(2026, 7, 2))

    def test_a_clock_met_late_is_left_out_too(self, api: Api, late_case: dict[str, Any]) -> None:
        feed = create_feed(api)
        api.ok(late_case["id"], "notify_panel", {"notified_on": "2026-06-03"})
        assert set(events(api.client, feed)) == {uid(late_case["id"], "rapid_review")}

    def test_a_clock_the_sweep_marked_breached_stays_marked(
        self, api: Api, late_case: dict[str, Any], clock: FixedClock
    ) -> None:
        from cspr_engine.scheduler import jobs

        jobs.sweep_deadlines(clock)
        with Session(get_engine()) as session:
            stored = session.get(Deadline, clock_ids(late_case["id"])["panel_notification"])
            assert stored is not None
            assert stored.status == "breached"
        event = events(api.client, create_feed(api))[uid(late_case["id"], "panel_notification")]
        assert str(event["SUMMARY"]).endswith("Notify the Panel due (BREACHED)")

    def test_a_cancelled_clock_is_left_out(self, api: Api, recent_case: dict[str, Any]) -> None:
        feed = create_feed(api)
        api.ok(
            recent_case["id"],
            "decide_not_notifiable",
            {"rationale": "Criteria not met.", "alternative_learning": "none"},
        )
        assert events(api.client, feed) == {}


class TestWhoseCases:
    def test_another_partnerships_cases_never_appear(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        theirs = api.create_case(partnership="OT", became_aware_on=AWARE_LAST_WEEK)
        tw_text = fetch(api.client, create_feed(api)).text
        ot_text = fetch(api.client, create_feed(api, partnership="OT")).text
        assert recent_case["reference"] in tw_text
        assert theirs["reference"] not in tw_text.replace(recent_case["reference"], "")
        assert uid(theirs["id"], "panel_notification") not in tw_text
        ot_events = Calendar.from_ical(ot_text).walk("VEVENT")
        assert {str(e["UID"]) for e in ot_events} == {
            uid(theirs["id"], "panel_notification"),
            uid(theirs["id"], "rapid_review"),
        }

    def test_a_referrer_sees_only_the_cases_it_may_read(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        # The case was referred by the police: the education referrer may not read it.
        police = events(api.client, create_feed(api, "referrer"))
        assert uid(recent_case["id"], "panel_notification") in police
        assert events(api.client, create_feed(api, "referrer_education")) == {}

    def test_an_administrator_reads_no_cases_so_its_feed_is_empty(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        assert events(api.client, create_feed(api, "admin")) == {}

    def test_the_feed_follows_the_users_roles_as_they_are_now(
        self, api: Api, recent_case: dict[str, Any]
    ) -> None:
        feed = create_feed(api, "referrer_education")
        assert events(api.client, feed) == {}
        with Session(get_engine()) as session:
            user = session.get(User, uuid.UUID(api.directory.user_ids["TW"]["referrer_education"]))
            assert user is not None
            user.roles = ["scrutineer"]
            session.commit()
        assert uid(recent_case["id"], "rapid_review") in events(api.client, feed)


# -- who can fetch it -----------------------------------------------------------------------


class TestFetching:
    def test_a_revoked_feed_is_404_and_says_nothing_more(self, api: Api, clock: FixedClock) -> None:
        feed = create_feed(api)
        assert fetch(api.client, feed).status_code == 200
        revoked = api.client.delete(
            f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("chair")
        )
        assert revoked.status_code == 204
        response = fetch(api.client, feed)
        body = assert_problem_404(response)
        assert body["instance"] == "/feeds/….ics"
        unknown = api.client.get(f"/feeds/{'cspr_' + 'x' * 43}.ics")
        assert assert_problem_404(unknown) == body | {"request_id": unknown.json()["request_id"]}

    def test_a_disabled_users_feed_is_404(self, api: Api) -> None:
        feed = create_feed(api)
        with Session(get_engine()) as session:
            user = session.get(User, uuid.UUID(api.directory.user_ids["TW"]["chair"]))
            assert user is not None
            user.is_active = False
            session.commit()
        assert_problem_404(fetch(api.client, feed))

    @pytest.mark.parametrize("secret", ["nothing", "x" * 5000, "%00", "cspr_%2F..%2F"])
    def test_unknown_or_malformed_secrets_are_404(self, api: Api, secret: str) -> None:
        create_feed(api)
        response = api.client.get(f"/feeds/{secret}.ics")
        assert response.status_code == 404, response.text
        assert secret not in response.text

    def test_each_fetch_is_one_access_log_row_naming_no_case(
        self, api: Api, recent_case: dict[str, Any], clock: FixedClock
    ) -> None:
        feed = create_feed(api)
        before = len(access_events(action="calendar.feed"))
        fetch(api.client, feed)
        clock.set(NOW + timedelta(minutes=1))
        response = fetch(api.client, feed)
        rows = access_events(action="calendar.feed")
        assert len(rows) == before + 2
        last = rows[-1]
        assert last["actor_id"] == api.directory.user_ids["TW"]["chair"]
        assert last["case_id"] is None
        assert last["path"] == "/feeds/….ics"
        assert last["method"] == "GET"
        assert last["outcome"] == "allowed"
        assert last["status"] == 200
        assert last["request_id"] == response.headers["x-request-id"]
        assert last["at"] == NOW + timedelta(minutes=1)
        assert all(secret_of(feed["url"]) not in r["path"] for r in access_events())
        # The feed's last use is recorded for its owner to see.
        with Session(get_engine()) as session:
            stored = session.get(CalendarFeed, uuid.UUID(feed["id"]))
            assert stored is not None
            assert stored.last_used_at == NOW + timedelta(minutes=1)

    def test_a_refused_fetch_writes_no_access_row(self, api: Api) -> None:
        feed = create_feed(api)
        api.client.delete(f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("chair"))
        fetch(api.client, feed)
        assert access_events(action="calendar.feed") == []


def assert_problem_404(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["type"] == "/problems/feed-unavailable"
    assert body["detail"] == "There is no calendar feed at this address."
    assert "cspr_" not in response.text
    return body


# -- creating, listing, revoking ------------------------------------------------------------


def feed_rows(user_key: str, api: Api) -> list[CalendarFeed]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(CalendarFeed).where(
                    col(CalendarFeed.user_id) == uuid.UUID(api.directory.user_ids["TW"][user_key])
                )
            )
        )


class TestCreateListRevoke:
    def test_the_url_is_shown_once_and_only_its_hash_is_kept(self, api: Api) -> None:
        response = api.client.post(
            "/api/v1/calendar-feeds", json={"name": " Outlook "}, headers=api.headers("chair")
        )
        assert response.status_code == 201
        assert response.headers["cache-control"] == "no-store"
        created = response.json()
        secret = remember_secret(secret_of(created["url"]))
        assert secret.startswith("cspr_")
        assert len(secret) == 48
        assert created["name"] == "Outlook"
        assert created["user_id"] == api.directory.user_ids["TW"]["chair"]
        (row,) = feed_rows("chair", api)
        assert row.token_hash == hash_token(secret)
        assert secret not in repr(row.model_dump())
        listed = api.client.get("/api/v1/calendar-feeds", headers=api.headers("chair")).json()
        assert listed == {
            "items": [
                {
                    "id": created["id"],
                    "name": "Outlook",
                    "user_id": created["user_id"],
                    "created_at": created["created_at"],
                    "last_used_at": None,
                    "revoked_at": None,
                }
            ],
            "next_cursor": None,
        }

    def test_two_feeds_have_different_secrets(self, api: Api) -> None:
        assert create_feed(api)["url"] != create_feed(api)["url"]

    @pytest.mark.parametrize(
        ("body", "type_"),
        [
            ({}, "/problems/invalid-data"),
            ({"name": "   "}, "/problems/invalid-data"),
            ({"name": "x" * 101}, "/problems/invalid-data"),
            ({"name": "ok", "user_id": str(uuid.uuid4())}, "/problems/invalid-data"),
        ],
    )
    def test_invalid_bodies_are_422_and_create_nothing(
        self, api: Api, body: dict[str, Any], type_: str
    ) -> None:
        response = api.client.post(
            "/api/v1/calendar-feeds", json=body, headers=api.headers("chair")
        )
        assert_problem(response, 422, type_)
        assert feed_rows("chair", api) == []

    def test_a_feed_needs_an_authenticated_caller(self, api: Api) -> None:
        response = api.client.post("/api/v1/calendar-feeds", json={"name": "x"})
        assert_problem(response, 401)

    def test_a_user_cannot_list_or_revoke_a_colleagues_feeds(self, api: Api) -> None:
        feed = create_feed(api)
        chair_id = api.directory.user_ids["TW"]["chair"]
        listing = api.client.get(
            "/api/v1/calendar-feeds", params={"user_id": chair_id}, headers=api.headers("qpd")
        )
        assert_problem(listing, 404, "/problems/user-not-found")
        refused = api.client.delete(
            f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("qpd")
        )
        assert_problem(refused, 404, "/problems/calendar-feed-not-found")
        assert fetch(api.client, feed).status_code == 200

    def test_an_admin_lists_and_revokes_its_partnerships_users_feeds(
        self, api: Api, clock: FixedClock
    ) -> None:
        feed = create_feed(api)
        chair_id = api.directory.user_ids["TW"]["chair"]
        other_admin = api.client.delete(
            f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("admin", "OT")
        )
        assert_problem(other_admin, 404, "/problems/calendar-feed-not-found")
        listed = api.client.get(
            "/api/v1/calendar-feeds", params={"user_id": chair_id}, headers=api.headers("admin")
        ).json()
        assert [f["id"] for f in listed["items"]] == [feed["id"]]
        clock.set(NOW + timedelta(minutes=5))
        revoked = api.client.delete(
            f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("admin")
        )
        assert revoked.status_code == 204
        clock.set(NOW + timedelta(minutes=9))
        again = api.client.delete(
            f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("chair")
        )
        assert again.status_code == 204
        (row,) = feed_rows("chair", api)
        assert row.revoked_at == NOW + timedelta(minutes=5)  # revoking twice keeps the first
        assert fetch(api.client, feed).status_code == 404

    def test_an_unknown_or_malformed_id(self, api: Api) -> None:
        unknown = api.client.delete(
            f"/api/v1/calendar-feeds/{uuid.uuid4()}", headers=api.headers("chair")
        )
        assert_problem(unknown, 404, "/problems/calendar-feed-not-found")
        malformed = api.client.delete(
            "/api/v1/calendar-feeds/not-a-uuid", headers=api.headers("chair")
        )
        assert_problem(malformed, 422)

    def test_pages_follow_the_cursor(self, api: Api, clock: FixedClock) -> None:
        for n in range(3):
            clock.set(NOW + timedelta(seconds=n))
            create_feed(api, name=f"f{n}")
        first = api.client.get(
            "/api/v1/calendar-feeds", params={"limit": 2}, headers=api.headers("chair")
        ).json()
        second = api.client.get(
            "/api/v1/calendar-feeds",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=api.headers("chair"),
        ).json()
        assert [f["name"] for f in first["items"] + second["items"]] == ["f0", "f1", "f2"]
        assert second["next_cursor"] is None

    def test_creation_is_bounded_per_user_and_hour(self, api: Api) -> None:
        with Session(get_engine()) as session:
            user = session.get(User, uuid.UUID(api.directory.user_ids["TW"]["chair"]))
            assert user is not None
            for minutes in (0, 10):
                _, secret = feed_service.create_feed(
                    session=session,
                    user=user,
                    name="f",
                    now=NOW + timedelta(minutes=minutes),
                    per_hour=2,
                )
                remember_secret(secret)
            with pytest.raises(FeedRateLimited) as refused:
                feed_service.create_feed(
                    session=session,
                    user=user,
                    name="f",
                    now=NOW + timedelta(minutes=30),
                    per_hour=2,
                )
            # Room again once the first is an hour old: 30 minutes from then.
            assert refused.value.headers["Retry-After"] == "1800"
            _, secret = feed_service.create_feed(
                session=session,
                user=user,
                name="f",
                now=NOW + timedelta(hours=1, seconds=1),
                per_hour=2,
            )
            remember_secret(secret)
            session.rollback()

    def test_the_api_applies_the_token_rate_setting(self, api: Api, clock: FixedClock) -> None:
        limit = get_settings().token_create_per_hour
        for _ in range(limit):
            create_feed(api)
        response = api.client.post(
            "/api/v1/calendar-feeds", json={"name": "one more"}, headers=api.headers("chair")
        )
        body = assert_problem(response, 429, "/problems/feed-rate-limited")
        assert response.headers["retry-after"] == "3600"
        assert body["retry_after"] == 3600
        assert len(feed_rows("chair", api)) == limit


# -- logs ----------------------------------------------------------------------------------


def test_the_log_filter_cuts_a_feeds_secret_out_of_a_path() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/feeds/cspr_" + "A" * 43 + ".ics", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /feeds/… HTTP/1.1" 200'


@pytest.fixture
def every_logger_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in {
        "uvicorn",
        "uvicorn.access",
        "uvicorn.error",
        "httpx",
        "sqlalchemy",
        "cspr_engine",
    } | set(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)
    return caplog


@pytest.fixture
def chatty_server(app: FastAPI) -> Iterator[str]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=_free_port(),
        log_config=None,
        log_level="debug",
        access_log=True,
    )
    with uvicorn_in_thread(config) as url:
        yield url


def test_the_secret_never_reaches_a_log_line(
    every_logger_at_debug: pytest.LogCaptureFixture, chatty_server: str, directory: Directory
) -> None:
    caplog = every_logger_at_debug
    with httpx.Client(base_url=chatty_server, timeout=30) as http:
        api = Api(http, directory)
        api.create_case(became_aware_on=AWARE_LAST_WEEK)
        feed = create_feed(api)
        secret = secret_of(feed["url"])
        assert fetch(http, feed).status_code == 200
        http.delete(f"/api/v1/calendar-feeds/{feed['id']}", headers=api.headers("chair"))
        assert fetch(http, feed).status_code == 404
        assert http.get(f"/feeds/{secret}").status_code == 404  # no such route
    lines = [logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records]
    assert any(r.name == "uvicorn.access" and "/feeds/…" in r.getMessage() for r in caplog.records)
    assert [line for line in lines if secret in line] == []
