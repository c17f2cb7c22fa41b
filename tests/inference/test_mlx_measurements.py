"""What MLX users read (issue 18, item 4): prefill tokens/s and the worker's peak memory per
generation, load time, size, quantization and KV cache per worker and model, checked against
mlx-lm's own inputs and recounted from the database where the statistics and exports show
them. Hosted generations leave prefill and memory empty."""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.utils import timezone
from mlx.utils import tree_flatten
from mlx_lm import load

from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.stats.models import RunRollup
from inference.actions import create_run
from inference.backends import model_facts
from inference.models import (
    Generation,
    GenerationStatus,
    ModelConfig,
    Run,
    RunStatus,
    WorkerHeartbeat,
)
from inference.runner import process_run
from inference.watchdog import heartbeat
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db
BatchGenerator = sys.modules["mlx_lm.generate"].BatchGenerator


@pytest.fixture(autouse=True)
def _fresh_figures():
    cache.clear()  # the statistics are cached per version of the data


@pytest.fixture
def inserted(monkeypatch):
    """Every prompt the backend hands mlx-lm, as token ids."""
    prompts: list[list[int]] = []
    insert = BatchGenerator.insert

    def recording_insert(self, batch, *args, **kwargs):
        prompts.extend(list(p) for p in batch)
        return insert(self, batch, *args, **kwargs)

    monkeypatch.setattr(BatchGenerator, "insert", recording_insert)
    return prompts


def run_of(owner, config, n, capture):
    with capture(execute=False):  # no broker: the task's body runs here
        run = create_run(owner, make_dataset(owner, n).pk, config.pk)
    assert process_run(run.pk, worker="test") is None
    return run


def stats_row(client, config_id: int) -> dict:
    [row] = [r for r in client.get("/api/stats").json() if r["config_id"] == config_id]
    return row


def test_prefill_and_peak_memory_per_generation(
    owner, owner_client, mlx_config, inserted, django_capture_on_commit_callbacks
):
    run = run_of(owner, mlx_config, 12, django_capture_on_commit_callbacks)
    model, _ = load(mlx_config.model)
    # The model's own arrays are in memory all along: the peak cannot be below them.
    weights_mb = sum(v.nbytes for _, v in tree_flatten(model.parameters())) / 1e6
    gens = list(run.generations.all())
    lengths = sorted(len(p) for p in inserted)
    assert sorted(g.prompt_tokens for g in gens) == lengths
    for g in gens:
        assert g.status == GenerationStatus.DONE
        # Prompt tokens (what mlx-lm was given) over the time to the first token.
        assert g.prefill_tps * g.ttft_s == pytest.approx(g.prompt_tokens, rel=1e-9)
        assert weights_mb <= g.peak_memory_mb < 1000
        api = owner_client.get(f"/api/generations/{g.pk}").json()
        assert (api["prefill_tps"], api["peak_memory_mb"]) == (g.prefill_tps, g.peak_memory_mb)
    page = owner_client.get(f"/generations/{gens[0].pk}/").content.decode()
    shown = re.search(r"<dt>Prefill tokens/s</dt><dd>([\d.]+)</dd>", page)[1]
    assert float(shown) == pytest.approx(gens[0].prefill_tps, abs=0.051)

    # The statistics: percentiles recounted by numpy from the rows, within the sketches' 0.5%.
    row = stats_row(owner_client, mlx_config.pk)
    for name in ("prefill_tps", "peak_memory_mb"):
        values = [getattr(g, name) for g in gens]
        assert row[f"{name}_n"] == len(values)
        for p in (50, 95):
            assert row[f"{name}_p{p}"] == pytest.approx(np.percentile(values, p), rel=0.006)
    page = owner_client.get("/stats/").content.decode()
    cell = re.search(r'data-figure="prefill">(.*?)</td>', page, re.S)[1]
    assert "tok/s" in cell and "n=12" in cell
    cell = re.search(r'data-figure="peak-memory">(.*?)</td>', page, re.S)[1]
    assert "MB" in cell and "n=12" in cell

    # The exports: the same figures, column by column.
    done = run_export(Export.objects.create(owner=owner, format="csv", filters={"run": run.pk}))
    table = list(csv.DictReader(io.StringIO(Path(done.path).read_text(encoding="utf-8"))))
    by_id = {g.pk: g for g in gens}
    assert len(table) == 12
    for r in table:
        g = by_id[int(r["id"])]
        assert float(r["prefill_tps"]) == pytest.approx(g.prefill_tps, rel=1e-12)
        assert float(r["peak_memory_mb"]) == pytest.approx(g.peak_memory_mb, rel=1e-12)


def test_the_worker_tells_load_time_size_quantization_and_kv_cache(
    owner, owner_client, mlx_config, demo_model_path, django_capture_on_commit_callbacks
):
    run_of(owner, mlx_config, 2, django_capture_on_commit_callbacks)
    heartbeat("w-facts", ["mlx"])
    [facts] = [f for f in model_facts() if f["model"] == mlx_config.model]
    on_disk = sum(f.stat().st_size for f in Path(demo_model_path).glob("*.safetensors"))
    assert facts["weights_bytes"] == on_disk > 0
    assert facts["bits"] is None  # the demo model is not quantized
    assert facts["load_s"] > 0 and facts["cold"] is False and facts["last_used"]
    assert facts["kv_cache"] == "KVCache" and facts["max_kv_size"] is None
    page = owner_client.get("/health/models/").content.decode()
    assert "w-facts" in page and f'data-bytes="{on_disk}"' in page
    assert "not quantized" in page and "unbounded" in page

    # The statistics tell them beside the figures the model's outputs were measured with.
    row = stats_row(owner_client, mlx_config.pk)
    assert row["weights_mb"] == round(on_disk / 1e6, 1)
    assert (row["bits"], row["group_size"], row["load"]) == (None, None, "warm")
    assert row["load_s"] == facts["load_s"] and row["kv_cache"] == "KVCache"
    page = owner_client.get("/stats/").content.decode()
    cell = re.search(r'data-figure="model-facts">(.*?)</td>', page, re.S)[1]
    assert "not quantized" in cell and "warm: from disk" in cell and "KVCache" in cell
    # A later load of a quantized build on the same machine (another worker) is what counts.
    later = {**facts, "bits": 4, "group_size": 64, "loaded_at": facts["loaded_at"] + 60}
    WorkerHeartbeat.objects.create(hostname="w-later", machine=row["machine"], model_facts=[later])
    row = stats_row(owner_client, mlx_config.pk)
    assert (row["bits"], row["group_size"]) == (4, 64)
    cell = re.search(
        r'data-figure="model-facts">(.*?)</td>', owner_client.get("/stats/").content.decode(), re.S
    )[1]
    assert "4-bit, group 64" in cell


def test_hosted_generations_leave_prefill_and_memory_empty(owner, owner_client):
    """A hosted API reports no prefill split: the statistics show none, never a made-up one."""
    dataset = make_dataset(owner, 3)
    config = ModelConfig.objects.create(
        name="api", backend="anthropic", model="claude-x", owner=owner
    )
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=config.params(),
        status=RunStatus.COMPLETED,
        total=3,
        created_by=owner,
        finished_at=timezone.now(),
    )
    Generation.objects.bulk_create(
        Generation(
            run=run,
            item=item,
            status=GenerationStatus.DONE,
            output="x",
            prompt_tokens=40,
            output_tokens=20,
            ttft_s=0.5,
            latency_s=1.5,
            decode_tps=19.0,
            machine="api",
        )
        for item in dataset.items.all()
    )
    row = stats_row(owner_client, config.pk)
    assert row["ttft_s_n"] == 3
    assert row["prefill_tps_n"] == 0 and row["prefill_tps_p50"] is None
    assert row["peak_memory_mb_n"] == 0 and row["peak_memory_mb_p50"] is None
    page = owner_client.get("/stats/").content.decode()
    cell = re.search(r'data-figure="prefill">(.*?)</td>', page, re.S)[1]
    assert "—" in cell and "tok/s" not in cell


def test_a_rollup_stored_before_prefill_existed_is_computed_again(
    owner, owner_client, mlx_config, django_capture_on_commit_callbacks
):
    run = run_of(owner, mlx_config, 4, django_capture_on_commit_callbacks)
    assert stats_row(owner_client, mlx_config.pk)["prefill_tps_n"] == 4
    [rollup] = RunRollup.objects.filter(run=run)
    # As an older version of Annotate stored it: no sketch of the new measurements.
    rollup.sketches = {
        k: v for k, v in rollup.sketches.items() if k not in ("prefill_tps", "peak_memory_mb")
    }
    rollup.save()
    cache.clear()
    row = stats_row(owner_client, mlx_config.pk)
    assert row["prefill_tps_n"] == 4 and row["peak_memory_mb_n"] == 4
    assert "prefill_tps" in RunRollup.objects.get(run=run).sketches
