"""A speed sweep's page draws its chart under the Content-Security-Policy: a dot per point,
the knee ringed and named, nothing refused."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from annotate.stats.models import Sweep
from inference.actions import create_run
from inference.models import GenerationStatus, RunStatus
from tests.conftest import make_dataset
from tests.support.screens import wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _finished_sweep(owner, config) -> Sweep:
    """Three points at batch 1, 4, 8: 4 × 16 tokens in 4 s, 1 s, 0.95 s, the median
    latency growing: 16, 64, 67 tok/s, so the knee is at 4 (+5% for the last doubling)."""
    dataset = make_dataset(owner, 4)
    items = list(dataset.items.values_list("pk", flat=True))
    points = [{"in_flight": n, "max_tokens": 16} for n in (1, 4, 8)]
    sweep = Sweep.objects.create(
        dataset=dataset, model_config=config, created_by=owner, item_ids=items, points=points
    )
    start = timezone.now()
    for i, (span, latency) in enumerate([(4.0, 1.0), (1.0, 0.9), (0.95, 0.94)]):
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(
                owner,
                dataset.pk,
                config.pk,
                item_ids=items,
                overrides={
                    "batch_size": points[i]["in_flight"],
                    "max_tokens": 16,
                    "sweep": {"id": sweep.pk, "point": i},
                },
            )
        run.generations.update(
            status=GenerationStatus.DONE,
            output_tokens=16,
            latency_s=latency,
            started_at=start,
            finished_at=start + timedelta(seconds=span),
        )
        run.status = RunStatus.COMPLETED
        run.save(update_fields=("status",))
    return sweep


def test_the_sweep_chart_marks_the_knee(owner_page, owner, mlx_config, shoot):
    page = owner_page
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    sweep = _finished_sweep(owner, mlx_config)
    page.goto(f"/sweeps/{sweep.pk}/", wait_until="networkidle")
    chart = page.locator("#sweep-chart svg.annotate-plot")
    expect(chart).to_have_count(1)
    expect(chart.locator("text", has_text="4 (knee)")).to_have_count(1)
    expect(page.locator("tr.knee td").first).to_have_text("4")
    expect(page.get_by_text("3 of 3 points finished")).to_be_visible()
    shoot(page, "sweep")
    assert problems == []


# Where a cell's text lies in it: the gap between the text and each side of the cell.
_TEXT_GAPS = """
(cells) => cells.map((cell) => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const text = range.getBoundingClientRect(), box = cell.getBoundingClientRect();
  return { left: text.left - box.left, right: box.right - text.right };
})
"""

# The gap between each legend swatch and its label's text.
_SWATCH_GAPS = """
(swatches) => swatches.map((swatch) => {
  const mark = swatch.querySelector('svg').getBoundingClientRect();
  const range = document.createRange();
  range.selectNodeContents(swatch.lastChild);
  return range.getBoundingClientRect().left - mark.right;
})
"""


@pytest.mark.parametrize("width", [1024, 1280, 1920])
def test_the_sweep_table_reads_as_the_statistics_tables(
    owner_page, owner, mlx_config, shoot, width
):
    page = owner_page
    page.set_viewport_size({"width": width, "height": 900})
    sweep = _finished_sweep(owner, mlx_config)
    page.goto(f"/sweeps/{sweep.pk}/", wait_until="networkidle")
    rows = page.locator('[data-testid="sweep-points"] tbody tr')
    # Median latencies 1.0, 0.9 and 0.94 s, written as the Speed & cost page writes them.
    expect(rows.locator('[data-figure="p50"]')).to_have_text(["1 s", "900 ms", "940 ms"])
    # 64 tokens in 4 s, 1 s and 0.95 s, right-aligned as figures are.
    expect(rows.locator('[data-figure="tps"]')).to_have_text(["16.0", "64.0", "67.4"])
    for figure in ("tps", "p50", "p95"):
        gaps = page.locator(f'[data-testid="sweep-points"] [data-figure="{figure}"]').evaluate_all(
            _TEXT_GAPS
        )
        assert all(g["right"] < 20 < g["left"] for g in gaps), (figure, gaps)
    # The rows that are not the knee say so, with the reason on hover.
    knee = rows.locator('[data-figure="knee"]')
    expect(knee).to_have_text(["—", "knee", "—"])
    assert "knee" in knee.nth(0).locator("span").get_attribute("title")
    # The legend's swatches keep a gap before their labels.
    gaps = page.locator("#sweep-chart .annotate-plot-swatch").evaluate_all(_SWATCH_GAPS)
    assert gaps and all(g >= 4 for g in gaps), gaps
    assert wider_than_card(page) == []
    shoot(page, "sweep-table")
    # On /runs/ each of the sweep's runs names its sweep and point (from 1), linked back.
    page.goto("/runs/")
    marks = page.get_by_test_id("run-sweep")
    expect(marks).to_have_text([f"(sweep {sweep.pk}, point {k})" for k in (3, 2, 1)])
    expect(marks.first.get_by_role("link")).to_have_attribute("href", f"/sweeps/{sweep.pk}/")
    assert wider_than_card(page, "table") == []
    shoot(page, "runs-with-sweep")
