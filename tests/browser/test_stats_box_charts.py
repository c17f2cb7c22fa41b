"""The Speed & cost page's box charts read at every width: each tick of the tokens/s axis has its
number (two local models between 220 and 650 tok/s, less than a decade on its log scale), and
each box lies under its own model's name, nearer to it than to the next model's."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import make_dataset
from tests.support.screens import WIDTHS, shoot_element

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each row's name (its text) and box (the bar of its 25th-75th percentiles), top to bottom.
_ROWS = """
(svg) => {
  const texts = [...svg.querySelectorAll('g[aria-label="text"] text')];
  const bars = [...svg.querySelectorAll('g[aria-label="bar"] rect')];
  const y = (el) => {
    const r = el.getBoundingClientRect();
    return { top: r.top, bottom: r.bottom };
  };
  return { names: texts.map(y), boxes: bars.map(y) };
}
"""

_TICKS = """
(svg) => ({
  ticks: svg.querySelectorAll('g[aria-label="x-axis tick"] path').length,
  labels: [...svg.querySelectorAll('g[aria-label="x-axis tick label"] text')]
    .map((t) => t.textContent),
})
"""


def _measured(owner, name: str, low: float, high: float, dataset) -> None:
    config = ModelConfig.objects.create(
        name=name, backend="mlx", model=f"/models/{name}", owner=owner
    )
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, dataset.pk, config.pk)
    start = timezone.now()
    gens = list(run.generations.order_by("item__index"))
    for i, g in enumerate(gens):
        g.decode_tps = low + (high - low) * i / (len(gens) - 1)
        g.status, g.output, g.output_tokens, g.prompt_tokens = GenerationStatus.DONE, "ok", 100, 20
        g.ttft_s, g.latency_s = 0.1 + 0.01 * i, 0.5 + 0.01 * i
        g.machine, g.concurrency = "vm", 1
        g.started_at, g.finished_at = start, start + timedelta(seconds=1)
        g.save()


@pytest.mark.parametrize("width", WIDTHS)
def test_box_charts_number_every_tick_and_keep_each_box_under_its_name(owner_page, owner, width):
    dataset = make_dataset(owner, 20)
    _measured(owner, "narrow-a", 220, 450, dataset)
    _measured(owner, "narrow-b", 430, 650, dataset)
    page = owner_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/stats/", wait_until="networkidle")
    for chart in ("speed", "ttft"):
        svg = page.locator(f'figure[data-chart="{chart}"] svg.annotate-plot')
        expect(svg).to_have_count(1)
        ticks = svg.evaluate(_TICKS)
        assert ticks["ticks"] >= 2 and len(ticks["labels"]) == ticks["ticks"], ticks
        assert all(label.strip() for label in ticks["labels"]), ticks
        rows = svg.evaluate(_ROWS)
        assert len(rows["names"]) == len(rows["boxes"]) == 2
        for i, (name, own) in enumerate(zip(rows["names"], rows["boxes"], strict=True)):
            below_name = own["top"] - name["bottom"]
            assert below_name >= 0, (chart, i, rows)
            if i:
                above_name = name["top"] - rows["boxes"][i - 1]["bottom"]
                assert below_name < above_name, (chart, i, rows)
        shoot_element(page.locator(f'figure[data-chart="{chart}"]'), f"box-{chart}-{width}")
    speed = page.locator('figure[data-chart="speed"] svg.annotate-plot').evaluate(_TICKS)
    # 220 to 650 tok/s: round steps between, the hundreds among them, each with its number.
    assert {"300", "400", "500", "600"} <= set(speed["labels"]), speed
