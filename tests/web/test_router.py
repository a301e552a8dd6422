"""The web UI over HTTP, without a browser: sign-in and sign-out, the dashboard, a new referral,
the case page, action and decision forms, error pages, static files and headers. Every refusal
is checked against the database as well as the page: a page that says no has changed nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SESSION_COOKIE
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import FixedClock
from cspr_engine.kit.headers import PAGE_CSP
from cspr_engine.web.templating import STATIC_DIR
from tests.conftest import NOW
from tests.factories import (
    PASSWORD,
    Api,
    Directory,
    access_events,
    assert_problem,
    set_password,
    sign_in,
    snapshot,
    stored,
)

CHAIR = "chair@tw.example"
OT_CHAIR = "chair@ot.example"
# No incident date: an incident cannot come after the day the local authority knew of it.
INCIDENT = {"outcome": "serious_harm", "abuse_or_neglect": "suspected"}
STALE = "Someone else changed this case while you had it open"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    # argon2id at the service's 64 MiB costs a noticeable fraction of a second per sign-in;
    # these tests are about pages, not password hashing (tests/accounts covers that).
    monkeypatch.setattr(
        accounts_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


# -- a small HTML reader (the standard library's parser; no dependency) ------------------------

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())

INLINE = frozenset("a abbr b code em i span strong small".split())


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(
        self, tag: str | None = None, *, cls: str | None = None, **attrs: str
    ) -> list[Element]:
        """Descendants by tag, a class among their classes, and exact attributes (`id_` for
        `id`, `data_x` for `data-x`)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.attrs.get("class", "").split())
            and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str | None = None, *, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls=cls, **attrs)
        assert found, f"no <{tag or '*'}> with class={cls} {attrs}"
        return found[0]

    def by_id(self, ident: str) -> Element:
        return self.find(id_=ident)

    def has_id(self, ident: str) -> bool:
        return bool(self.find_all(id_=ident))

    @property
    def text(self) -> str:
        """The text as a reader sees it: whitespace collapsed, blocks apart, inline runs not."""
        parts: list[str] = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag in INLINE:
                parts.append(child.text)
            else:
                parts.append(f" {child.text} ")
        return " ".join("".join(parts).split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def page(response: httpx.Response) -> Element:
    """The response as an HTML document (and it is one: a page, never JSON or a stack trace)."""
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "Traceback" not in response.text
    builder = _Builder()
    builder.feed(response.text)
    builder.close()
    return builder.root


def error_summary(doc: Element) -> list[tuple[str, str]]:
    """The GOV.UK error summary's (link, message) pairs; [] without one."""
    summaries = doc.find_all("div", cls="govuk-error-summary")
    return [(a.attrs["href"], a.text) for s in summaries for a in s.find_all("a")]


def inline_errors(doc: Element) -> dict[str, str]:
    """Each field's error message by the message's id (`<field id>-error`)."""
    return {
        e.attrs["id"]: e.text.removeprefix("Error:").strip()
        for e in doc.find_all("p", cls="govuk-error-message")
    }


def problem_text(doc: Element) -> str:
    return doc.by_id("problem").text


def hidden_inputs(doc: Element, action: str) -> dict[str, str]:
    form = doc.find("form", action=action)
    return {
        i.attrs["name"]: i.attrs.get("value", "") for i in form.find_all("input", type="hidden")
    }


def title(doc: Element) -> str:
    return doc.find("h1").text


# -- clients ----------------------------------------------------------------------------------


class WebClient:
    """What the server sees of one person's browser: its own cookie jar, redirects not
    followed, its session's CSRF token. (Not `browser`: tests/web/conftest.py's Playwright
    fixture has that name.)"""

    def __init__(self, app: FastAPI) -> None:
        self.http = TestClient(app, follow_redirects=False)
        self.csrf = ""

    def sign_in(self, email: str) -> WebClient:
        set_password(email)
        response = sign_in(self.http, email)
        assert response.status_code == 200, response.text
        self.csrf = str(response.json()["csrf_token"])
        return self

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """A form post with the session's CSRF token (unless `data` names its own)."""
        return self.http.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def post_without_csrf(self, url: str, data: dict[str, Any]) -> httpx.Response:
        return self.http.post(url, data=data)


WebClients = Callable[..., WebClient]


@pytest.fixture
def web(app: FastAPI, directory: Directory) -> Iterator[WebClients]:
    """`web()` signed out, `web("chair@tw.example")` signed in."""
    made: list[WebClient] = []

    def make(email: str | None = None) -> WebClient:
        b = WebClient(app)
        made.append(b)
        return b.sign_in(email) if email else b

    yield make
    for b in made:
        b.http.close()


@pytest.fixture
def chair(web: WebClients) -> WebClient:
    return web(CHAIR)


# -- data ---------------------------------------------------------------------------------------


def new_case(api: Api, aware: str = "2026-06-10", **overrides: Any) -> dict[str, Any]:
    overrides.setdefault("incident", INCIDENT)
    return api.create_case(became_aware_on=aware, **overrides)


def date_fields(name: str, iso: str) -> dict[str, str]:
    year, month, day = iso.split("-")
    return {f"{name}-day": day, f"{name}-month": month, f"{name}-year": year}


def count(table: str) -> int:
    with get_engine().connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def to_rapid_review(api: Api, case: dict[str, Any]) -> None:
    api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})


def to_dsp_decision(api: Api, case: dict[str, Any]) -> None:
    to_rapid_review(api, case)
    api.ok(
        case["id"],
        "complete_rapid_review",
        {
            "completed_on": "2026-06-16",
            "recommendation": "lcspr",
            "criteria": ["a", "d"],
            "rationale": "Learning for the partnership.",
        },
    )


def notify_form(
    version: int | str, notified_on: str = "2026-06-12", **extra: str
) -> dict[str, str]:
    return {"version": str(version), **date_fields("notified_on", notified_on), **extra}


def case_row(reference: str) -> dict[str, Any]:
    found = rows("SELECT * FROM cases WHERE reference = :r", r=reference)
    assert len(found) == 1, reference
    return found[0]


# -- signing in and out ---------------------------------------------------------------------------


class TestSignInRequired:
    def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(
        self, web: WebClients
    ) -> None:
        anonymous = web()
        for path, next_path in (
            ("/ui", "/ui"),
            ("/ui/cases/new", "/ui/cases/new"),
            ("/ui/alerts", "/ui/alerts"),
            ("/ui/cases/TW-2026-0001", "/ui/cases/TW-2026-0001"),
            ("/ui?state=referred", "/ui%3Fstate%3Dreferred"),
        ):
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == f"/ui/sign-in?next={next_path}", path

    def test_an_unknown_or_overlong_cookie_is_no_session(self, web: WebClients) -> None:
        anonymous = web()
        for value in ("not-a-session", "x" * 5000):
            anonymous.http.cookies.set(SESSION_COOKIE, value)
            response = anonymous.get("/ui")
            assert response.status_code == 303
            assert response.headers["location"] == "/ui/sign-in?next=/ui"

    def test_a_post_without_a_session_changes_nothing(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = web().post(
            f"/ui/cases/{case['reference']}/transitions/notify_panel", notify_form(1)
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/sign-in?next=")
        assert snapshot(case["id"]) == before

    def test_an_expired_session_signs_in_again(self, chair: WebClient, clock: FixedClock) -> None:
        assert chair.get("/ui").status_code == 200
        clock.set(NOW + timedelta(hours=9))  # sessions last 8 hours
        response = chair.get("/ui")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/sign-in?next=/ui"


class TestSignIn:
    def test_the_page_asks_for_e_mail_and_password(self, web: WebClients) -> None:
        response = web().get("/ui/sign-in?next=/ui/alerts")
        assert response.status_code == 200
        doc = page(response)
        assert title(doc) == "Sign in"
        assert doc.by_id("email").attrs["type"] == "email"
        assert doc.by_id("password").attrs["type"] == "password"
        assert hidden_inputs(doc, "/ui/sign-in") == {"next": "/ui/alerts"}
        assert error_summary(doc) == []

    def test_the_form_signs_in_sets_the_cookie_and_goes_to_next(
        self, web: WebClients, directory: Directory
    ) -> None:
        set_password(CHAIR)
        b = web()
        response = b.http.post(
            "/ui/sign-in",
            data={
                "email": CHAIR,
                "password": PASSWORD,
                "next": "/ui/alerts?cursor=x",
            },
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/alerts?cursor=x"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        attributes = [a.strip().lower() for a in cookie.split(";")[1:]]
        assert {"httponly", "samesite=lax", "path=/"} <= set(attributes)
        # The session is stored (hashed) and works.
        sessions = rows("SELECT * FROM web_sessions")
        assert len(sessions) == 1
        assert sessions[0]["ended_at"] is None
        assert b.http.cookies[SESSION_COOKIE] not in str(sessions[0])
        dashboard = b.get("/ui")
        assert dashboard.status_code == 200
        assert "Signed in as chair, TW" in page(dashboard).find(cls="app-account").text

    def test_the_whole_round_trip_from_a_case_link(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        set_password(CHAIR)
        b = web()
        to_sign_in = b.get(f"/ui/cases/{case['reference']}")
        sign_in_page = page(b.get(to_sign_in.headers["location"]))
        next_path = hidden_inputs(sign_in_page, "/ui/sign-in")["next"]
        assert next_path == f"/ui/cases/{case['reference']}"
        signed = b.http.post(
            "/ui/sign-in",
            data={"email": CHAIR, "password": PASSWORD, "next": next_path},
        )
        assert signed.headers["location"] == next_path
        assert b.get(next_path).status_code == 200

    def test_next_is_only_ever_a_page_of_this_service(
        self, web: WebClients, directory: Directory
    ) -> None:
        set_password(CHAIR)
        for next_path in (
            "//evil.example",
            "//evil.example/ui",
            "https://evil.example",
            "https://evil.example/ui",
            "/api/v1/cases",
            "/\\evil.example",
            "/ui\\..\\evil.example",
            "/ui/../api/v1/cases",
            "/ui/%2e%2e/api/v1/cases",
            "/ui/./../api/v1/cases?x=1",
            "javascript:alert(1)",
            "evil.example",
            "",
        ):
            response = web().http.post(
                "/ui/sign-in",
                data={"email": CHAIR, "password": PASSWORD, "next": next_path},
            )
            assert response.status_code == 303, next_path
            assert response.headers["location"] == "/ui", next_path
            # Nor does the sign-in page carry it forward.
            doc = page(web().get("/ui/sign-in", params={"next": next_path}))
            assert hidden_inputs(doc, "/ui/sign-in")["next"] == "/ui", next_path

    def test_a_wrong_password_shows_the_error_summary_and_sets_no_cookie(
        self, web: WebClients, directory: Directory
    ) -> None:
        set_password(CHAIR)
        b = web()
        response = b.http.post(
            "/ui/sign-in",
            data={"email": CHAIR, "password": "not the password at all", "next": "/ui/alerts"},
        )
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert SESSION_COOKIE not in b.http.cookies
        doc = page(response)
        assert doc.find("title").text.startswith("Error: Sign in")
        assert error_summary(doc) == [("#email", "The e-mail address or password is not right")]
        assert inline_errors(doc) == {"email-error": "The e-mail address or password is not right"}
        # The e-mail address is kept, the password never sent back; next is kept.
        assert doc.by_id("email").attrs["value"] == CHAIR
        assert "value" not in doc.by_id("password").attrs
        assert "not the password at all" not in response.text
        assert hidden_inputs(doc, "/ui/sign-in") == {"next": "/ui/alerts"}

    def test_an_unknown_e_mail_gets_the_same_answer_as_a_wrong_password(
        self, web: WebClients, directory: Directory
    ) -> None:
        set_password(CHAIR)
        wrong = web().http.post(
            "/ui/sign-in", data={"email": CHAIR, "password": "not the password at all"}
        )
        unknown = web().http.post(
            "/ui/sign-in",
            data={"email": "nobody@tw.example", "password": "not the password at all"},
        )
        assert unknown.status_code == wrong.status_code == 401
        assert error_summary(page(unknown)) == error_summary(page(wrong))
        assert inline_errors(page(unknown)) == inline_errors(page(wrong))

    def test_empty_fields_are_asked_for(self, web: WebClients) -> None:
        response = web().http.post("/ui/sign-in", data={"email": " ", "password": ""})
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [
            ("#email", "Enter your e-mail address"),
            ("#password", "Enter your password"),
        ]
        assert inline_errors(doc) == {
            "email-error": "Enter your e-mail address",
            "password-error": "Enter your password",
        }

    def test_repeated_failures_back_off_on_the_page(
        self, web: WebClients, directory: Directory
    ) -> None:
        set_password(CHAIR)
        b = web()
        messages = []
        for _ in range(8):
            response = b.http.post(
                "/ui/sign-in", data={"email": CHAIR, "password": "not the password at all"}
            )
            assert response.status_code == 401
            messages.append(error_summary(page(response))[0][1])
        assert messages[0] == "The e-mail address or password is not right"
        assert re.fullmatch(r"Too many failed sign-ins: wait \d+ seconds", messages[-1])

    def test_the_signed_out_banner(self, web: WebClients) -> None:
        doc = page(web().get("/ui/sign-in?signed_out=1"))
        assert "You have signed out" in doc.find(cls="govuk-notification-banner").text


class TestSignOut:
    def test_it_ends_the_session_and_the_old_cookie_no_longer_works(
        self, chair: WebClient, web: WebClients
    ) -> None:
        old_cookie = chair.http.cookies[SESSION_COOKIE]
        doc = page(chair.get("/ui"))
        assert hidden_inputs(doc, "/ui/sign-out") == {"csrf_token": chair.csrf}
        response = chair.post("/ui/sign-out")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/sign-in?signed_out=1"
        assert SESSION_COOKIE in response.headers["set-cookie"]
        assert "max-age=0" in response.headers["set-cookie"].lower()
        ended = rows("SELECT ended_at FROM web_sessions")
        assert len(ended) == 1
        assert ended[0]["ended_at"] is not None
        # A copy of the old cookie (kept by an attacker, or another tab) is no session.
        replay = web()
        replay.http.cookies.set(SESSION_COOKIE, old_cookie)
        again = replay.get("/ui")
        assert again.status_code == 303
        assert again.headers["location"] == "/ui/sign-in?next=/ui"
        # Nor for the API.
        assert replay.http.get("/api/v1/cases").status_code == 401

    @pytest.mark.parametrize("token", [None, "", "not-the-token"])
    def test_it_needs_the_csrf_token(self, chair: WebClient, token: str | None) -> None:
        data = {} if token is None else {"csrf_token": token}
        response = chair.post_without_csrf("/ui/sign-out", data)
        assert response.status_code == 403
        doc = page(response)
        assert title(doc) == "You cannot do that"
        assert "did not come from this service" in doc.find("main").text
        assert rows("SELECT ended_at FROM web_sessions")[0]["ended_at"] is None
        assert chair.get("/ui").status_code == 200

    def test_another_sessions_token_is_not_this_ones(
        self, chair: WebClient, web: WebClients
    ) -> None:
        other = web("business@tw.example")
        response = chair.post_without_csrf("/ui/sign-out", {"csrf_token": other.csrf})
        assert response.status_code == 403
        assert chair.get("/ui").status_code == 200


# -- the dashboard ----------------------------------------------------------------------------


def listed(doc: Element) -> list[str]:
    """The references in the dashboard's table, in order."""
    if not doc.has_id("cases"):
        return []
    return [
        tr.attrs["data-case"] for tr in doc.by_id("cases").find_all("tr") if "data-case" in tr.attrs
    ]


class TestDashboard:
    def test_it_lists_only_the_users_partnerships_cases(
        self, api: Api, chair: WebClient, web: WebClients
    ) -> None:
        mine = new_case(api)
        theirs = new_case(api, partnership="OT", partner_reference="OT-ONLY-REF")
        response = chair.get("/ui")
        assert response.status_code == 200
        doc = page(response)
        assert listed(doc) == [mine["reference"]]
        assert theirs["reference"] not in response.text
        assert "OT-ONLY-REF" not in response.text
        ot = page(web(OT_CHAIR).get("/ui"))
        assert listed(ot) == [theirs["reference"]]

    def test_a_late_referral_is_breached_and_listed_first(self, api: Api, chair: WebClient) -> None:
        on_time = new_case(api, "2026-06-16")
        late = new_case(api, "2026-06-01")  # the Panel was due on 8 June
        doc = page(chair.get("/ui"))
        assert listed(doc) == [late["reference"], on_time["reference"]]
        late_row = doc.find("tr", data_case=late["reference"])
        assert late_row.attrs["data-rag"] == "red"
        assert "app-row--breached" in late_row.attrs["class"]
        tags = [t.text for t in late_row.find_all("strong", cls="govuk-tag")]
        assert tags[0] == "Breached"
        assert "Notify the Panel: was due 8 June 2026" in late_row.text
        warning = doc.find(cls="govuk-warning-text").text
        assert "1 case has a breached statutory clock" in warning
        on_time_row = doc.find("tr", data_case=on_time["reference"])
        assert on_time_row.attrs["data-rag"] == "green"
        assert "Breached" not in on_time_row.text

    def test_no_cases(self, chair: WebClient) -> None:
        doc = page(chair.get("/ui"))
        assert doc.by_id("no-cases").text == "You have no open cases."
        assert not doc.find_all(cls="govuk-warning-text")

    def test_filters_narrow_the_list(self, api: Api, chair: WebClient) -> None:
        notified = new_case(api, "2026-06-16")
        api.ok(notified["id"], "notify_panel", {"notified_on": "2026-06-16"})
        health = new_case(api, "2026-06-16", referring_agency="health")
        late = new_case(api, "2026-06-01")
        assert listed(page(chair.get("/ui?state=rapid_review"))) == [notified["reference"]]
        assert listed(page(chair.get("/ui?agency=health"))) == [health["reference"]]
        assert listed(page(chair.get("/ui?clocks=breached"))) == [late["reference"]]
        doc = page(chair.get("/ui?state=referred&agency=health"))
        assert listed(doc) == [health["reference"]]
        # The chosen filters show as chosen, with a way to clear them.
        assert doc.by_id("filter-state").find("option", selected="").attrs["value"] == "referred"
        assert doc.by_id("filter-agency").find("option", selected="").attrs["value"] == "health"
        assert doc.find("main").find("a", href="/ui").text == "Clear filters"
        assert "matching the filters" in doc.by_id("cases").find("caption").text

    def test_a_filter_that_matches_nothing_says_so(self, api: Api, chair: WebClient) -> None:
        new_case(api, "2026-06-16")
        doc = page(chair.get("/ui?state=closed"))
        assert doc.by_id("no-cases").text == "No cases match these filters."

    def test_an_overdue_advisory_clock_is_no_statutory_breach(
        self, api: Api, web: WebClients, clock: FixedClock
    ) -> None:
        # A local review commissioned in April, its statutory clocks all met; forty days on,
        # the monthly progress and quality check (advisory, reg 14) is overdue.
        case = new_case(api, "2026-04-01")
        api.ok(case["id"], "notify_panel", {"notified_on": "2026-04-02"})
        api.ok(
            case["id"],
            "complete_rapid_review",
            {
                "completed_on": "2026-04-03",
                "recommendation": "lcspr",
                "criteria": ["a"],
                "rationale": "r",
            },
        )
        for who in ("dsp_la", "dsp_police", "dsp_health"):
            assert api.vote(case["id"], who, decided_on="2026-04-07").status_code == 200
        api.ok(case["id"], "submit_rapid_review", {"submitted_on": "2026-04-10"})
        api.ok(
            case["id"],
            "record_panel_response",
            {"received_on": "2026-04-15", "outcome": "agrees_lcspr"},
        )
        api.ok(
            case["id"],
            "commission_lcspr",
            {
                "reviewer": "R",
                "methodology": "M",
                "terms_of_reference_agreed_on": "2026-04-20",
                "scope_from": "2025-01-01",
                "scope_to": "2026-03-01",
            },
        )
        clock.set(NOW + timedelta(days=40))
        chair = web(CHAIR)
        doc = page(chair.get("/ui"))
        row = doc.find("tr", data_case=case["reference"])
        # Shown as the most urgent clock of the row...
        assert row.attrs["data-rag"] == "red"
        assert "Monitor the review's time and quality: was due" in row.text
        # ...but the warning, the row's highlight and the filter agree: no statutory breach.
        assert "app-row--breached" not in row.attrs["class"]
        assert not doc.find_all(cls="govuk-warning-text")
        assert listed(page(chair.get("/ui?clocks=breached"))) == []
        assert listed(page(chair.get("/ui?clocks=due_soon"))) == [case["reference"]]

    def test_closed_cases_only_when_asked_for(self, api: Api, chair: WebClient) -> None:
        closed = new_case(api)
        api.ok(
            closed["id"],
            "decide_not_notifiable",
            {"rationale": "Not notifiable.", "alternative_learning": "none"},
        )
        still_open = new_case(api)
        assert listed(page(chair.get("/ui"))) == [still_open["reference"]]
        assert set(listed(page(chair.get("/ui?closed=yes")))) == {
            still_open["reference"],
            closed["reference"],
        }

    def test_an_unknown_filter_value_is_ignored(self, api: Api, chair: WebClient) -> None:
        a = new_case(api, "2026-06-01")
        b = new_case(api, "2026-06-16")
        for query in (
            "state=nonsense",
            "agency=martians",
            "clocks=sometimes",
            "closed=perhaps",
            "state=&agency=&clocks=",
            "state=Referred",
            "state=referred%20",
            "unknown=1",
        ):
            response = chair.get(f"/ui?{query}")
            assert response.status_code == 200, query
            doc = page(response)
            assert listed(doc) == [a["reference"], b["reference"]], query
            assert not doc.by_id("filter-state").find_all("option", selected=""), query
            assert not doc.by_id("filter-agency").find_all("option", selected=""), query

    def test_the_list_is_written_to_the_access_log(self, api: Api, chair: WebClient) -> None:
        new_case(api)
        response = chair.get("/ui")
        logged = access_events(request_id=response.headers["x-request-id"])
        assert [(r["action"], r["outcome"], r["path"]) for r in logged] == [
            ("case.list", "allowed", "/ui")
        ]

    def test_a_role_that_refers_is_offered_a_new_referral(
        self, chair: WebClient, web: WebClients
    ) -> None:
        assert page(chair.get("/ui")).find_all("a", href="/ui/cases/new", role="button")
        dsp = page(web("dsp_police@tw.example").get("/ui"))
        assert not dsp.find_all("a", href="/ui/cases/new")


# -- a new referral ------------------------------------------------------------------------------


def referral_form(**overrides: Any) -> dict[str, Any]:
    """The form a person fills in for `tests.factories.referral()`."""
    body: dict[str, Any] = {
        **date_fields("became_aware_on", "2026-06-10"),
        "referring_agency": "police",
        "partner_reference": "POL-2026-118",
        **date_fields("incident.occurred_on", "2026-06-08"),
        "incident.outcome": "serious_harm",
        "incident.abuse_or_neglect": "suspected",
        "incident.categories": ["physical_abuse"],
        "child.age_years": "2",
        "child.sex": "female",
        "child.legal_status": "cp_plan",
        "summary": "Infant admitted with unexplained fractures.",
    }
    body.update(overrides)
    return body


class TestNewReferral:
    def test_the_form_asks_for_the_referral_and_never_for_identifying_data(
        self, chair: WebClient
    ) -> None:
        response = chair.get("/ui/cases/new")
        assert response.status_code == 200
        doc = page(response)
        form = doc.find("form", action="/ui/cases/new")
        names = {i.attrs["name"] for i in form.find_all() if "name" in i.attrs}
        assert {
            "csrf_token",
            "became_aware_on-day",
            "referring_agency",
            "incident.outcome",
            "incident.categories",
            "child.age_years",
            "summary",
        } <= names
        for identifying in ("name", "date_of_birth", "dob", "nhs_number", "address", "postcode"):
            assert not [n for n in names if identifying in n], identifying
        assert "Never enter the child's name" in doc.find(cls="govuk-inset-text").text

    def test_a_referral_through_the_form_is_stored_as_the_api_would_store_it(
        self, api: Api, chair: WebClient
    ) -> None:
        response = chair.post("/ui/cases/new", referral_form())
        assert response.status_code == 303, response.text
        location = urlsplit(response.headers["location"])
        assert re.fullmatch(r"/ui/cases/TW-2026-\d{4}", location.path)
        assert location.query == ""
        assert unquote(response.cookies["cspr_flash"]) == "Referral recorded"
        reference = location.path.rsplit("/", 1)[1]
        by_api = api.create_case()  # the same referral, as JSON
        assert by_api["reference"] != reference

        def comparable(case: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in case.items() if k not in ("id", "reference", "links")}

        assert comparable(api.get_case(reference)) == comparable(api.get_case(by_api["id"]))
        form_events = api.events(reference)
        api_events = api.events(by_api["id"])
        assert [e["kind"] for e in form_events] == ["case.created"]
        assert form_events[0]["data"] == api_events[0]["data"]
        assert form_events[0]["actor_id"] == api_events[0]["actor_id"]

    def test_the_new_case_page_says_it_was_recorded(self, chair: WebClient) -> None:
        created = chair.post("/ui/cases/new", referral_form())
        doc = page(chair.get(created.headers["location"]))
        assert doc.find(cls="govuk-notification-banner").text.endswith("Referral recorded")
        assert title(doc) == "Referred"

    def test_the_creation_is_written_to_the_access_log(self, chair: WebClient) -> None:
        response = chair.post("/ui/cases/new", referral_form())
        reference = response.headers["location"].split("?")[0].rsplit("/", 1)[1]
        logged = access_events(request_id=response.headers["x-request-id"])
        assert [(r["action"], r["outcome"], r["status"]) for r in logged] == [
            ("case.create", "allowed", 303)
        ]
        assert logged[0]["case_id"].replace("-", "") == str(case_row(reference)["id"]).replace(
            "-", ""
        )

    def test_only_the_required_fields_are_enough(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new",
            {
                **date_fields("became_aware_on", "2026-06-17"),
                "referring_agency": "health",
                "incident.outcome": "death",
                "incident.abuse_or_neglect": "known",
                "child.legal_status": "",
            },
        )
        assert response.status_code == 303, response.text
        stored_case = case_row("TW-2026-0001")
        assert stored_case["partner_reference"] is None
        assert stored_case["summary"] is None

    def test_an_empty_form_shows_every_error_and_creates_nothing(self, chair: WebClient) -> None:
        response = chair.post("/ui/cases/new", {})
        assert response.status_code == 422
        doc = page(response)
        assert doc.find("title").text.startswith("Error: Record a new referral")
        assert error_summary(doc) == [
            ("#became-aware-on-day", "Enter the date the local authority became aware"),
            ("#referring-agency", "Select the referring agency"),
            ("#incident-outcome", "Select what happened to the child"),
            ("#incident-abuse-or-neglect", "Select whether abuse or neglect is known or suspected"),
        ]
        assert inline_errors(doc) == {
            "became-aware-on-error": "Enter the date the local authority became aware",
            "referring-agency-error": "Select the referring agency",
            "incident-outcome-error": "Select what happened to the child",
            "incident-abuse-or-neglect-error": (
                "Select whether abuse or neglect is known or suspected"
            ),
        }
        # Each link of the summary goes to an input on the page.
        for anchor, _ in error_summary(doc):
            assert doc.has_id(anchor.removeprefix("#")), anchor
        assert count("cases") == 0
        assert count("audit_events") == 0

    def test_a_form_with_errors_keeps_what_was_typed(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new",
            referral_form(**{"incident.outcome": "", "partner_reference": "REF-77"}),
        )
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [("#incident-outcome", "Select what happened to the child")]
        assert doc.by_id("partner-reference").attrs["value"] == "REF-77"
        assert doc.by_id("became-aware-on-day").attrs["value"] == "10"
        assert (
            "checked" in doc.find("input", name="incident.categories", value="physical_abuse").attrs
        )
        assert "selected" in doc.by_id("child-legal-status").find("option", value="cp_plan").attrs
        assert count("cases") == 0

    def test_a_future_date_gets_the_apis_message_on_its_field(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new", referral_form(**date_fields("became_aware_on", "2026-06-18"))
        )
        assert response.status_code == 422
        doc = page(response)
        message = (
            "The date the local authority became aware: cannot be in the future "
            "(today is 2026-06-17)"
        )
        assert error_summary(doc) == [("#became-aware-on-day", message)]
        assert inline_errors(doc) == {"became-aware-on-error": message}
        assert count("cases") == 0

    @pytest.mark.parametrize(
        ("day", "month", "year", "message"),
        [
            ("29", "2", "2026", "must be a real date"),
            ("", "6", "2026", "must include a day"),
            ("10", "6", "26", "the year must include 4 numbers"),
            ("ten", "6", "2026", "must be a real date"),
            ("\N{SUPERSCRIPT TWO}", "6", "2026", "must be a real date"),
        ],
    )
    def test_a_date_that_is_no_date_is_shown_on_its_field(
        self, chair: WebClient, day: str, month: str, year: str, message: str
    ) -> None:
        response = chair.post(
            "/ui/cases/new",
            referral_form(
                **{
                    "became_aware_on-day": day,
                    "became_aware_on-month": month,
                    "became_aware_on-year": year,
                }
            ),
        )
        assert response.status_code == 422
        errors = inline_errors(page(response))
        assert list(errors) == ["became-aware-on-error"]
        assert message in errors["became-aware-on-error"]
        assert count("cases") == 0

    def test_values_the_api_refuses_are_shown_on_their_fields(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new",
            referral_form(
                **{
                    "referring_agency": "martians",
                    "child.age_years": "30",
                    "incident.categories": ["physical_abuse", "zzz"],
                    "partner_reference": "x" * 101,
                }
            ),
        )
        assert response.status_code == 422
        errors = inline_errors(page(response))
        assert set(errors) == {
            "referring-agency-error",
            "child-age-years-error",
            "incident-categories-error",
            "partner-reference-error",
        }
        assert errors["child-age-years-error"] == (
            "The child's age: input should be less than or equal to 25"
        )
        assert count("cases") == 0

    def test_an_age_that_is_not_a_whole_number(self, chair: WebClient) -> None:
        response = chair.post("/ui/cases/new", referral_form(**{"child.age_years": "2.5"}))
        assert response.status_code == 422
        assert inline_errors(page(response)) == {
            "child-age-years-error": "The child's age must be a whole number"
        }
        assert count("cases") == 0

    def test_an_incident_after_the_awareness_date_is_refused(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new", referral_form(**date_fields("incident.occurred_on", "2026-06-12"))
        )
        assert response.status_code == 422
        [(_, message)] = error_summary(page(response))
        assert "cannot be after" in message
        assert count("cases") == 0

    def test_identifying_data_is_never_accepted(self, chair: WebClient) -> None:
        identifying = {
            "name": "Jane Doe",
            "child.name": "Jane Doe",
            "child.first_name": "Jane",
            "child.date_of_birth": "2024-01-01",
            "child.nhs_number": "9434765919",
            "child.address": "1 Example Street",
            "postcode": "ZZ1 1ZZ",
            "incident.name": "Jane Doe",
        }
        response = chair.post("/ui/cases/new", referral_form(**identifying))
        # The form reads only the fields it asks for: the rest never reach the service.
        assert response.status_code == 303, response.text
        everything = str(stored())
        for value in ("Jane", "Doe", "9434765919", "Example Street", "ZZ1 1ZZ", "2024-01-01"):
            assert value not in everything, value
        assert case_row("TW-2026-0001")["child"] in (
            '{"age_years": 2, "sex": "female", "legal_status": "cp_plan"}',
            {"age_years": 2, "sex": "female", "legal_status": "cp_plan"},
        )

    def test_a_nul_character_is_refused_not_stored(self, chair: WebClient) -> None:
        response = chair.post("/ui/cases/new", referral_form(summary="before\x00after"))
        assert response.status_code == 422
        [(_, message)] = error_summary(page(response))
        assert "NUL character" in message
        assert count("cases") == 0

    def test_without_the_csrf_token_nothing_is_created(self, chair: WebClient) -> None:
        response = chair.post_without_csrf("/ui/cases/new", referral_form())
        assert response.status_code == 403
        assert title(page(response)) == "You cannot do that"
        assert count("cases") == 0

    @pytest.mark.parametrize("who", ["dsp_police@tw.example", "scrutineer@tw.example"])
    def test_a_role_that_may_not_refer_is_refused(self, web: WebClients, who: str) -> None:
        b = web(who)
        form_page = page(b.get("/ui/cases/new"))
        assert not form_page.find_all("form", action="/ui/cases/new")
        assert "Your role does not record referrals" in form_page.find("main").text
        response = b.post("/ui/cases/new", referral_form())
        assert response.status_code == 403
        assert title(page(response)) == "You cannot do that"
        assert count("cases") == 0


# -- the case page ------------------------------------------------------------------------------


class TestCasePage:
    def test_it_shows_the_state_clocks_summary_timeline_and_flow(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api, "2026-06-01", partner_reference="POL-1")
        response = chair.get(f"/ui/cases/{case['reference']}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        doc = page(response)
        assert doc.find("title").text.startswith(f"{case['reference']}: Referred")
        assert doc.by_id("case-state").text == "Referred"
        assert f"{case['reference']} · POL-1" in doc.find(cls="govuk-caption-l").text
        clocks = {
            tr.attrs["data-clock"]: tr
            for tr in doc.by_id("clocks").find_all("tr")
            if "data-clock" in tr.attrs
        }
        assert list(clocks) == ["panel_notification", "rapid_review"]
        assert clocks["panel_notification"].attrs["data-rag"] == "red"
        assert "Breached" in clocks["panel_notification"].text
        assert "was due 8 June 2026" in clocks["panel_notification"].text
        assert "Children Act 2004 s.16C(1)" in clocks["panel_notification"].text
        # 15 working days from 1 June 2026.
        assert "3 working days left, due 22 June 2026" in clocks["rapid_review"].text
        summary = doc.by_id("summary").text
        assert "Local authority aware 1 June 2026" in summary
        assert "Referred by Police" in summary
        timeline = doc.by_id("timeline").find_all("li")
        assert [li.find("h3").text for li in timeline] == ["Referral recorded"]
        assert "17 June 2026 at 10:00am by chair" in timeline[0].text
        flow = {li.attrs["data-state"]: li for li in doc.by_id("flow").find_all("li")}
        assert flow["referred"].attrs.get("aria-current") == "step"
        assert "app-flow__state--not-reached" in flow["rapid_review"].attrs["class"]

    def test_the_timeline_shows_each_step_with_its_data_and_comment(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        response = api.client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={
                "trigger": "notify_panel",
                "data": {"notified_on": "2026-06-12", "panel_reference": "CSPRP-9"},
                "comment": "Notified by phone, then online.",
            },
            headers=api.headers("business"),
        )
        assert response.status_code == 200, response.text
        doc = page(chair.get(f"/ui/cases/{case['reference']}"))
        newest = doc.by_id("timeline").find_all("li")[0]
        assert newest.find("h3").text == "Notify the Panel"
        assert "by business" in newest.text
        assert "Referred to Rapid review" in newest.text
        assert "Date the Panel was notified 12 June 2026" in newest.text
        assert "Notification reference CSPRP-9" in newest.text
        assert "Comment: Notified by phone, then online." in newest.text
        flow = {li.attrs["data-state"]: li for li in doc.by_id("flow").find_all("li")}
        assert "app-flow__state--done" in flow["referred"].attrs["class"]
        assert flow["rapid_review"].attrs.get("aria-current") == "step"
        # The Panel's clock is met.
        met = doc.find("tr", data_clock="panel_notification")
        assert met.attrs["data-rag"] == "done"
        assert "met 12 June 2026" in met.text

    def test_the_decision_panel_shows_each_agencys_vote(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        assert api.vote(case["id"], "dsp_police").status_code == 200
        doc = page(chair.get(f"/ui/cases/{case['reference']}"))
        panel = doc.by_id("votes-dsp_joint_decision")
        by_party = {
            tr.attrs["data-party"]: tr.text
            for tr in panel.find_all("tr")
            if "data-party" in tr.attrs
        }
        assert list(by_party) == ["dsp:local_authority", "dsp:police", "dsp:health"]
        assert "Agree" in by_party["dsp:police"]
        assert "dsp_police rationale" in by_party["dsp:police"]
        assert "Not yet decided" in by_party["dsp:local_authority"]
        assert "Not yet decided" in by_party["dsp:health"]
        status = doc.by_id("gate-dsp_joint_decision").text
        assert status == "Joint decision of the delegated safeguarding partners"
        heading_and_status = doc.find("main").text
        assert "Waiting for DSP (local authority), DSP (health)." in heading_and_status
        # The chair decides for no agency: no vote form.
        assert not doc.find_all(
            "form", action=f"/ui/cases/{case['reference']}/decisions/dsp_joint_decision"
        )

    def test_the_actions_are_those_the_role_may_take(
        self, api: Api, chair: WebClient, web: WebClients
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}"
        doc = page(chair.get(url))
        actions = [
            d.attrs["id"]
            for d in doc.find_all("details", cls="govuk-details")
            if d.attrs.get("id", "").startswith("action-")
        ]
        assert actions == ["action-notify_panel", "action-decide_not_notifiable"]
        form = hidden_inputs(doc, f"{url}/transitions/notify_panel")
        assert form == {"csrf_token": chair.csrf, "version": "1"}
        qpd = page(web("qpd@tw.example").get(url))
        assert not qpd.find_all("form", action=f"{url}/transitions/notify_panel")
        assert "Nothing for your role to do at this stage." in qpd.find("main").text

    def test_a_success_message_comes_only_from_this_service_and_once(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}"
        # A link from elsewhere cannot put words in the success banner.
        doc = page(chair.get(url, params={"done": "Call 0800 000 000 now"}))
        assert doc.find_all(cls="govuk-notification-banner") == []
        # The message a redirect leaves is shown on the next page, then gone.
        response = chair.post(f"{url}/transitions/notify_panel", notify_form(1))
        assert response.status_code == 303, response.text
        shown = page(chair.get(url))
        assert "Done: Notify the Panel" in shown.find(cls="govuk-notification-banner").text
        again = page(chair.get(url))
        assert again.find_all(cls="govuk-notification-banner") == []

    def test_markup_in_case_data_is_shown_as_text(self, api: Api, chair: WebClient) -> None:
        case = new_case(api, summary="<script>alert(1)</script>", partner_reference="<b>x</b>")
        response = chair.get(f"/ui/cases/{case['reference']}", params={"done": "<i>hi</i>"})
        assert "<script>alert(1)</script>" not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert "<b>x</b>" not in response.text
        assert "<i>hi</i>" not in response.text

    def test_the_case_is_found_by_its_id_too(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        doc = page(chair.get(f"/ui/cases/{case['id']}"))
        assert doc.by_id("case-state").text == "Referred"

    def test_a_read_is_written_to_the_access_log(
        self, api: Api, chair: WebClient, directory: Directory
    ) -> None:
        case = new_case(api)
        response = chair.get(f"/ui/cases/{case['reference']}")
        logged = access_events(request_id=response.headers["x-request-id"])
        assert len(logged) == 1
        row = logged[0]
        assert row["action"] == "case.read"
        assert row["outcome"] == "allowed"
        assert row["case_id"] == case["id"]
        assert row["actor_id"] == directory.user_ids["TW"]["chair"]
        assert row["session_id"] is not None
        assert row["token_id"] is None
        assert row["path"] == f"/ui/cases/{case['reference']}"
        assert row["status"] == 200

    def test_another_partnerships_case_is_not_found_and_the_attempt_is_logged(
        self, api: Api, web: WebClients, directory: Directory
    ) -> None:
        case = new_case(api, partner_reference="TW-SECRET-REF")
        ot = web(OT_CHAIR)
        response = ot.get(f"/ui/cases/{case['reference']}")
        assert response.status_code == 404
        doc = page(response)
        assert title(doc) == "Page not found"
        assert "TW-SECRET-REF" not in response.text
        assert "Infant admitted" not in response.text
        logged = access_events(request_id=response.headers["x-request-id"])
        assert len(logged) == 1
        assert logged[0]["outcome"] == "denied"
        assert logged[0]["case_id"] == case["id"]
        assert logged[0]["actor_id"] == directory.user_ids["OT"]["chair"]
        assert logged[0]["status"] == 404
        # Nor may it act on the case.
        before = snapshot(case["id"])
        post = ot.post(f"/ui/cases/{case['reference']}/transitions/notify_panel", notify_form(1))
        assert post.status_code == 404
        assert title(page(post)) == "Page not found"
        assert snapshot(case["id"]) == before
        denied = access_events(outcome="denied")
        assert sorted(r["action"] for r in denied) == ["case.read", "case.transition"]
        assert {r["case_id"] for r in denied} == {case["id"]}

    def test_an_unknown_reference_is_not_found(self, chair: WebClient) -> None:
        for key in ("TW-2026-9999", "nonsense", "00000000-0000-0000-0000-000000000000"):
            response = chair.get(f"/ui/cases/{key}")
            assert response.status_code == 404, key
            assert title(page(response)) == "Page not found"


# -- actions ---------------------------------------------------------------------------------


class TestActions:
    def test_notify_panel_moves_the_case_to_rapid_review_with_an_audit_event(
        self, api: Api, chair: WebClient, directory: Directory
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}"
        response = chair.post(
            f"{url}/transitions/notify_panel",
            notify_form(1, panel_reference="CSPRP-1", comment="  By the online form.  "),
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == url
        assert unquote(response.cookies["cspr_flash"]) == "Done: Notify the Panel"
        stored_case = case_row(case["reference"])
        assert stored_case["state"] == "rapid_review"
        assert stored_case["version"] == 2
        [created, moved] = api.events(case["id"])
        assert created["kind"] == "case.created"
        assert moved["kind"] == "case.transitioned"
        assert moved["trigger"] == "notify_panel"
        assert (moved["from_state"], moved["to_state"]) == ("referred", "rapid_review")
        assert moved["data"] == {"notified_on": "2026-06-12", "panel_reference": "CSPRP-1"}
        assert moved["comment"] == "By the online form."
        assert moved["actor_id"] == directory.user_ids["TW"]["chair"]
        deadlines = {
            d["key"]: d
            for d in api.client.get(
                f"/api/v1/cases/{case['id']}/deadlines", headers=api.headers("chair")
            ).json()["items"]
        }
        assert deadlines["panel_notification"]["status"] == "met"
        assert deadlines["panel_notification"]["met_on"] == "2026-06-12"
        logged = access_events(request_id=response.headers["x-request-id"])
        assert [(r["action"], r["outcome"], r["case_id"]) for r in logged] == [
            ("case.transition", "allowed", case["id"])
        ]
        # Following the redirect: the success banner and the new state.
        doc = page(chair.get(response.headers["location"]))
        assert doc.find(cls="govuk-notification-banner").text.endswith("Done: Notify the Panel")
        assert doc.by_id("case-state").text == "Rapid review"

    def test_a_yes_no_field_is_stored_as_a_boolean(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        for who in ("dsp_la", "dsp_police", "dsp_health"):
            assert api.vote(case["id"], who).status_code == 200
        api.ok(case["id"], "submit_rapid_review", {"submitted_on": "2026-06-17"})
        api.ok(
            case["id"],
            "record_panel_response",
            {"received_on": "2026-06-17", "outcome": "agrees_lcspr"},
        )
        api.ok(
            case["id"],
            "commission_lcspr",
            {
                "reviewer": "R",
                "methodology": "M",
                "terms_of_reference_agreed_on": "2026-06-17",
                "scope_from": "2025-01-01",
                "scope_to": "2026-06-01",
            },
        )
        api.ok(
            case["id"],
            "receive_final_report",
            {"received_on": "2026-06-17", "recommendations": "R"},
        )
        api.ok(
            case["id"],
            "send_to_panel_and_sos",
            {"sent_on": "2026-06-17", "planned_publication_on": "2026-07-01"},
            who="business",
        )
        chair = web(CHAIR)
        version = case_row(case["reference"])["version"]
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/withhold_publication",
            {"version": str(version), "reason": "A criminal trial.", "improvements_only": "false"},
        )
        assert response.status_code == 303, response.text
        moved = api.events(case["id"])[-1]
        assert moved["data"] == {"reason": "A criminal trial.", "improvements_only": False}

    @pytest.mark.parametrize(
        ("notified_on", "message"),
        [
            (
                {"notified_on-day": "31", "notified_on-month": "6", "notified_on-year": "2026"},
                "Date the Panel was notified must be a real date",
            ),
            (
                {"notified_on-day": "12", "notified_on-month": "", "notified_on-year": "2026"},
                "Date the Panel was notified must include a month",
            ),
            (
                date_fields("notified_on", "2026-06-09"),
                "Date the Panel was notified: cannot be before became_aware_on (2026-06-10)",
            ),
            (
                date_fields("notified_on", "2026-06-18"),
                "Date the Panel was notified: cannot be in the future (today is 2026-06-17)",
            ),
            ({}, "Enter date the Panel was notified"),
        ],
    )
    def test_a_bad_date_is_shown_on_its_field_and_changes_nothing(
        self, api: Api, chair: WebClient, notified_on: dict[str, str], message: str
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}"
        before = snapshot(case["id"])
        response = chair.post(
            f"{url}/transitions/notify_panel",
            {"version": "1", "panel_reference": "CSPRP-1", "comment": "kept", **notified_on},
        )
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [("#notify-panel-notified-on-day", message)]
        assert inline_errors(doc) == {"notify-panel-notified-on-error": message}
        # The form is open again, with what was typed.
        assert "open" in doc.by_id("action-notify_panel").attrs
        assert doc.by_id("notify-panel-panel-reference").attrs["value"] == "CSPRP-1"
        assert doc.by_id("notify-panel-comment").text == "kept"
        assert doc.by_id("case-state").text == "Referred"
        assert snapshot(case["id"]) == before

    def test_a_stale_version_is_someone_elses_change_and_changes_nothing(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}"
        version = hidden_inputs(page(chair.get(url)), f"{url}/transitions/notify_panel")["version"]
        # Meanwhile someone else notifies the Panel; the chair's page still carries the
        # version it was shown with.
        api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-11"})
        before = snapshot(case["id"])
        response = chair.post(
            f"{url}/transitions/complete_rapid_review",
            {
                "version": version,
                **date_fields("completed_on", "2026-06-16"),
                "recommendation": "no_lcspr",
                "rationale": "r",
            },
        )
        assert response.status_code == 409
        doc = page(response)
        assert problem_text(doc).startswith(STALE)
        assert doc.find("title").text.startswith("Error:")
        assert snapshot(case["id"]) == before

    def test_any_version_but_the_current_one_is_stale(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        for version in ("", "0", "2", "one", "1.0", " 1"):
            response = chair.post(
                f"/ui/cases/{case['reference']}/transitions/notify_panel", notify_form(version)
            )
            assert response.status_code == 409, version
            assert problem_text(page(response)).startswith(STALE), version
            assert snapshot(case["id"]) == before

    @pytest.mark.parametrize("token", [None, "", "forged"])
    def test_without_the_csrf_token_nothing_changes(
        self, api: Api, chair: WebClient, token: str | None
    ) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        data = notify_form(1) | ({} if token is None else {"csrf_token": token})
        response = chair.post_without_csrf(
            f"/ui/cases/{case['reference']}/transitions/notify_panel", data
        )
        assert response.status_code == 403
        doc = page(response)
        assert title(doc) == "You cannot do that"
        assert "did not come from this service" in doc.find("main").text
        assert snapshot(case["id"]) == before

    def test_a_role_that_may_not_fire_the_trigger_is_refused(
        self, api: Api, web: WebClients
    ) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        dsp = web("dsp_police@tw.example")
        response = dsp.post(
            f"/ui/cases/{case['reference']}/transitions/notify_panel", notify_form(1)
        )
        assert response.status_code == 403
        doc = page(response)
        assert "notify_panel" in problem_text(doc)
        assert doc.by_id("case-state").text == "Referred"
        assert snapshot(case["id"]) == before

    @pytest.mark.parametrize("who", ["scrutineer@tw.example", "qpd@tw.example"])
    def test_a_read_only_role_changes_nothing(self, api: Api, web: WebClients, who: str) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = web(who).post(
            f"/ui/cases/{case['reference']}/transitions/notify_panel", notify_form(1)
        )
        assert response.status_code == 403
        assert snapshot(case["id"]) == before

    def test_a_trigger_the_state_does_not_allow_names_those_it_does(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/withdraw",
            {"version": "1", "rationale": "r"},
        )
        assert response.status_code == 409
        assert "Allowed now: notify_panel, decide_not_notifiable" in problem_text(page(response))
        assert snapshot(case["id"]) == before

    def test_an_unknown_trigger_is_an_error_not_a_crash(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/explode", {"version": "1"}
        )
        assert response.status_code == 422
        assert "no such trigger" in problem_text(page(response))
        assert snapshot(case["id"]) == before

    def test_a_guard_that_fails_is_explained(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        version = case_row(case["reference"])["version"]
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/submit_rapid_review",
            {"version": str(version), **date_fields("submitted_on", "2026-06-17")},
        )
        assert response.status_code == 409
        assert "gate is not agreed" in problem_text(page(response))
        assert snapshot(case["id"]) == before

    def test_a_conditional_requirement_is_shown_on_its_field(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        to_rapid_review(api, case)
        before = snapshot(case["id"])
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/complete_rapid_review",
            {
                "version": "2",
                **date_fields("completed_on", "2026-06-16"),
                "recommendation": "lcspr",
                "rationale": "r",
            },
        )
        assert response.status_code == 422
        errors = inline_errors(page(response))
        assert list(errors) == ["complete-rapid-review-criteria-error"]
        assert snapshot(case["id"]) == before

    def test_a_nul_character_or_an_overlong_comment_is_refused_as_the_api_refuses_it(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        url = f"/ui/cases/{case['reference']}/transitions/notify_panel"
        before = snapshot(case["id"])
        for extra in (
            {"comment": "before\x00after"},
            {"panel_reference": "before\x00after"},
            {"comment": "x" * 10_001},
        ):
            response = chair.post(url, notify_form(1, **extra))
            assert response.status_code == 422, extra
            assert error_summary(page(response)), extra
            assert snapshot(case["id"]) == before
        # The API refuses the same.
        refused = api.client.post(
            f"/api/v1/cases/{case['id']}/transitions",
            json={
                "trigger": "notify_panel",
                "data": {"notified_on": "2026-06-12"},
                "comment": "before\x00after",
            },
            headers=api.headers("chair"),
        )
        assert refused.status_code == 422
        assert snapshot(case["id"]) == before

    def test_closing_a_case_leaves_nothing_to_do(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/decide_not_notifiable",
            {"version": "1", "rationale": "Not notifiable.", "alternative_learning": "none"},
        )
        assert response.status_code == 303, response.text
        doc = page(chair.get(f"/ui/cases/{case['reference']}"))
        assert doc.by_id("case-state").text == "Closed"
        assert "The case is closed." in doc.find("main").text
        assert not doc.find_all(
            "form", action=f"/ui/cases/{case['reference']}/transitions/notify_panel"
        )
        assert case_row(case["reference"])["closed_at"] is not None


# -- decisions ------------------------------------------------------------------------------------

DSPS = ("dsp_la@tw.example", "dsp_police@tw.example", "dsp_health@tw.example")


def vote_url(case: dict[str, Any], gate: str = "dsp_joint_decision") -> str:
    return f"/ui/cases/{case['reference']}/decisions/{gate}"


class TestDecisions:
    def test_the_three_dsps_votes_through_the_form_agree_the_gate(
        self, api: Api, web: WebClients
    ) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        url = f"/ui/cases/{case['reference']}"
        for n, who in enumerate(DSPS, start=1):
            dsp = web(who)
            doc = page(dsp.get(url))
            # Each sees a form for their own agency, with the case's current version.
            summary = doc.by_id("vote-dsp_joint_decision").find("summary").text
            agency = who.split("@")[0].removeprefix("dsp_").replace("la", "local authority")
            assert summary.lower() == f"record your decision as dsp ({agency})"
            hidden = hidden_inputs(doc, vote_url(case))
            response = dsp.post(
                vote_url(case),
                {
                    **hidden,
                    "decision": "agree",
                    "rationale": f"Criteria met ({who}).",
                    **date_fields("decided_on", "2026-06-17"),
                },
            )
            assert response.status_code == 303, response.text
            assert response.headers["location"] == url
            assert count("approval_votes") == n
        gate = api.get_case(case["id"])["approvals"]["dsp_joint_decision"]
        assert gate["status"] == "agreed"
        assert gate["missing"] == []
        assert gate["agreed_on"] == "2026-06-17"
        votes = rows("SELECT party, decision, rationale FROM approval_votes ORDER BY seq")
        assert [(v["party"], v["decision"]) for v in votes] == [
            ("dsp:local_authority", "agree"),
            ("dsp:police", "agree"),
            ("dsp:health", "agree"),
        ]
        doc = page(web(CHAIR).get(url))
        assert "Agreed on 17 June 2026" in doc.find("main").text
        panel = doc.by_id("votes-dsp_joint_decision").text
        for who in DSPS:
            assert f"Criteria met ({who})." in panel
        # The gate agreed: the rapid review may now be submitted (the guard passes).
        version = case_row(case["reference"])["version"]
        submitted = web("business@tw.example").post(
            f"{url}/transitions/submit_rapid_review",
            {"version": str(version), **date_fields("submitted_on", "2026-06-17")},
        )
        assert submitted.status_code == 303, submitted.text
        assert case_row(case["reference"])["state"] == "awaiting_panel_response"

    def test_a_vote_without_decision_or_rationale_is_shown_on_the_fields(
        self, api: Api, web: WebClients
    ) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        dsp = web("dsp_police@tw.example")
        response = dsp.post(vote_url(case), {"version": str(before["case"]["version"])})
        assert response.status_code == 422
        doc = page(response)
        assert error_summary(doc) == [
            ("#vote-dsp-joint-decision-decision", "Select your decision"),
            ("#vote-dsp-joint-decision-rationale", "Enter rationale"),
        ]
        assert "open" in doc.by_id("vote-dsp_joint_decision").attrs
        assert snapshot(case["id"]) == before

    def test_a_decision_that_is_not_offered_is_refused(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        response = web("dsp_police@tw.example").post(
            vote_url(case),
            {"version": str(before["case"]["version"]), "decision": "abstain", "rationale": "r"},
        )
        assert response.status_code == 422
        message = "Your decision: must be one of agree, disagree"
        assert inline_errors(page(response)) == {"vote-dsp-joint-decision-decision-error": message}
        assert snapshot(case["id"]) == before

    def test_someone_who_decides_for_no_agency_cannot_vote(
        self, api: Api, chair: WebClient
    ) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        response = chair.post(
            vote_url(case),
            {"version": str(before["case"]["version"]), "decision": "agree", "rationale": "r"},
        )
        assert response.status_code == 403
        assert problem_text(page(response)).startswith("dsp_joint_decision is decided by")
        assert snapshot(case["id"]) == before

    def test_an_unknown_gate(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        response = web("dsp_police@tw.example").post(
            vote_url(case, "no_such_gate"),
            {"version": str(before["case"]["version"]), "decision": "agree", "rationale": "r"},
        )
        assert response.status_code == 409
        assert problem_text(page(response)) == "There is no decision to record here."
        assert snapshot(case["id"]) == before

    def test_a_stale_version(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        dsp = web("dsp_police@tw.example")
        version = hidden_inputs(page(dsp.get(f"/ui/cases/{case['reference']}")), vote_url(case))[
            "version"
        ]
        assert api.vote(case["id"], "dsp_la").status_code == 200
        before = snapshot(case["id"])
        response = dsp.post(
            vote_url(case), {"version": version, "decision": "agree", "rationale": "r"}
        )
        assert response.status_code == 409
        assert problem_text(page(response)).startswith(STALE)
        assert snapshot(case["id"]) == before

    def test_without_the_csrf_token(self, api: Api, web: WebClients) -> None:
        case = new_case(api)
        to_dsp_decision(api, case)
        before = snapshot(case["id"])
        response = web("dsp_police@tw.example").post_without_csrf(
            vote_url(case),
            {"version": str(before["case"]["version"]), "decision": "agree", "rationale": "r"},
        )
        assert response.status_code == 403
        assert snapshot(case["id"]) == before


# -- errors, static files, headers, odd input ------------------------------------------------------


class TestErrorPages:
    @pytest.mark.parametrize("path", ["/ui/nope", "/ui/cases", "/ui/cases/TW-2026-0001/nope"])
    def test_an_unknown_page_is_an_html_404(self, chair: WebClient, path: str) -> None:
        response = chair.get(path)
        assert response.status_code == 404
        doc = page(response)
        assert title(doc) == "Page not found"
        assert doc.find("main").find("a", href="/ui").text == "Go to your cases"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"] == PAGE_CSP

    def test_an_unknown_page_is_a_404_signed_out_too(self, web: WebClients) -> None:
        response = web().get("/ui/nope")
        assert response.status_code == 404
        assert title(page(response)) == "Page not found"

    def test_the_api_keeps_its_problem_documents(self, chair: WebClient) -> None:
        response = chair.get("/api/v1/nope")
        assert_problem(response, 404)

    def test_a_wrong_method_on_a_page(self, chair: WebClient) -> None:
        response = chair.http.delete("/ui")
        assert response.status_code == 405
        assert title(page(response)) == "Page not found"

    def test_the_request_id_is_on_the_error_page(self, chair: WebClient) -> None:
        response = chair.get("/ui/nope")
        assert response.headers["x-request-id"] in page(response).find("main").text

    def test_home_goes_to_the_ui(self, web: WebClients) -> None:
        response = web().get("/")
        assert response.status_code in (302, 303, 307)
        assert response.headers["location"] == "/ui"


ASSETS = [
    ("/ui/static/build/app.css", "text/css"),
    ("/ui/static/build/govuk-frontend.min.js", "javascript"),
    ("/ui/static/app.mjs", "javascript"),
    ("/ui/static/favicon.svg", "image/svg+xml"),
]


class TestStatic:
    @pytest.mark.parametrize(("path", "content_type"), ASSETS)
    def test_assets_are_served(self, web: WebClients, path: str, content_type: str) -> None:
        file = STATIC_DIR / path.removeprefix("/ui/static/")
        if not file.is_file():
            pytest.fail(f"{file} is missing: run `make assets` to build the web UI's assets")
        response = web().get(path)
        assert response.status_code == 200
        assert content_type in response.headers["content-type"]
        assert response.content == file.read_bytes()
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_the_pages_link_to_the_assets(self, web: WebClients) -> None:
        doc = page(web().get("/ui/sign-in"))
        assert doc.find("link", rel="stylesheet").attrs["href"] == "/ui/static/build/app.css"
        assert doc.find("script", type="module").attrs["src"] == "/ui/static/app.mjs"

    def test_the_script_imports_the_built_govuk_frontend(self) -> None:
        script = (STATIC_DIR / "app.mjs").read_text()
        assert 'from "./build/govuk-frontend.min.js"' in script

    def test_nothing_outside_the_static_folder(self, web: WebClients) -> None:
        anonymous = web()
        for path in (
            "/ui/static/../router.py",
            "/ui/static/..%2frouter.py",
            "/ui/static/%2e%2e/router.py",
            "/ui/static/%2e%2e%2f%2e%2e%2fconfig.py",
            "/ui/static/../templates/base.html",
            "/ui/static/nope.css",
        ):
            response = anonymous.get(path)
            assert response.status_code == 404, path
            assert "import" not in response.text, path
            assert "{% block" not in response.text, path


class TestHeaders:
    def test_pages_carry_the_security_headers(self, api: Api, chair: WebClient) -> None:
        new_case(api)
        for path in ("/ui", "/ui/cases/new", "/ui/alerts", "/ui/cases/TW-2026-0001"):
            response = chair.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == PAGE_CSP, path
            assert response.headers["x-frame-options"] == "DENY", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert response.headers["referrer-policy"] == "no-referrer", path
            assert response.headers["cache-control"] == "no-store", path
            assert "x-request-id" in response.headers, path

    def test_the_sign_in_page_and_redirects_too(self, web: WebClients) -> None:
        for response in (web().get("/ui/sign-in"), web().get("/ui")):
            assert response.headers["content-security-policy"] == PAGE_CSP
            assert response.headers["x-frame-options"] == "DENY"

    def test_pages_load_nothing_from_elsewhere(self, chair: WebClient) -> None:
        doc = page(chair.get("/ui"))
        for element in doc.find_all():
            for attribute in ("src", "href", "action"):
                value = element.attrs.get(attribute, "")
                assert not value.startswith(("http:", "https:", "//")), value
        # No inline script (the CSP would block it).
        assert all("src" in s.attrs for s in doc.find_all("script"))
        assert not any(a.startswith("on") for e in doc.find_all() for a in e.attrs)


class TestOddInput:
    """No page answers 500, whatever is sent."""

    def test_odd_addresses(self, api: Api, chair: WebClient) -> None:
        new_case(api)
        for path in (
            "/ui/cases/" + "x" * 5000,
            "/ui/cases/TW-2026-" + "9" * 60,
            "/ui/cases/TW%00",
            "/ui/cases/%00",
            "/ui/cases/%ff%fe",
            "/ui/cases/TW-2026-0001%0d%0aSet-Cookie:%20x=1",
            "/ui?state=%00&agency=%00&clocks=%00&closed=%00",
            "/ui?state=" + "s" * 5000,
            "/ui?state=%ff",
            "/ui/alerts?cursor=%00",
            "/ui/alerts?cursor=" + "c" * 5000,
            "/ui/alerts?cursor=not-a-cursor",
            "/ui/sign-in?next=%00",
            "/ui/sign-in?next=" + "/ui" * 3000,
            "/ui/cases/new?done=%00",
        ):
            response = chair.get(path)
            assert response.status_code in (200, 400, 404, 422), (path, response.status_code)
            page(response)
            assert "set-cookie" not in response.headers, path

    def test_odd_form_values(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        urls = {
            "action": f"/ui/cases/{case['reference']}/transitions/notify_panel",
            "vote": vote_url(case, "notification_decision"),
            "new": "/ui/cases/new",
            "sign-in": "/ui/sign-in",
        }
        before = snapshot(case["id"])
        odd: list[tuple[str, dict[str, Any]]] = [
            ("action", {"version": "1\x00", "notified_on-day": "\x00"}),
            ("action", {"\x00": "\x00", "version": "1"}),
            (
                "action",
                {
                    "version": "1",
                    **date_fields("notified_on", "2026-06-12"),
                    "panel_reference": "p" * 200,
                },
            ),
            ("action", {"version": "9" * 5000}),
            (
                "action",
                {
                    "version": "1",
                    "notified_on-day": "9" * 5000,
                    "notified_on-month": "1",
                    "notified_on-year": "2026",
                },
            ),
            (
                "vote",
                {"version": "1", "decision": "\x00", "rationale": "\x00", "decided_on-day": "x"},
            ),
            (
                "new",
                {
                    "became_aware_on-day": "\x00",
                    "child.age_years": "9" * 5000,
                    "summary": "s" * 30_000,
                },
            ),
            ("new", {"incident.categories": ["neglect"] * 150}),
            ("sign-in", {"email": "\x00", "password": "\x00", "next": "\x00"}),
            ("sign-in", {"email": "e" * 100_000, "password": "p" * 100_000}),
        ]
        for where, data in odd:
            response = chair.post(urls[where], data)
            assert response.status_code in (400, 401, 403, 409, 422), (where, response.status_code)
            page(response)
            assert snapshot(case["id"]) == before, where
            assert count("cases") == 1, where

    def test_a_form_with_too_many_fields_is_refused(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        data = {f"field{i}": "x" for i in range(1000)} | notify_form(1)
        response = chair.post(f"/ui/cases/{case['reference']}/transitions/notify_panel", data)
        assert response.status_code == 400
        assert title(page(response)) == "The request could not be read"
        assert snapshot(case["id"]) == before

    def test_a_huge_form_is_refused(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = chair.post(
            f"/ui/cases/{case['reference']}/transitions/notify_panel",
            notify_form(1, comment="x" * 2_000_000),
        )
        assert response.status_code == 413
        assert snapshot(case["id"]) == before

    def test_a_file_upload_is_refused(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        response = chair.http.post(
            f"/ui/cases/{case['reference']}/transitions/notify_panel",
            data={"csrf_token": chair.csrf, **notify_form(1)},
            files={"evidence": ("x.txt", b"hello", "text/plain")},
        )
        assert response.status_code == 400
        page(response)
        assert snapshot(case["id"]) == before

    def test_a_body_that_is_not_a_form(self, api: Api, chair: WebClient) -> None:
        case = new_case(api)
        before = snapshot(case["id"])
        for content_type, body in (
            ("application/json", b'{"version": "1"}'),
            ("application/x-www-form-urlencoded", b"%ff%fe=%ff&version=1&&&==&"),
            ("text/plain", b"\x00\xff"),
        ):
            response = chair.http.post(
                f"/ui/cases/{case['reference']}/transitions/notify_panel",
                content=body,
                headers={"content-type": content_type},
            )
            assert response.status_code in (400, 403, 422), (content_type, response.status_code)
            page(response)
        assert snapshot(case["id"]) == before

    def test_a_referral_with_every_odd_value_creates_nothing(self, chair: WebClient) -> None:
        response = chair.post(
            "/ui/cases/new",
            referral_form(
                **{
                    "referring_agency": "martians",
                    "incident.outcome": "x" * 10_000,
                    "child.sex": "\N{SUPERSCRIPT TWO}",
                    "child.age_years": "-1",
                }
            ),
        )
        assert response.status_code == 422
        assert len(inline_errors(page(response))) == 4
        assert count("cases") == 0


class TestAlerts:
    def test_no_alerts(self, chair: WebClient) -> None:
        doc = page(chair.get("/ui/alerts"))
        assert title(doc) == "Alerts"
        assert "You have no alerts." in doc.find("main").text

    def test_a_breach_is_listed_with_a_link_to_its_case(
        self, api: Api, chair: WebClient, clock: FixedClock
    ) -> None:
        from cspr_engine.scheduler import jobs

        case = new_case(api, "2026-06-09")  # the Panel was due yesterday, 16 June
        assert jobs.sweep_deadlines(clock) == 1
        response = chair.get("/ui/alerts")
        assert response.status_code == 200
        table = page(response).by_id("alerts")
        breaches = [tr for tr in table.find_all("tr") if "Breached" in tr.text]
        assert breaches
        assert breaches[0].find("a").attrs["href"] == f"/ui/cases/{case['reference']}"
        assert "Notify the Panel, due 16 June 2026" in breaches[0].text
        # Another partnership's alerts are not shown.
        assert case["reference"] not in self.other_partnerships_page(api)

    @staticmethod
    def other_partnerships_page(api: Api) -> str:
        response = api.client.get("/api/v1/alerts", headers=api.headers("chair", "OT"))
        assert response.status_code == 200
        return response.text

    def test_the_page_of_a_signed_out_browser(self, web: WebClients) -> None:
        response = web().get("/ui/alerts")
        assert response.status_code == 303


def test_the_sign_in_cookie_of_the_api_works_for_pages_and_vice_versa(
    api: Api, chair: WebClient
) -> None:
    """One session for both: the page's cookie reads the API (and a write needs the token)."""
    case = new_case(api)
    assert chair.http.get(f"/api/v1/cases/{case['id']}").status_code == 200
    no_token = chair.http.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "notify_panel", "data": {"notified_on": "2026-06-12"}},
    )
    assert no_token.status_code == 403
