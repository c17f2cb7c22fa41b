"""Runs through real `celery worker` processes, on the broker the settings name (the
filesystem transport by default, Redis in CI's second pass)."""

from __future__ import annotations

import os
import signal

import pytest

from annotate.exports.models import Export, ExportStatus
from annotate.health import report
from inference.actions import create_run
from inference.models import (
    Generation,
    GenerationStatus,
    ModelConfig,
    Run,
    RunStatus,
    WorkerHeartbeat,
)
from tests.conftest import make_dataset, make_project, run_status, wait_for
from tests.support.fake_anthropic import FakeAnthropic

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _counts(run: Run) -> dict[str, int]:
    return {s: run.generations.filter(status=s).count() for s in GenerationStatus.values}


def test_a_run_of_20_items_completes_through_a_worker(owner, mlx_config, start_worker):
    start_worker()
    run = create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk)
    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the run to complete")
    gens = list(run.generations.all())
    assert len(gens) == 20
    for g in gens:
        assert g.status == GenerationStatus.DONE
        assert g.output_tokens is not None and g.prompt_tokens is not None
        assert g.ttft_s is not None and g.latency_s is not None
        assert g.finish_reason and g.backend_version and g.machine
        assert g.worker.startswith("w1@")
        assert g.attempts == 1
    assert run.started_at and run.finished_at


def test_a_killed_workers_items_finish_on_the_next_worker_none_lost_none_doubled(
    owner, mlx_config, start_worker
):
    mlx_config.max_tokens = 200
    mlx_config.batch_size = 4
    mlx_config.save()
    first = start_worker("doomed")
    run = create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk)
    running = run.generations.filter(status=GenerationStatus.RUNNING)
    done = run.generations.filter(status=GenerationStatus.DONE)
    # Kill it while it holds items: frozen (SIGSTOP) it cannot finish them between the look
    # and the kill; between two batches it holds none, so let it go on and look again.
    in_flight: set[int] = set()
    while not in_flight:
        wait_for(lambda: done.count() >= 2 and running.exists(), interval=0.05, what="items")
        os.killpg(first.proc.pid, signal.SIGSTOP)
        in_flight = set(running.values_list("pk", flat=True))
        if not in_flight:
            os.killpg(first.proc.pid, signal.SIGCONT)
    first.kill()
    done_before = done.count()
    assert in_flight and done_before < 20

    start_worker("rescuer")
    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the run to complete")
    assert _counts(run)[GenerationStatus.DONE] == 20
    assert Generation.objects.filter(run=run).count() == 20  # one row per item: none doubled
    rescued = run.generations.filter(pk__in=in_flight)
    assert {g.attempts for g in rescued} == {2}
    assert all(g.worker.startswith("rescuer@") for g in rescued)


def test_two_workers_on_one_queue_share_a_run_at_once_none_doubled(owner, mlx_config, start_worker):
    mlx_config.max_tokens = 120
    mlx_config.batch_size = 4
    mlx_config.save()
    start_worker("left", queues="mlx")
    start_worker("right", queues="mlx")
    wait_for(lambda: WorkerHeartbeat.objects.count() == 2, what="both workers' heartbeats")
    run = create_run(owner, make_dataset(owner, 48).pk, mlx_config.pk)
    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the run to complete")
    gens = list(run.generations.all())
    assert len(gens) == 48 and all(g.status == GenerationStatus.DONE for g in gens)
    assert {g.attempts for g in gens} == {1}  # nobody took an item another had
    by_worker = {w: [g for g in gens if g.worker.startswith(f"{w}@")] for w in ("left", "right")}
    assert all(by_worker.values()), {w: len(g) for w, g in by_worker.items()}
    # At the same time, not in turns: some item of one was generated while the other worked.
    assert any(
        a.started_at < b.finished_at and b.started_at < a.finished_at
        for a in by_worker["left"]
        for b in by_worker["right"]
    )


def test_cancel_and_resume_from_the_run_page(owner, owner_client, mlx_config, start_worker):
    mlx_config.max_tokens = 200
    mlx_config.batch_size = 2
    mlx_config.save()
    start_worker()
    run = create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk)
    wait_for(
        lambda: run.generations.filter(status=GenerationStatus.DONE).exists(),
        interval=0.05,
        what="a first output",
    )
    response = owner_client.post(f"/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    wait_for(
        lambda: not run.generations.filter(status=GenerationStatus.RUNNING).exists(),
        what="the worker to let go",
    )
    counts = _counts(run)
    assert run_status(run) == RunStatus.CANCELLED
    assert counts[GenerationStatus.CANCELLED] > 0
    assert counts[GenerationStatus.DONE] + counts[GenerationStatus.CANCELLED] == 20

    owner_client.post(f"/runs/{run.pk}/resume/")
    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the resumed run to complete")
    assert _counts(run)[GenerationStatus.DONE] == 20


def test_a_hosted_run_goes_through_the_api_queue(owner, start_worker, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-worker")
    with FakeAnthropic(api_key="sk-worker", latency=0.2, rate_429=0.2, retry_after=0.05) as api:
        start_worker("api-worker", queues="api")
        config = ModelConfig.objects.create(
            name="haiku",
            backend="anthropic",
            model="claude-haiku-4-5",
            base_url=api.url,
            max_tokens=32,
            concurrency=8,
            owner=owner,
        )
        run = create_run(owner, make_dataset(owner, 24).pk, config.pk)
        wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the hosted run")
        assert api.ledger.max_in_flight == 8
        assert set(api.ledger.completed.values()) == {1} and len(api.ledger.completed) == 24
    assert all(g.worker.startswith("api-worker@") for g in run.generations.all())


def test_a_large_export_runs_in_the_background_with_progress(
    owner, mlx_config, start_worker, settings, client
):

    settings.EXPORT_INLINE_MAX = 2  # anything above two outputs goes to a worker
    project = make_project(owner, mlx_config, n=5)
    start_worker("exporter", queues="api")
    client.force_login(owner)
    response = client.post("/exports/", {"format": "jsonl", "project": project.pk})
    export = Export.objects.get()
    assert response["Location"] == f"/exports/{export.pk}/"
    wait_for(lambda: Export.objects.get().status == ExportStatus.DONE, what="the export")
    export.refresh_from_db()
    assert export.rows == 5 and export.done == export.total == 5
    fragment = client.get(f"/exports/{export.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 286 and "Download" in fragment.content.decode()


def test_workers_report_their_queues_and_the_models_they_hold(owner, mlx_config, start_worker):
    start_worker("reporter", queues="mlx")
    run = create_run(owner, make_dataset(owner, 2).pk, mlx_config.pk)
    wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the run")

    def held() -> list:
        online = [w for w in report()["workers"] if w["hostname"].startswith("reporter@")]
        return online and online[0]["models"]

    models = wait_for(held, timeout=30, what="a heartbeat naming the model")
    assert models == [f"mlx:{mlx_config.model}"]
