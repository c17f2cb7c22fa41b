"""Issue 15, item 7: the statistics add up per-run rollups instead of aggregating every
generation. Each figure is checked against a recount straight from the Generation table
(numpy for the percentiles, within the sketch's stated error), with finished and running runs,
several machines, failed generations and unpriced ones; a resumed run's rollup is never read
again; a real worker rolls up a run that ends."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from annotate.stats.figures import PERCENTILES, model_stats
from annotate.stats.models import RunRollup
from annotate.stats.projection import measured_tokens
from annotate.stats.rollups import PERCENTILE_FIELDS
from annotate.stats.sketch import RELATIVE_ERROR
from inference.actions import create_run, retry_failed, save_model_config
from inference.lifecycle import finish_run_if_done, start_run
from inference.models import Generation, GenerationStatus, ModelConfig, Run
from tests.conftest import make_dataset, wait_for

# A boundary value may fall in the next bucket by a rounding of the logarithm.
WITHIN = RELATIVE_ERROR * (1 + 1e-9)


def new_run(owner, config, n: int) -> Run:
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):  # no broker needed here
        return create_run(owner, make_dataset(owner, n).pk, config.pk)


def measure(run: Run, rng, machines=("m1", "m2"), failed=0.1, unpriced=0.2, speed=1.0) -> None:
    """Write what workers would: done generations with lognormal measurements over machines
    (a share failed, a share without a price), some left as they were."""
    start = timezone.now() - timedelta(hours=1)
    gens = list(run.generations.order_by("pk"))
    for k, g in enumerate(gens):
        u = rng.random()
        g.machine = machines[k % len(machines)]
        if u < failed:
            g.status, g.error = GenerationStatus.FAILED, "boom"
            continue
        g.status = GenerationStatus.DONE
        g.prompt_tokens, g.output_tokens = int(rng.integers(5, 500)), int(rng.integers(1, 400))
        g.ttft_s = float(rng.lognormal(-1.5, 0.6)) if k % 7 else 0.0  # a few zeros
        g.decode_tps = float(rng.lognormal(3.5, 0.4)) * speed
        g.latency_s = g.ttft_s + g.output_tokens / g.decode_tps
        if k % 11 == 0:
            g.ttft_s = None  # not measured
        g.cost_usd = None if u > 1 - unpriced else Decimal(f"{rng.random() / 100:.8f}")
        g.backend_version = f"lib {1 + k % 2}.0"
        g.concurrency = (4, 8)[k % 2]
        g.started_at = start + timedelta(seconds=float(rng.random() * 60))
        g.finished_at = g.started_at + timedelta(seconds=g.latency_s)
    Generation.objects.bulk_update(
        gens,
        [
            "status", "error", "machine", "prompt_tokens", "output_tokens", "ttft_s",
            "decode_tps", "latency_s", "cost_usd", "backend_version", "concurrency",
            "started_at", "finished_at",
        ],
    )  # fmt: skip


def finish(run: Run) -> None:
    """End the run as its worker does (inference/lifecycle.py)."""
    Generation.objects.filter(run=run, status=GenerationStatus.PENDING).update(
        status=GenerationStatus.CANCELLED
    )
    start_run(run)
    assert not finish_run_if_done(run)


def recount() -> dict[tuple[int, str], dict]:
    """The figures straight from the Generation table, in Python and numpy."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for g in Generation.objects.select_related("run").filter(
        status__in=(GenerationStatus.DONE, GenerationStatus.FAILED)
    ):
        # A routed run's generation counts under the configuration that served it.
        row = out[(g.served_by_id or g.run.model_config_id, g.machine)]
        row["failed"].append(g.status == GenerationStatus.FAILED)
        if g.status != GenerationStatus.DONE:
            continue
        row["done"].append(g)
        row["runs"].append(g.run_id)
    figures = {}
    for key, row in out.items():
        done = row["done"]
        priced = [g for g in done if g.cost_usd is not None]
        spans = defaultdict(list)
        for g in done:
            spans[g.run_id].append(g)
        per_run = [
            sum(g.output_tokens for g in gs)
            / (max(g.finished_at for g in gs) - min(g.started_at for g in gs)).total_seconds()
            for gs in spans.values()
        ]
        figures[key] = {
            "generations": len(done),
            "failed": sum(row["failed"]),
            "prompt_tokens": sum(g.prompt_tokens for g in done),
            "output_tokens": sum(g.output_tokens for g in done),
            "priced": len(priced),
            "priced_cost": sum((g.cost_usd for g in priced), Decimal(0)) if priced else None,
            "priced_output_tokens": sum(g.output_tokens for g in priced),
            "versions": {g.backend_version for g in done if g.backend_version},
            "concurrency": sorted({g.concurrency for g in done if g.concurrency}),
            "throughput": float(np.median(per_run)) if per_run else None,
            "values": {
                **{
                    f: [getattr(g, f) for g in done if getattr(g, f) is not None]
                    for f in PERCENTILE_FIELDS
                },
                "end_to_end": [
                    g.output_tokens / g.latency_s
                    for g in done
                    if g.latency_s and g.latency_s > 0 and g.output_tokens
                ],
            },
        }
    return figures


def assert_match_recount() -> None:
    measured = Generation.objects.filter(status="done", output_tokens__isnull=False)
    prompts = [t for t in measured.values_list("prompt_tokens", flat=True) if t is not None]
    outputs = list(measured.values_list("output_tokens", flat=True))
    assert measured_tokens() == (
        round(np.mean(prompts)),
        max(round(np.mean(outputs)), 1),
        len(outputs),
    )
    stats = {(s.config_id, s.machine): s for s in model_stats()}
    expected = recount()
    assert set(stats) == set(expected)
    for key, want in expected.items():
        s = stats[key]
        assert s.generations == want["generations"] and s.failed == want["failed"]
        assert s.prompt_tokens == want["prompt_tokens"]
        assert s.output_tokens == want["output_tokens"]
        assert s.priced == want["priced"] and s.priced_cost == want["priced_cost"]
        assert s.priced_output_tokens == want["priced_output_tokens"]
        assert set(s.versions) == want["versions"] and s.concurrency == want["concurrency"]
        assert s.throughput.value == pytest.approx(want["throughput"], rel=1e-9)
        for f in (*PERCENTILE_FIELDS, "end_to_end"):
            values = want["values"][f]
            figures = s.end_to_end if f == "end_to_end" else s.pct[f]
            for p in PERCENTILES:
                assert figures[p].n == len(values)
                if not values:
                    assert figures[p].value is None
                    continue
                want_p = np.percentile(values, p)
                assert figures[p].value == pytest.approx(want_p, rel=WITHIN)


@pytest.mark.django_db
def test_figures_from_rollups_equal_a_recount_from_the_generations(owner):
    rng = np.random.default_rng(7)
    local = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    hosted = ModelConfig.objects.create(name="api", backend="anthropic", model="c", owner=owner)
    for config, speed in ((local, 1.0), (local, 1.5), (hosted, 3.0)):
        run = new_run(owner, config, 120)
        measure(run, rng, speed=speed)
        finish(run)
    going = new_run(owner, hosted, 60)  # still running: counted live, never stored
    measure(going, rng, machines=("m3",), speed=2.0)
    start_run(going)

    assert_match_recount()
    stored = set(RunRollup.objects.values_list("run_id", flat=True))
    assert going.pk not in stored and len(stored) == 3
    assert_match_recount()  # again, from the stored rollups

    measure(going, rng, machines=("m3", "m1"))  # a worker writes more of the running run
    Run.objects.filter(pk=going.pk).update(last_activity_at=timezone.now())  # and renews
    assert_match_recount()


@pytest.mark.django_db
def test_a_retried_run_drops_its_rollup_and_the_figures_stay_right(owner):
    rng = np.random.default_rng(8)
    config = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    run = new_run(owner, config, 80)
    measure(run, rng, failed=0.3)
    finish(run)
    assert_match_recount()
    old = model_stats()[0].generations

    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        retried = retry_failed(owner, run.pk)
    assert retried and old < 80
    assert_match_recount()  # the run is going again: live, its old rollup not read
    failed = list(run.generations.filter(status=GenerationStatus.PENDING))
    for g in failed:
        g.status, g.machine, g.error = GenerationStatus.DONE, "m9", ""
        g.prompt_tokens, g.output_tokens, g.latency_s, g.decode_tps = 10, 20, 2.5, 9.0
        g.started_at = timezone.now() - timedelta(seconds=30)
        g.finished_at = timezone.now()
    Generation.objects.bulk_update(
        failed,
        ["status", "machine", "error", "prompt_tokens", "output_tokens", "latency_s",
         "decode_tps", "started_at", "finished_at"],
    )  # fmt: skip
    finish(run)
    assert_match_recount()
    assert sum(s.generations for s in model_stats()) == 80
    assert "m9" in set(RunRollup.objects.filter(run=run).values_list("machine", flat=True))


@pytest.mark.django_db
def test_percentiles_of_tiny_and_odd_samples(owner):
    """One value, two values (interpolated as percentile_cont does), equal values, zeros."""
    config = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    for latencies in ([3.0], [1.0, 100.0], [0.25] * 5, [0.0, 0.0, 2.0]):
        run = new_run(owner, config, len(latencies))
        for g, latency in zip(run.generations.order_by("pk"), latencies, strict=True):
            g.status, g.latency_s, g.output_tokens, g.prompt_tokens = "done", latency, 1, 1
            g.save()
        finish(run)
        [s] = model_stats(run_ids=[run.pk])
        for p in PERCENTILES:
            want = np.percentile(latencies, p)
            assert s.pct["latency_s"][p].value == pytest.approx(want, rel=WITHIN, abs=1e-12)
        assert s.pct["ttft_s"][50].value is None and s.pct["ttft_s"][50].n == 0


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_rolls_up_a_run_that_ends(owner, start_worker):
    config = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    run = new_run(owner, config, 30)
    measure(run, np.random.default_rng(9))
    start_worker(queues="api")
    finish(run)  # committed: the run announces its end, a worker rolls it up
    wait_for(lambda: RunRollup.objects.filter(run=run).exists(), what="the run's rollup")
    assert set(RunRollup.objects.filter(run=run).values_list("machine", flat=True)) == {"m1", "m2"}
    assert_match_recount()


@pytest.mark.django_db
def test_the_command_rolls_up_finished_runs_before_any_page(owner):
    config = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    run = new_run(owner, config, 40)
    measure(run, np.random.default_rng(10))
    finish(run)
    assert not RunRollup.objects.exists()  # finished before rollups existed, as on upgrade
    out = io.StringIO()
    call_command("roll_up_runs", stdout=out)
    assert "Runs rolled up: 1 " in out.getvalue()
    assert set(RunRollup.objects.filter(run=run).values_list("machine", flat=True)) == {"m1", "m2"}
    assert_match_recount()


@pytest.mark.django_db
def test_a_routed_run_counts_under_the_configuration_that_served_each_output(owner, owner_client):
    """Issue 18, item 1: a hybrid run's local and API legs are two rows, never pooled."""
    rng = np.random.default_rng(9)
    local = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    hosted = ModelConfig.objects.create(name="api", backend="anthropic", model="c", owner=owner)
    fields = {"name": "hybrid", "backend": "mlx", "model": "-", "route_share": 0.25}
    hybrid = save_model_config(
        owner, None, {**fields, "route_primary": local, "route_fallback": hosted}
    )
    run = new_run(owner, hybrid, 80)
    measure(run, rng, machines=("m1",), failed=0.0)
    measure_leg = Generation.objects.filter(run=run, served_by=hosted)
    measure_leg.update(decode_tps=500.0, cost_usd=Decimal("0.002"))  # the API: fast, paid
    finish(run)

    assert_match_recount()  # from live figures, then from the stored rollups
    assert_match_recount()
    by_name = {s.name: s for s in model_stats()}
    assert set(by_name) == {"local", "api"}  # the routed configuration is no row of its own
    for config in (local, hosted):
        done = Generation.objects.filter(run=run, served_by=config, status="done")
        assert by_name[config.name].generations == done.count()
    assert by_name["api"].generations == 20 and by_name["local"].generations == 60
    assert by_name["api"].pct["decode_tps"][50].value == pytest.approx(500.0, rel=WITHIN)
    assert by_name["api"].priced_cost == Decimal("0.002") * 20
    # Scoped to one leg's configuration, only that leg.
    assert [s.name for s in model_stats(config_ids=[hosted.pk])] == ["api"]
    # Scoped to the routed configuration, both its legs.
    assert {s.name for s in model_stats(config_ids=[hybrid.pk])} == {"api", "local"}

    rows = {r["model_config"]: r for r in owner_client.get("/api/stats").json()}
    assert {n: r["generations"] for n, r in rows.items()} == {"api": 20, "local": 60}
    html = owner_client.get("/stats/").content.decode()
    table = html.split('data-testid="stats"')[1].split("</table>")[0]
    names_and_counts = re.findall(
        r"<strong>(\w+)</strong>.*?<td class=\"num\">(\d+)</td>", table, re.S
    )
    assert sorted(names_and_counts) == [("api", "20"), ("local", "60")]
