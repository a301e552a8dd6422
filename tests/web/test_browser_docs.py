"""The API documentation in a real browser with no way out: every request to a host other than
127.0.0.1 is aborted (and recorded). /docs (Swagger UI) renders the operations, its Authorize
dialog offers the bearer scheme and a token given there works for "Try it out"; /redoc renders
the API; neither page even tries another host, fails a request of its own, or logs an error
(a script or style refused by the page's Content-Security-Policy would be one)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from tests.factories import Directory
from tests.web.conftest import TIMEOUT_MS, VIEWPORT

pytestmark = pytest.mark.browser

LOCAL = "127.0.0.1"


@dataclass
class Offline:
    """What a page asked for that was not this machine's, and what went wrong on it."""

    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.external == [], "asked another host"
        assert self.failed == [], "a request of its own failed"
        assert self.errors == [], "errors in the console"


@pytest.fixture
def offline(browser: Browser, live_server: str) -> Iterator[tuple[Page, Offline]]:
    seen = Offline()
    context: BrowserContext = browser.new_context(base_url=live_server, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == LOCAL:
            seen.local.append(url)
            route.continue_()
        else:
            seen.external.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(str(e)))

    def failed(request: Request) -> None:
        if urlsplit(request.url).hostname == LOCAL:
            seen.failed.append(f"{request.url}: {request.failure}")

    page.on("requestfailed", failed)
    # The whole document rendered in a page takes seconds on a busy machine (CI runs two
    # suites side by side): assertions wait as long as the actions do.
    expect.set_options(timeout=TIMEOUT_MS)
    try:
        yield page, seen
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default, for the other tests
        context.close()


def test_swagger_ui_renders_the_operations_and_authorizes_with_a_token(
    offline: tuple[Page, Offline], directory: Directory
) -> None:
    page, seen = offline
    response = page.goto("/docs")
    assert response is not None
    assert response.status == 200
    expect(page.locator(".information-container .title")).to_contain_text("cspr_engine")
    cases = page.locator("#operations-tag-cases")
    expect(cases).to_be_visible()
    expect(cases).to_contain_text("cases")
    expect(page.locator("#operations-cases-cases-create_case")).to_contain_text(
        "Open a case (a referral)"
    )
    expect(page.locator("#operations-workflows-workflows-list_workflows")).to_be_visible()

    # Authorize offers both schemes; a bearer token given there is sent by "Try it out".
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("bearer (http, Bearer)")
    expect(dialog).to_contain_text("session (apiKey)")
    expect(dialog).to_contain_text("cspr_session")
    bearer = dialog.locator(".auth-container").filter(has_text="bearer (http, Bearer)")
    bearer.locator("input").fill(directory.token("chair"))
    bearer.locator("button", has_text="Authorize").click()
    expect(bearer.locator("button", has_text="Logout")).to_be_visible()
    dialog.locator("button", has_text="Close").first.click()
    expect(dialog).to_be_hidden()

    operation = page.locator("#operations-workflows-workflows-list_workflows")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/workflows")) as answered:
        operation.get_by_role("button", name="Execute").click()
    answer = answered.value
    assert answer.status == 200
    assert answer.request.headers["authorization"] == f"Bearer {directory.token('chair')}"
    listed = json.loads(answer.text())
    assert listed["next_cursor"] is None
    assert {w["name"] for w in listed["items"]} >= {"cspr", "child_death_review"}
    expect(operation.locator(".live-responses-table")).to_contain_text("200")

    assert any(u.endswith("/openapi.json") for u in seen.local)
    assert any("/ui/static/build/docs/swagger-ui-bundle.js" in u for u in seen.local)
    seen.assert_clean()


def test_redoc_renders_the_api_and_its_operations(offline: tuple[Page, Offline]) -> None:
    page, seen = offline
    response = page.goto("/redoc")
    assert response is not None
    assert response.status == 200
    expect(page.locator("h1").first).to_contain_text("cspr_engine")
    menu = page.locator(".menu-content")
    expect(menu).to_contain_text("cases")
    expect(page.locator("h2", has_text="Open a case (a referral)")).to_be_visible()
    # Its search runs in a worker made from a blob: it finds an operation by its words.
    page.get_by_placeholder("Search...").fill("referral")
    expect(page.locator("[data-role='search:results']")).to_contain_text("Open a case (a referral)")

    assert any(u.endswith("/openapi.json") for u in seen.local)
    assert any("/ui/static/build/docs/redoc.standalone.js" in u for u in seen.local)
    seen.assert_clean()
