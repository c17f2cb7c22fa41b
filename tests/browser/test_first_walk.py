"""What a first walk through the app tripped on (a new user's walkthrough, 2026-12): pages in
Chromium at 1024, 1280 and 1920 px, their layout asserted by bounding boxes and shot for a
person to look at."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inference.models import WorkerHeartbeat
from tests.browser.conftest import log_in
from tests.conftest import make_project
from tests.ops.test_csp import voted_comparison
from tests.support.screens import WIDTHS, box, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_says_you_are_in_no_project_as_one_sentence(owner_page, shoot):
    page = owner_page
    page.goto("/")
    sentence = page.locator(".waiting-list li.muted")
    link = sentence.get_by_role("link", name="make one")
    for width in WIDTHS:
        shoot(page, "first-walk-home-empty", width)
        # The words, the link and the full stop read on one line, side by side: not the words
        # left, the link in the middle and the stop at the far right of the card.
        words, made = box(page, ".waiting-list li.muted"), link.bounding_box()
        assert made["x"] - words["x"] < 260, (width, words, made)
        assert words["height"] < 40 and words["y"] <= made["y"] <= words["y"] + words["height"]
    assert sentence.inner_text().strip() == "You are in no project yet: make one."


def test_a_projects_buttons_stand_apart_from_its_first_card(owner_page, owner, mlx_config, shoot):
    page = owner_page
    project = make_project(owner, mlx_config, n=2)
    page.goto(f"/projects/{project.pk}/")
    for width in WIDTHS:
        shoot(page, "first-walk-project-buttons", width)
        buttons = box(page, "main > .actions")
        first_card = page.locator("main > section.card").first.bounding_box()
        gap = first_card["y"] - (buttons["y"] + buttons["height"])
        assert gap >= 12, (width, gap)


def test_model_names_keep_their_letters_in_table_headers(page, owner, shoot):
    owner.is_staff = owner.is_superuser = True
    owner.save(update_fields=("is_staff", "is_superuser"))
    page.goto("/accounts/login/")
    log_in(page, "owner", "pw-owner-123")
    project = voted_comparison(owner)  # models "local-small" and "api-large"
    page.goto(f"/projects/{project.pk}/results/", wait_until="networkidle")
    # The win/tie/loss table names each model as a column and as a row, as written (not
    # "LOCAL-SMALL": a header's capitals would rename a model such as gpt-4o "GPT-4O").
    headers = page.locator(".table th").all_inner_texts()
    assert headers.count("local-small") == 2 and headers.count("api-large") == 2, headers
    shoot(page, "first-walk-leaderboard", 1280)
    dataset = project.runs.first().dataset_id
    page.goto(f"/datasets/{dataset}/matrix/")
    headers = page.locator("thead th").all_inner_texts()
    assert any(h.startswith("local-small") for h in headers), headers
    assert any(h.startswith("api-large") for h in headers), headers
    shoot(page, "first-walk-matrix", 1280)


def test_a_run_without_a_price_says_so_on_one_line(owner_page, owner, mlx_config, shoot):
    page = owner_page
    run = make_project(owner, mlx_config, n=3).runs.get()  # the demo configuration: no price
    page.goto(f"/runs/{run.pk}/")
    note = page.locator('#run-progress [data-figure="no-price"]')
    for width in WIDTHS:
        shoot(page, "first-walk-run-no-price", width)
        # "no price — set one" on one line, in a cell of its row (it wrapped over two, taller
        # than its neighbours, pushing the row's labels down).
        assert note.bounding_box()["height"] < 24, width
        assert wider_than_card(page, "#run-progress dd") == []


def test_the_configuration_form_health_and_an_output_fit_their_width(
    owner_page, owner, mlx_config, shoot
):
    page = owner_page
    output = make_project(owner, mlx_config, n=1).runs.get().generations.get()
    output.cost_usd = Decimal("0.0000017")
    output.save(update_fields=["cost_usd"])
    seen = timezone.now() - timedelta(seconds=20)
    WorkerHeartbeat.objects.create(
        hostname="mlx@box", queues=["mlx"], loaded=[], pid=1, machine="box", last_seen=seen
    )
    pages = {
        "model-form": "/models/new/",
        "health": "/health/",
        "models-on-disk": "/health/models/",
        "output": f"/generations/{output.pk}/",
    }
    for name, url in pages.items():
        page.goto(url)
        for width in WIDTHS:
            shoot(page, f"first-walk-{name}", width)
            sideways = page.evaluate("document.documentElement.scrollWidth - innerWidth")
            assert sideways <= 0, (name, width, sideways)
            assert wider_than_card(page) == [], (name, width)
    page.goto("/models/new/")
    expect(page.get_by_label("Hourly price (USD)")).to_be_visible()
    page.goto(f"/generations/{output.pk}/")
    expect(page.locator("dl.figures")).to_contain_text("$0.0000017")
    page.goto("/health/")
    expect(page.get_by_role("row", name="mlx@box")).to_contain_text("seconds ago")
