"""The projection filled in by keyboard, shared by its address, and seen at the widths people
use (issue 16): no figure in scientific notation, nothing wider than its card."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.stats.test_projection_pricing import DAILY, table  # noqa: F401 (the fixture)
from tests.stats.test_projection_scenarios import measured, only_haiku_price
from tests.support.screens import WIDTHS, screenshot, shots_dir, wider_than_card

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
    rows = projection.get_by_test_id("projection")
    expect(rows.get_by_role("columnheader", name="A month")).to_be_visible()
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


def test_three_ways_to_pay_and_a_what_if_hybrid(owner_page, table):  # noqa: F811
    """Issue 18: each machine priced by the hour paid three ways, with its chart, and a what-if
    hybrid picked in the form; everything inside its card at 1024, 1280 and 1920 px."""
    page = owner_page
    page.goto(f"/stats/?{DAILY}")
    what_if = page.get_by_test_id("what-if")
    what_if.get_by_label("First configuration").select_option(label="a10-24/7")
    what_if.get_by_label("Second configuration").select_option(label="api")
    what_if.get_by_label("% of queries to the second").fill("25")
    page.get_by_role("button", name="Project").click()
    page.wait_for_url(re.compile(r"hybrid_share=25"))

    projection = page.locator("#projection")
    # 75% on the dedicated A10, paid in full ($14.40), 25% to the API (2,500 x $0.0007 =
    # $1.75): $16.15 a day.
    row = projection.get_by_role("row").filter(has_text="what-if: a10-24/7 + api")
    expect(row).to_contain_text("$16.15")
    expect(row).to_contain_text("what-if")
    # The A10 paid three ways: per token at its own price row, $0.03 x 10,000 = $300 a day;
    # dedicated $14.40; dedicated cheaper than per token above $14.40 / $0.03 = 480 a day.
    a10 = projection.locator('[data-testid="ways"][data-config="a10-24/7"]')
    expect(a10.locator('tr[data-mode="per token"]')).to_contain_text("$300")
    expect(a10.locator('tr[data-mode="dedicated"]')).to_contain_text("$14.40")
    expect(a10).to_contain_text("Dedicated is cheaper than per token above 480 queries a day")
    # Its chart: three lines, the break-evens ringed and named.
    chart = a10.locator("figure[data-ways] svg")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("dedicated = per token")
    expect(chart).to_contain_text("serverless")

    for width in WIDTHS:
        screenshot(page, "projection-ways", width)
        page.wait_for_timeout(300)  # the charts redrawn at the new width
        a10.screenshot(path=str(shots_dir() / f"projection-ways-a10-{width}.png"))
        for part, name in (("form", "form"), ('[data-testid="projection"]', "table")):
            shot = shots_dir() / f"projection-{name}-{width}.png"
            projection.locator(part).screenshot(path=str(shot))
        mac = projection.locator('[data-testid="ways"][data-config="mlx-mac"]')
        mac.screenshot(path=str(shots_dir() / f"projection-ways-mac-{width}.png"))
        selector = "#projection table, #projection form, #projection svg, #projection figure"
        assert wider_than_card(page, selector) == [], width
        # Each configuration's block stays inside the card.
        assert wider_than_card(page, "#projection .way") == [], width

    # A share past 100%: the form says so beside the rest, and projects nothing.
    what_if.get_by_label("% of queries to the second").fill("150")
    page.get_by_role("button", name="Project").click()
    page.wait_for_url(re.compile(r"hybrid_share=150"))
    expect(page.get_by_role("alert")).to_contain_text("from 0 to 100: not 150")
    expect(page.get_by_test_id("projection")).to_have_count(0)
    screenshot(page, "projection-hybrid-error", 1280)
    projection.screenshot(path=str(shots_dir() / "projection-hybrid-error-card-1280.png"))
