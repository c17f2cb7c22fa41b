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
