"""Speed sweeps (issue 18 item 5): a sample of a dataset through a configuration at several
batch sizes (or concurrencies) and max-token limits, one ordinary run a point, one after
another, charted as throughput against latency with the knee marked. Figures are recounted
here from the generations with the standard library, never with annotate/stats/sweeps.py."""

from __future__ import annotations

import io
import json
import statistics

import pytest
from django.core.management import CommandError, call_command

from annotate.stats.models import Sweep
from annotate.stats.sweeps import SweepPoint, mark_knees
from inference.models import Generation, GenerationStatus, ModelConfig, Run, RunStatus
from tests.conftest import make_dataset, wait_for
from tests.support.fake_openai import FakeOpenAI


def _points(max_tokens: int, rows: list[tuple[int, float, float]]) -> list[SweepPoint]:
    return [SweepPoint(i, n, max_tokens, None, 1, tps, p50) for i, (n, tps, p50) in enumerate(rows)]


def _knees(points: list[SweepPoint]) -> list[int]:
    mark_knees(points)
    return [p.in_flight for p in points if p.knee]


def test_the_knee_is_the_last_point_before_a_doubling_gains_under_ten_percent():
    # 1 → 2: +80%; 2 → 4: +5.6% while the median latency grows: the knee is at 2.
    assert _knees(_points(64, [(1, 100, 1.0), (2, 180, 1.1), (4, 190, 1.5), (8, 195, 2.5)])) == [2]


def test_the_knee_counts_gain_per_doubling_not_per_step():
    # 1 → 4 is two doublings: +15% in all is +7.2% a doubling, under 10%.
    assert _knees(_points(64, [(1, 100, 1.0), (4, 115, 2.0)])) == [1]
    # 1 → 4 with +25% in all is +11.8% a doubling: still worth it, no knee.
    assert _knees(_points(64, [(1, 100, 1.0), (4, 125, 2.0)])) == []


def test_no_knee_while_throughput_grows_or_latency_does_not():
    assert _knees(_points(64, [(1, 100, 1.0), (2, 150, 1.1), (4, 220, 1.2)])) == []
    # A flat step that made no request slower is no knee.
    assert _knees(_points(64, [(1, 100, 1.0), (2, 101, 0.9)])) == []
    assert _knees(_points(64, [(4, 100, 1.0)])) == []


def test_each_max_tokens_limit_has_its_own_knee():
    points = _points(16, [(1, 100, 0.2), (2, 105, 0.3)]) + _points(
        64, [(1, 100, 1.0), (2, 190, 1.1), (4, 195, 2.0)]
    )
    mark_knees(points)
    assert [(p.max_tokens, p.in_flight) for p in points if p.knee] == [(16, 1), (64, 2)]


# --- the action: who may, and bad input ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        ({"in_flight": []}, "at least one batch size or concurrency"),
        ({"in_flight": [0, 4]}, "between 1 and 256"),
        ({"max_tokens": list(range(1, 11))}, "At most 8 values of max tokens"),
        ({"sample_size": 0}, ""),
        ({"unknown": 1}, ""),
    ],
)
def test_bad_input_is_refused_and_nothing_starts(owner_client, owner, mlx_config, change, message):
    dataset = make_dataset(owner, 5)
    body = {"dataset_id": dataset.pk, "model_config_id": mlx_config.pk}
    body |= {"in_flight": [1, 4], "max_tokens": [8], **change}
    response = owner_client.post("/api/sweeps", json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Sweep.objects.exists() and not Run.objects.exists()


@pytest.mark.django_db
def test_the_form_says_what_is_wrong_and_keeps_what_was_typed(owner_client, owner, mlx_config):
    dataset = make_dataset(owner, 5)
    response = owner_client.post(
        "/sweeps/new/",
        {
            "dataset": dataset.pk,
            "model_config": mlx_config.pk,
            "in_flight": "1, four",
            "max_tokens": "8",
            "sample_size": 3,
            "seed": 0,
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Whole numbers, separated by commas." in page and 'value="1, four"' in page
    assert not Sweep.objects.exists()


@pytest.mark.django_db
def test_people_who_do_not_manage_cannot_start_one(client, annotator, owner, mlx_config):
    dataset = make_dataset(owner, 5)
    client.force_login(annotator)
    body = {"dataset_id": dataset.pk, "model_config_id": mlx_config.pk}
    body |= {"in_flight": [1], "max_tokens": [8]}
    response = client.post("/api/sweeps", json.dumps(body), content_type="application/json")
    assert response.status_code == 403
    assert not Sweep.objects.exists()


# --- real workers -----------------------------------------------------------------------------


def _recount(run: Run) -> tuple[float, float, float]:
    """Throughput (output tokens over first start → last finish), p50 and p95 latency."""
    done = list(run.generations.filter(status=GenerationStatus.DONE))
    span = max(g.finished_at for g in done) - min(g.started_at for g in done)
    tokens = sum(g.output_tokens for g in done)
    cuts = statistics.quantiles([g.latency_s for g in done], n=100, method="inclusive")
    return tokens / span.total_seconds(), cuts[49], cuts[94]


def _sweep_to_end(client, body: dict) -> dict:
    response = client.post("/api/sweeps", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    sweep_id = response.json()["id"]

    def finished():
        got = client.get(f"/api/sweeps/{sweep_id}").json()
        return got if got["progress"]["finished"] == got["progress"]["points"] else None

    return wait_for(finished, timeout=180, interval=0.5, what="every point of the sweep")


def _check_sweep(client, sweep: dict, key: str, in_flight: list[int], max_tokens: list[int]):
    row = Sweep.objects.get(pk=sweep["id"])
    assert {(p["in_flight"], p["max_tokens"]) for p in sweep["points"]} == {
        (n, m) for n in in_flight for m in max_tokens
    }
    runs = []
    for point in sweep["points"]:
        run = Run.objects.get(pk=point["run"])
        runs.append(run)
        assert run.status == RunStatus.COMPLETED
        assert run.params[key] == point["in_flight"]
        assert run.params["max_tokens"] == point["max_tokens"]
        items = set(run.generations.values_list("item_id", flat=True))
        assert items == set(row.item_ids) and len(items) == sweep["sample_size"]
        gens = run.generations.all()
        assert all(g.output_tokens <= point["max_tokens"] for g in gens)
        assert all(g.concurrency <= point["in_flight"] for g in gens)
        tps, p50, p95 = _recount(run)
        assert point["done"] == len(items)
        assert point["tokens_per_s"] == pytest.approx(tps, rel=1e-9)
        assert point["p50_latency_s"] == pytest.approx(p50, rel=1e-9)
        assert point["p95_latency_s"] == pytest.approx(p95, rel=1e-9)
    # One after another: each run started after the one before it finished.
    runs.sort(key=lambda r: r.started_at)
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.started_at >= before.finished_at
    # Ordinary runs: the speed & cost figures count every one of their outputs.
    stats = client.get(f"/api/stats?config={row.model_config_id}").json()
    done = Generation.objects.filter(run__in=runs, status=GenerationStatus.DONE)
    assert sum(r["generations"] for r in stats) == done.count() == len(row.item_ids) * len(runs)
    assert sum(r["output_tokens"] for r in stats) == sum(g.output_tokens for g in done)
    page = client.get(f"/sweeps/{row.pk}/").content.decode()
    for run in runs:
        assert f"run {run.pk}" in page
    assert 'id="sweep-data"' in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sweep_of_the_demo_model_runs_each_point_in_turn_through_a_worker(
    owner_client, owner, mlx_config, start_worker
):
    start_worker(queues="mlx,api")
    dataset = make_dataset(owner, 12)
    body = {"dataset_id": dataset.pk, "model_config_id": mlx_config.pk}
    body |= {"in_flight": [1, 4], "max_tokens": [8, 16], "sample_size": 5, "seed": 3}
    sweep = _sweep_to_end(owner_client, body)
    _check_sweep(owner_client, sweep, "batch_size", [1, 4], [8, 16])


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sweep_of_an_api_runs_at_each_concurrency(owner_client, owner, start_worker):
    with FakeOpenAI(api_key="sk-sweep") as server:
        config = ModelConfig.objects.create(
            name="api",
            backend="openai",
            model="gpt-4o-mini",
            base_url=server.base_url,
            api_key_env="OPENAI_TEST_KEY",
            max_tokens=32,
            concurrency=8,
            owner=owner,
        )
        start_worker(queues="api", env={"OPENAI_TEST_KEY": "sk-sweep"})
        dataset = make_dataset(owner, 10)
        body = {"dataset_id": dataset.pk, "model_config_id": config.pk}
        body |= {"in_flight": [1, 4], "max_tokens": [12], "sample_size": 8, "seed": 1}
        sweep = _sweep_to_end(owner_client, body)
    _check_sweep(owner_client, sweep, "concurrency", [1, 4], [12])


@pytest.mark.django_db
def test_the_command_starts_the_same_sweep_and_explains_a_refusal(owner, mlx_config):
    dataset = make_dataset(owner, 6)
    args = ["sweep", f"--dataset={dataset.pk}", f"--config={mlx_config.pk}", "--user=owner"]
    with pytest.raises(CommandError, match="between 1 and 256"):
        call_command(*args, "--in-flight=0", "--max-tokens=8")
    assert not Sweep.objects.exists()
    out = io.StringIO()
    call_command(*args, "--in-flight=1,4", "--max-tokens=8", "--sample=3", stdout=out)
    sweep = Sweep.objects.get()
    assert "Sweep" in out.getvalue() and len(sweep.item_ids) == 3
    first = Run.objects.get()  # the first point only: the next waits for it
    assert first.params["batch_size"] == 1 and first.params["max_tokens"] == 8
    assert set(first.generations.values_list("item_id", flat=True)) == set(sweep.item_ids)


@pytest.mark.django_db
def test_the_dataset_page_links_to_the_form_with_the_dataset_chosen(owner_client, owner):
    dataset = make_dataset(owner, 3)
    page = owner_client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert f'href="/sweeps/new/?dataset={dataset.pk}"' in page
    form = owner_client.get(f"/sweeps/new/?dataset={dataset.pk}").content.decode()
    assert f'<option value="{dataset.pk}" selected>' in form
