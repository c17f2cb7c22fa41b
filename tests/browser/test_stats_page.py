"""Issue 16: the Speed & cost page at the widths people use. Tables and charts fit their cards,
no axis label is cut, no number is in scientific notation, tooltips give the sample size,
and the local and hosted speeds are named as the different quantities they are."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.screens import WIDTHS, shoot_element, wider_than_card
from tests.support.stats_seed import seed_speed_and_cost

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS = ("speed", "ttft", "latency", "throughput", "cost_rating", "cost_win")
SCIENTIFIC = re.compile(r"\d(\.\d+)?e[+-]?\d", re.I)

# Text of each chart (ticks, axis titles, row names) reaching out of the chart's own svg.
_CUT_TEXT = """
() => {
  const out = [];
  for (const svg of document.querySelectorAll('figure[data-chart] svg')) {
    const s = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < s.left - 1 || r.right > s.right + 1 || r.top < s.top - 1
          || r.bottom > s.bottom + 1) {
        out.push(`${svg.closest('figure').dataset.chart}: "${t.textContent}"`);
      }
    }
  }
  return out;
}
"""


@pytest.fixture
def stats_page(owner_page, owner):
    seed_speed_and_cost(owner)
    problems: list[str] = []
    owner_page.on("pageerror", lambda error: problems.append(str(error)))
    owner_page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    owner_page.goto("/stats/", wait_until="networkidle")
    return owner_page, problems


def drawn(page) -> None:
    for name in CHARTS:
        expect(page.locator(f'figure[data-chart="{name}"] svg.annotate-plot')).to_have_count(1)


@pytest.mark.parametrize("width", WIDTHS)
def test_tables_and_charts_fit_and_read_plainly(stats_page, shoot, width):
    page, problems = stats_page
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_function(
        "w => [...document.querySelectorAll('figure[data-chart]')]"
        ".every(f => Number(f.dataset.width) === Math.floor(f.clientWidth))",
        arg=width,
    )
    drawn(page)
    assert wider_than_card(page) == []
    assert page.evaluate(_CUT_TEXT) == []
    text = page.inner_text("body")
    assert SCIENTIFIC.search(text) is None, SCIENTIFIC.search(text)
    shoot(page, "stats", width)
    for name in CHARTS:
        shoot_element(page.locator(f'figure[data-chart="{name}"]'), f"stats-{name}-{width}")
    for table in ("stats", "stats-local", "stats-cost"):
        shoot_element(page.get_by_test_id(table), f"stats-table-{table}-{width}")
    assert problems == []


def test_the_page_names_each_speed_and_each_missing_figure(stats_page):
    page, problems = stats_page
    drawn(page)
    table = page.get_by_test_id("stats")
    expect(table.locator("th").filter(has_text="Local decode or API streaming")).to_have_count(1)
    expect(table.locator("th").filter(has_text="End-to-end")).to_have_count(1)
    local = table.locator("tr").filter(has_text="emo-mlx")
    expect(local.locator('[data-figure="decode"]')).to_contain_text("local decode")
    hosted = table.locator("tr").filter(has_text="claude-haiku")
    expect(hosted.locator('[data-figure="decode"]')).to_contain_text("API streaming")
    expect(hosted.locator('[data-figure="end-to-end"]')).to_contain_text("tok/s")
    # Every model with a cost is on the rating chart; the one never compared is named under
    # the win-rate chart, the unpriced one under the charts.
    expect(page.get_by_test_id("missing-win")).to_contain_text("gpt-mini")
    expect(page.get_by_test_id("missing-win")).to_contain_text("no comparison votes yet")
    expect(page.get_by_test_id("unpriced")).to_contain_text("house-vllm")
    expect(page.get_by_test_id("legend")).to_contain_text("claude-haiku")
    assert problems == []


def _hover_tip(page, chart: str, mark: str) -> str:
    figure = page.locator(f'figure[data-chart="{chart}"]')
    figure.scroll_into_view_if_needed()
    target = figure.locator(mark).first.bounding_box()
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    tip = figure.locator('g[aria-label="tip"] text')
    expect(tip).to_have_count(1)
    shoot_element(figure, f"stats-{chart}-tooltip")
    # Readable: dark text on a white box (Plot's own stylesheet, which sets the box's colour,
    # is refused by the Content-Security-Policy; app.css sets it).
    box_fill = figure.locator('g[aria-label="tip"] path').first.evaluate(
        "p => getComputedStyle(p).fill"
    )
    assert box_fill == "rgb(255, 255, 255)"
    # The tip wraps long lines into tspans: read them back as one line of words.
    text = tip.evaluate("t => [...t.querySelectorAll('tspan')].map(s => s.textContent).join(' ')")
    return " ".join(text.replace("\u200b", " ").split())


def test_tooltips_give_the_sample_size(stats_page):
    page, _ = stats_page
    drawn(page)
    speed = _hover_tip(page, "speed", 'g[aria-label="bar"] rect')
    assert re.search(r"n = \d+", speed) and "tok/s" in speed
    cost = _hover_tip(page, "cost_rating", 'g[aria-label="dot"] circle')
    assert re.search(r"n = \d+ priced outputs", cost) and re.search(r"rating .* \(n = \d+\)", cost)
    latency = _hover_tip(page, "latency", 'g[aria-label="dot"] circle')
    assert re.search(r"n = \d+", latency)
