"""The acceptance tests that drive a browser use the browser tests' Chromium and page."""

from tests.browser.conftest import browser, page, shoot  # noqa: F401
