"""The sweep page's Cancel button (htmx): a sweep with a measured point, a failed point (its
error shown) and a point running is cancelled in place; the measured point and its chart stay,
polling stops, and the layout fits its cards at 1024, 1280 and 1920 px."""

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
from tests.support.screens import WIDTHS, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ERROR = "Cannot load /models/missing-7b: no such directory."


def _sweep_in_progress(owner, config) -> Sweep:
    """Points at batch 1, 4, 8: the first measured (4 × 16 tokens in 2 s: 32 tok/s), the
    second failed at start, the third running."""
    dataset = make_dataset(owner, 4)
    items = list(dataset.items.values_list("pk", flat=True))
    points = [{"in_flight": n, "max_tokens": 16} for n in (1, 4, 8)]
    sweep = Sweep.objects.create(
        dataset=dataset, model_config=config, created_by=owner, item_ids=items, points=points
    )
    runs = []
    for i in range(3):
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            runs.append(
                create_run(
                    owner,
                    dataset.pk,
                    config.pk,
                    item_ids=items,
                    overrides={"batch_size": points[i]["in_flight"], "max_tokens": 16}
                    | {"sweep": {"id": sweep.pk, "point": i}},
                )
            )
    start = timezone.now()
    runs[0].generations.update(
        status=GenerationStatus.DONE,
        output_tokens=16,
        latency_s=1.5,
        started_at=start,
        finished_at=start + timedelta(seconds=2),
    )
    runs[0]._set(status=RunStatus.COMPLETED, finished_at=start + timedelta(seconds=2))
    runs[1]._set(status=RunStatus.FAILED, error=ERROR, finished_at=start)
    runs[2]._set(status=RunStatus.RUNNING)
    return sweep


def test_the_cancel_button_stops_the_sweep_in_place(owner_page, owner, mlx_config, shoot):
    page = owner_page
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    sweep = _sweep_in_progress(owner, mlx_config)
    page.goto(f"/sweeps/{sweep.pk}/", wait_until="networkidle")
    status = page.get_by_test_id("sweep-status")
    expect(status).to_have_text("Running")
    expect(page.get_by_test_id("point-error")).to_have_text(ERROR)
    expect(page.locator("#sweep-chart svg.annotate-plot")).to_have_count(1)
    for width in WIDTHS:
        shoot(page, "sweep-running", width)
        assert wider_than_card(page) == []

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Cancel sweep").click()
    expect(status).to_have_text("Cancelled")
    expect(page.get_by_text("Sweep cancelled; the points already measured stay.")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel sweep")).to_have_count(0)
    expect(page.locator("#sweep-points")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator('tr[data-point="0"] td[data-figure="tps"]')).to_have_text("32.0")
    expect(page.locator('tr[data-point="2"]')).to_contain_text("Cancelled")
    expect(page.locator("#sweep-chart svg.annotate-plot")).to_have_count(1)
    for width in WIDTHS:
        shoot(page, "sweep-cancelled", width)
        assert wider_than_card(page) == []
    assert problems == []
