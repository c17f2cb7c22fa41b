"""What the pages say of a speed sweep's runs: /runs/ names the sweep and point a run measures
(with a link back), and a sweep whose series has no knee says so rather than leaving it blank."""

from __future__ import annotations

from unittest import mock

import pytest

from annotate.stats.models import Sweep
from inference.actions import create_run
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


def _sweep(owner, config, points: int = 2) -> Sweep:
    dataset = make_dataset(owner, 2)
    items = list(dataset.items.values_list("pk", flat=True))
    return Sweep.objects.create(
        dataset=dataset,
        model_config=config,
        created_by=owner,
        item_ids=items,
        points=[{"in_flight": 2**i, "max_tokens": 16} for i in range(points)],
    )


def test_the_runs_page_tells_a_sweeps_runs_from_manual_ones(owner_client, owner, mlx_config):
    sweep = _sweep(owner, mlx_config)
    items = sweep.item_ids
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        manual = create_run(owner, sweep.dataset_id, mlx_config.pk)
        second = create_run(
            owner,
            sweep.dataset_id,
            mlx_config.pk,
            item_ids=items,
            overrides={"batch_size": 2, "sweep": {"id": sweep.pk, "point": 1}},
        )
    page = owner_client.get("/runs/").content.decode()
    rows = {chunk.split('"', 1)[0]: chunk for chunk in page.split('href="/runs/')[1:]}
    # Stored point 1 is the second point: people count from 1.
    assert f'<a href="/sweeps/{sweep.pk}/">sweep {sweep.pk}</a>, point 2' in rows[f"{second.pk}/"]
    assert "sweep" not in rows[f"{manual.pk}/"].split("</tr>")[0]


def test_a_series_without_a_knee_says_so(owner_client, owner, mlx_config):
    sweep = _sweep(owner, mlx_config)
    page = owner_client.get(f"/sweeps/{sweep.pk}/").content.decode()
    cells = page.split('data-figure="knee">')[1:]
    assert len(cells) == 2
    assert all(cell.split("</td>")[0].endswith("no knee yet</span>") for cell in cells)
