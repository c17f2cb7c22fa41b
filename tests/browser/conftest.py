"""Chromium driven through Playwright against the live server, on the test database.

Debian's Chromium is used (`apt-get install chromium`): `playwright install` downloads its own,
which CI cannot. Without it the browser tests are skipped, and fail in CI (ANNOTATE_CI=1).
"""

from __future__ import annotations

import shutil

import pytest
from django.db import connections

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def browser(monkeypatch):
    """A Chromium of its own per test; Playwright stops with it."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, so Django would refuse
    # the ORM calls the test makes around the browser; they are synchronous all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        # With a loop running, Django keeps this thread's connections apart from its usual
        # ones: close them now, or they hold the test database open after the session.
        connections.close_all()
        playwright.stop()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, username: str, password: str) -> None:
    """Fill the login form the page shows and wait to be let in."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


@pytest.fixture
def owner_page(page, owner):
    """The page, logged in as the owner through the login form."""
    page.goto("/accounts/login/")
    log_in(page, "owner", "pw-owner-123")
    return page


@pytest.fixture
def shoot():
    """Save a screenshot into var/screenshots/ (or $ANNOTATE_SHOTS_DIR), for a person to look at:
    shoot(page, name) at the page's width, or shoot(page, name, width)."""
    from tests.support.screens import screenshot

    return screenshot
