"""Statistics and projections against hand-computed values."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.utils import timezone

from annotate.stats import figures as stats_module
from annotate.stats.figures import model_stats
from annotate.stats.projection import Workload, compare, pareto, project
from annotate.stats.sketch import RELATIVE_ERROR
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig, Price
from inference.pricing import token_cost
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


def measured_run(
    owner, name, backend, model, latencies, tokens=100, machine="box-1", cost="0.001", hourly="0"
):
    config = ModelConfig.objects.create(
        name=name,
        backend=backend,
        model=model,
        owner=owner,
        hourly_usd=None if hourly is None else Decimal(hourly),
    )
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, len(latencies)).pk, config.pk)
    start = timezone.now()
    for g, latency in zip(run.generations.order_by("item__index"), latencies, strict=True):
        g.status, g.output_tokens, g.prompt_tokens = GenerationStatus.DONE, tokens, 50
        g.latency_s, g.ttft_s = latency, latency / 10
        g.decode_tps = (tokens - 1) / (latency - latency / 10)
        g.machine, g.cost_usd, g.concurrency = machine, Decimal(cost), 4
        g.started_at, g.finished_at = start, start + timedelta(seconds=10)
        g.save()
    return config


def test_percentiles_costs_and_sample_sizes_by_hand(owner):
    latencies = [float(x) for x in range(1, 41)]  # 1..40 s
    measured_run(owner, "local", "mlx", "/m", latencies)
    [s] = model_stats()
    assert s.generations == 40 and s.failed == 0
    # Percentiles come from sketches (annotate/stats/sketch.py): within RELATIVE_ERROR.
    within = {"rel": RELATIVE_ERROR}
    assert s.pct["latency_s"][50].value == pytest.approx(np.percentile(latencies, 50), **within)
    assert s.pct["latency_s"][95].value == pytest.approx(np.percentile(latencies, 95), **within)
    assert s.pct["latency_s"][50].n == 40 and not s.pct["latency_s"][50].too_few
    assert s.total_cost == Decimal("0.04")
    assert s.cost_per_query == pytest.approx(0.001)
    assert s.cost_per_m_output == pytest.approx(0.04 * 1e6 / 4000)
    assert s.throughput.value == pytest.approx(4000 / 10)  # all 40 in one 10 s span
    assert s.concurrency == [4] and s.machine == "box-1"


def test_machines_are_not_mixed_and_small_samples_say_so(owner):
    measured_run(owner, "a", "mlx", "/m", [1.0] * 5, machine="mac-studio")
    config = ModelConfig.objects.get(name="a")
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, 3).pk, config.pk)
    run.generations.update(
        status=GenerationStatus.DONE,
        machine="linux-box",
        latency_s=9.0,
        output_tokens=1,
        prompt_tokens=1,
    )
    rows = {s.machine: s for s in model_stats()}
    assert set(rows) == {"mac-studio", "linux-box"}
    assert rows["linux-box"].pct["latency_s"][50].value == pytest.approx(9.0, rel=RELATIVE_ERROR)
    assert rows["mac-studio"].pct["latency_s"][50].too_few


def test_cost_with_cache_tokens_and_the_batch_discount():
    price = Price(
        input_per_mtok=Decimal(3),
        output_per_mtok=Decimal(15),
        cache_read_per_mtok=Decimal("0.30"),
        cache_write_per_mtok=Decimal("3.75"),
        batch_discount=Decimal("0.5"),
    )
    # 1000 prompt tokens of which 600 read from cache and 100 written: 300 fresh.
    cost = token_cost(price, 1000, 200, cache_read=600, cache_write=100)
    assert (
        cost
        == (300 * 3 + Decimal(600) * Decimal("0.30") + 100 * Decimal("3.75") + 200 * 15) / 1_000_000
    )
    assert token_cost(price, 1000, 200, 600, 100, batch=True) == cost / 2


def test_projection_arithmetic_and_the_choices(owner):
    Price.objects.create(
        backend="anthropic",
        model="claude-haiku-4-5",
        input_per_mtok=1,
        output_per_mtok=5,
        effective_from=timezone.localdate(),
    )
    measured_run(owner, "api", "anthropic", "claude-haiku-4-5", [2.0] * 30)
    measured_run(owner, "mac", "mlx", "/m", [10.0] * 30, hourly="0.10")
    stats = {s.name: s for s in model_stats()}
    w = Workload(queries=1000, input_tokens=500, output_tokens=100)
    api = project(stats["api"], w)
    # Times rest on percentiles, sketched within 0.5%: compared within 1%. Prices are exact.
    measured = {"rel": 2 * RELATIVE_ERROR}
    # one at a time: ttft 0.2 s + 99 tokens at 99/1.8 tok/s = 2.0 s a query
    assert api.hours == pytest.approx(1000 * 2.0 / 3600, **measured)
    assert api.cost == pytest.approx(1000 * (500 * 1 + 100 * 5) / 1e6)
    local = project(stats["mac"], w)
    assert local.hours == pytest.approx(1000 * 10.0 / 3600, **measured)
    assert local.cost == pytest.approx(0.10 * 1000 * 10.0 / 3600, **measured)  # $0.28 vs $1.00
    daily = project(stats["mac"], Workload(queries=10_000, output_tokens=100, per_day=True))
    assert not daily.fits  # 10k x 10 s = 27.8 h a day
    assert daily.cost == pytest.approx(0.10 * 24)
    choice = compare(list(stats.values()), w)
    assert choice["fastest"].stats.name == "api" and choice["cheapest"].stats.name == "mac"
    batched = project(stats["mac"], Workload(queries=1000, output_tokens=100, concurrent=True))
    assert batched.hours == pytest.approx(1000 * 100 / (3000 / 10) / 3600, **measured)


def test_an_hourly_price_never_set_is_unknown_and_an_explicit_zero_is_free(owner):
    measured_run(owner, "unset", "mlx", "/m", [1.0] * 30, cost="0", hourly=None)
    measured_run(owner, "free", "mlx", "/m", [10.0] * 30, cost="0", hourly="0")
    measured_run(owner, "paid", "mlx", "/m", [10.0] * 30, hourly="0.10")
    stats = {s.name: s for s in model_stats()}
    w = Workload(queries=1000, input_tokens=500, output_tokens=100)
    unset = project(stats["unset"], w)
    assert unset.unpriced and unset.cost is None
    assert project(stats["free"], w).cost == 0 and not project(stats["free"], w).unpriced
    choice = compare(list(stats.values()), w)
    assert choice["cheapest"].stats.name == "free"
    assert choice["fastest"].stats.name == "unset"  # unknown cost: still the fastest
    del stats["free"]
    assert compare(list(stats.values()), w)["cheapest"].stats.name == "paid"


def test_pareto_keeps_only_undominated_models():
    assert pareto([("a", 1.0, 3.0), ("b", 2.0, 4.0), ("c", 2.5, 3.5), ("d", 0.5, 2.0)]) == {
        "a",
        "b",
        "d",
    }


def test_the_page_the_csv_and_the_api(owner, owner_client):
    measured_run(owner, "local", "mlx", "/m", [float(x) for x in range(1, 31)])
    html = owner_client.get("/stats/?queries=5000&input_tokens=100&output_tokens=100").content
    html = html.decode()
    assert 'data-testid="stats"' in html and "<svg" in html and "n=30" in html
    assert "cheapest" in html
    csv_text = owner_client.get("/stats.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("config_id,model_config")
    assert "local" in csv_text
    rows = owner_client.get("/api/stats").json()
    assert (
        rows[0]["latency_s_p50"] == pytest.approx(15.5, rel=RELATIVE_ERROR)
        and rows[0]["latency_s_n"] == 30
    )


def test_figures_are_computed_once_per_version_of_the_data(owner):
    measured_run(owner, "local", "mlx", "/m", [1.0, 2.0])
    with mock.patch.object(stats_module, "model_stats", wraps=stats_module.model_stats) as spy:
        first = stats_module.cached_model_stats()
        assert stats_module.cached_model_stats()[0].generations == first[0].generations == 2
        assert spy.call_count == 1  # the second call was served from the cache
        measured_run(owner, "other", "mlx", "/m", [3.0])  # new work: a new version
        assert len(stats_module.cached_model_stats()) == 2 and spy.call_count == 2
