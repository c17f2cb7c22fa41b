"""A project's people and the home page in Chromium at 1024, 1280 and 1920 px (issue 16): an
owner creates an account for someone new, the new person sets a password by keyboard through
the one-time link and lands in the project; the people section and the home page are
screenshotted and fit their cards."""

from __future__ import annotations

from dataclasses import asdict
from unittest import mock

import pytest
from playwright.sync_api import expect

from annotate.comparisons.leaderboard import Leaderboard, ModelRow
from annotate.labeling import actions
from annotate.labeling.models import Project, ProjectKind
from inference.actions import create_run
from inference.models import GenerationStatus, RunStatus
from tests.browser.conftest import log_in
from tests.conftest import join, make_dataset, make_project
from tests.support.screens import WIDTHS, box, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long new passphrase 42"


@pytest.fixture
def project(owner, mlx_config, annotator, reviewer):
    project = make_project(owner, mlx_config, n=6, overlap=2, blind=True)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    return project


def test_a_new_person_sets_a_password_by_keyboard_and_lands_in_the_project(
    owner_page, browser, live_server, project, shoot
):
    page = owner_page
    page.goto(f"/projects/{project.pk}/")
    people = page.locator("#people")
    expect(people.get_by_test_id("blind-note")).to_be_visible()
    people.get_by_text("Someone new? Create their account").click()
    people.get_by_label("User name", exact=True).fill("nora")
    people.get_by_label("E-mail", exact=True).fill("nora@example.com")
    people.get_by_role("button", name="Create account").click()
    invitation = page.get_by_test_id("invitation")
    expect(invitation).to_contain_text("nora's account is made")
    link = page.locator("#invite-link").input_value()
    assert link.startswith(live_server.url + "/accounts/welcome/")
    expect(page.locator('tr[data-member="nora"]')).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert wider_than_card(page, "#people table, #people input, #people form") == []
        link_box, card = box(page, "#invite-link"), box(page, "#people")
        assert link_box["x"] + link_box["width"] <= card["x"] + card["width"]
        shoot(page, "people", width)

    # The new person, in a browser of their own, by keyboard only.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    newcomer = context.new_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Set your password")).to_be_visible()
    newcomer.locator("#id_new_password1").focus()
    newcomer.keyboard.type(PASSWORD)
    newcomer.keyboard.press("Tab")
    newcomer.keyboard.type(PASSWORD)
    newcomer.keyboard.press("Enter")
    newcomer.wait_for_url(f"**/projects/{project.pk}/")
    expect(newcomer.get_by_role("heading", name=project.name)).to_be_visible()
    shoot(newcomer, "people-newcomer-lands", 1280)

    # The link worked once.
    newcomer.goto(link)
    expect(newcomer.get_by_role("alert")).to_contain_text("This link no longer works")
    context.close()


def test_an_owner_changes_a_role_with_the_select(owner_page, project):
    page = owner_page
    page.goto(f"/projects/{project.pk}/")
    page.get_by_label("Role of annie").select_option("reviewer")
    page.wait_for_load_state("load")
    expect(page.locator(".messages")).to_contain_text("annie is now a reviewer")
    expect(page.get_by_label("Role of annie")).to_have_value("reviewer")


def _home_world(owner, project, mlx_config):
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, 8).pk, mlx_config.pk)
    for g in run.generations.order_by("pk")[:5]:
        g.status = GenerationStatus.DONE
        g.save()
    run.status = RunStatus.RUNNING
    run.save()
    rows = [
        ModelRow(
            i,
            name,
            1080 - 40 * i,
            1030 - 40 * i,
            1130 - 40 * i,
            0.62 - 0.08 * i,
            0.5,
            0.7,
            30,
            i + 1,
        )
        for i, name in enumerate(["qwen2.5-coder-7b (mlx)", "claude-haiku-4-5", "gpt-4o-mini"])
    ]
    board = Leaderboard(
        rows, [], 45, 22, 23, 0.49, 0.88, 1000, computed_at="2026-12-01T10:00:00+00:00"
    )
    arena = Project.objects.create(
        name="Coding arena",
        kind=ProjectKind.COMPARE,
        owner=owner,
        board=asdict(board),
        board_version=0,
    )
    return run, arena


def test_the_home_page_says_what_needs_me_now(
    owner_page, browser, live_server, owner, annotator, project, mlx_config, shoot
):
    run, _ = _home_world(owner, project, mlx_config)
    held = actions.next_item(owner, project.pk)
    actions.submit_label(owner, project.pk, held.task.number, {"quality": 4, "correct": "pass"})
    page = owner_page
    page.goto("/")
    expect(page.locator("#my-projects")).to_contain_text("waiting for you")
    progress = page.get_by_label(f"Run {run.pk}: items done")
    expect(progress).to_have_attribute("value", "5")
    expect(progress).to_have_attribute("max", "8")
    expect(page.locator("#leaderboard")).to_contain_text("qwen2.5-coder-7b (mlx)")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert wider_than_card(page) == []
        shoot(page, "home-manager", width)

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    annie = context.new_page()
    annie.goto("/accounts/login/")
    log_in(annie, "annie", "pw-annie-123")
    annie.goto("/")
    expect(annie.locator("#my-projects")).to_contain_text("6 waiting for you")
    expect(annie.locator("#leaderboard")).to_have_count(0)
    expect(annie.locator("#runs-in-flight")).to_have_count(0)
    for width in WIDTHS:
        annie.set_viewport_size({"width": width, "height": 900})
        shoot(annie, "home-annotator", width)
    annie.get_by_role("link", name="6 waiting for you").click()
    annie.wait_for_url("**/tasks/**")
    context.close()
