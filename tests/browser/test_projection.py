"""The projection filled in by keyboard, shared by its address, and seen at the widths people
use (issue 16): no figure in scientific notation, nothing wider than its card."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.stats.test_projection_scenarios import measured, only_haiku_price
from tests.support.screens import WIDTHS, screenshot, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def models(owner):
    only_haiku_price()
    measured(owner, "mac-studio-qwen-7b-4bit", "mlx", "/models/qwen", hourly="0.60")
    measured(owner, "attic", "mlx", "/models/qwen", hourly=None)


def test_the_projection_by_keyboard_shared_by_its_address(owner_page, models):
    page = owner_page
    page.goto("/stats/")
    queries = page.get_by_label("Queries", exact=True)
    queries.focus()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("10000")
    page.keyboard.press("Tab")  # input tokens per query
    page.keyboard.type("200")
    page.keyboard.press("Tab")  # output tokens per query
    page.keyboard.type("100")
    page.keyboard.press("Tab")  # the dataset to measure empty tokens on
    page.keyboard.press("Tab")  # per day
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"queries=10000"))

    inputs = parse_qs(urlsplit(page.url).query)
    assert inputs["queries"] == ["10000"] and inputs["per_day"] == ["on"]
    assert inputs["input_tokens"] == ["200"] and inputs["output_tokens"] == ["100"]
    projection = page.locator("#projection")
    expect(projection.get_by_role("columnheader", name="A month")).to_be_visible()
    # 10,000 queries a day: the machine on 24/7 at $0.60/h, $14.40 a day, $432 a month.
    row = projection.get_by_role("row").filter(has_text="mac-studio-qwen-7b-4bit")
    expect(row).to_contain_text("$432")
    expect(projection.get_by_role("row").filter(has_text="attic")).to_contain_text("unknown")

    # The address alone shows the same projection (a colleague opening the shared link).
    shared = page.url
    page.goto("/stats/")
    page.goto(shared)
    expect(page.get_by_label("Queries", exact=True)).to_have_value("10000")
    expect(page.get_by_label("Per day (else in total)", exact=True)).to_be_checked()

    for width in WIDTHS:
        path = screenshot(page, "projection", width)
        projection.screenshot(path=str(path.with_name(f"projection-card-{width}.png")))
        text = projection.inner_text()
        assert not re.search(r"\d[eE][+-]?\d", text), text  # no scientific notation
        assert "0 min" not in text
        assert wider_than_card(page, "#projection table, #projection form") == [], width
