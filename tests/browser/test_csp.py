"""Issue 13, finding 12: with the Content-Security-Policy enforced, the pages still work in a
browser and nothing on them is refused (no inline script, handler or style; htmx without eval)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import join, make_project
from tests.ops.test_csp import voted_comparison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs in every page before its own scripts: each refusal is reported to the test.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} on ${location.pathname}`
  );
});
"""


def _console(message, problems: list[str]) -> None:
    # The favicon too: a page whose icon is missing logs a 404 here.
    if message.type in ("error", "warning"):
        problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")


@pytest.fixture
def watched(page):
    """The page, and what it refused or complained about: policy violations (the event),
    console errors and warnings, uncaught exceptions."""
    problems: list[str] = []
    page.expose_function("reportViolation", lambda text: problems.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: _console(message, problems))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return page, problems


@pytest.fixture
def signed_in(watched, owner):
    """The manager, staff too (the admin), signed in through the login form."""
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=("is_staff", "is_superuser"))
    page, problems = watched
    page.goto("/accounts/login/")
    log_in(page, "owner", "pw-owner-123")
    return page, problems


def test_the_leaderboard_draws_its_chart_and_its_select_submits(signed_in, owner, shoot):
    page, problems = signed_in
    project = voted_comparison(owner)
    page.goto(f"/projects/{project.pk}/results/", wait_until="networkidle")
    dots = page.locator("svg.interval-track .interval-dot")
    expect(dots).to_have_count(2)
    # api-large won every vote: its dot sits right of local-small's.
    first, second = (dots.nth(i).bounding_box() for i in range(2))
    assert first["x"] > second["x"] + 20
    assert page.locator("svg.interval-track .interval-bar").first.bounding_box()["width"] > 5
    shoot(page, "leaderboard")

    with page.expect_navigation():
        page.get_by_label("By item metadata").select_option("n")
    expect(page).to_have_url(re.compile(r"/results/\?by=n$"))
    expect(page.get_by_role("heading", name="n = 0")).to_be_visible()
    assert problems == []


def test_labeling_works_under_the_policy(signed_in, owner, mlx_config, annotator):
    page, problems = signed_in
    project = make_project(owner, mlx_config, n=3)
    join(project, annotator)
    page.goto(f"/projects/{project.pk}/next/", wait_until="networkidle")
    first = page.url
    page.keyboard.press("4")  # label.js: number keys answer, Enter sends through htmx
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url != first and "/tasks/" in page.url
    page.keyboard.press("?")
    expect(page.locator("dialog#shortcuts")).to_be_visible()
    assert problems == []


def test_the_other_pages_and_the_admin_are_refused_nothing(signed_in, owner, mlx_config):
    page, problems = signed_in
    project = make_project(owner, mlx_config, n=2)
    voted_comparison(owner)  # measured runs: the statistics page's charts
    run = project.runs.get()
    for url in (
        "/",
        "/datasets/",
        f"/runs/{run.pk}/",
        f"/runs/{run.pk}/generations/",
        f"/datasets/items/{run.generations.first().item_id}/",
        f"/projects/{project.pk}/",
        "/stats/",
        "/exports/",
        "/admin/",
        "/admin/annotate/run/",
        f"/admin/annotate/run/{run.pk}/change/",
    ):
        page.goto(url, wait_until="networkidle")
    expect(page.locator("#content h1")).to_have_text("Change run")
    page.goto("/api/docs", wait_until="networkidle")  # Swagger UI: a bundle and its own styles
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert problems == []
