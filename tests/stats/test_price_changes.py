"""A price set after the runs (the "no price — set one" link, then the configuration's form)
counts at once: the statistics are cached per version of the runs and labels, but a
configuration's name and hourly price are read afresh (annotate/stats/figures.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache

from inference.actions import save_model_config
from tests.stats.test_projection_scenarios import MEASURED, TOKENS, csv_rows, measured

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()  # the statistics are cached per version of the data
    yield
    cache.clear()


def test_an_hourly_price_set_after_the_runs_prices_the_projection_at_once(owner, owner_client):
    mac = measured(owner, "mac", "mlx", "/models/qwen")  # no hourly price: cost unknown
    query = f"queries=1000&{TOKENS}"
    assert csv_rows(owner_client, query)["mac"]["cost_usd"] == ""
    page = owner_client.get(f"/stats/?{query}").content.decode()
    assert "no price row and no hourly price" in page

    save_model_config(owner, mac.pk, {"hourly_usd": Decimal("0.60"), "name": "mac-mini"})

    rows = csv_rows(owner_client, query)
    # 1,000 queries x (0.5 + 99 / 49.5 = 2.5 s) = 2,500 s of machine time x $0.60/h = $0.4167.
    assert "mac" not in rows
    assert float(rows["mac-mini"]["cost_usd"]) == pytest.approx(0.41667, rel=MEASURED)
    page = owner_client.get(f"/stats/?{query}").content.decode()
    assert "no price row and no hourly price" not in page
    assert "$0.60/h" in page
