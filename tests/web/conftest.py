"""Fixtures for the web UI in a real browser: Debian's chromium driven by Playwright against the
app on a real uvicorn server on 127.0.0.1 (the suite's fixed clock and database)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import ROOT
from tests.factories import PASSWORD, set_password

CHROMIUM = os.environ.get("CSPR_CHROMIUM", "/usr/bin/chromium")
# As root in a container, without a GPU, on a machine whose network is closed: no sandbox, no
# GPU, and none of the browser's own calls home (each would be refused and retried).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(os.environ.get("CSPR_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
VIEWPORT = {"width": 1280, "height": 900}
# A browser step waits at most this long (ms) for the page: failures stop, never hang.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


SignIn = Callable[..., Page]


@pytest.fixture
def signed_in(
    live_server: str, browser: Browser, contexts: list[BrowserContext], directory: object
) -> SignIn:
    """sign_in("chair") -> a page in a browser of its own, signed in through the form.
    `bypass_csp` only for the accessibility check, which injects axe-core as a script."""

    def sign_in(who: str, partnership: str = "TW", *, bypass_csp: bool = False) -> Page:
        email = f"{who}@{partnership.lower()}.example"
        set_password(email)
        context = browser.new_context(
            base_url=live_server, viewport=VIEWPORT, bypass_csp=bypass_csp
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/ui")
        assert "/ui/sign-in" in page.url
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{live_server}/ui")
        return page

    return sign_in


def serious_violations(page: Page) -> list[dict[str, object]]:
    """axe-core's WCAG 2.x A/AA (and 2.2) rules on the page as it is: the serious and critical
    violations, each with the elements at fault."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                 "wcag22aa", "best-practice"]},
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
