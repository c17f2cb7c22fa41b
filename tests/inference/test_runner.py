"""The generation task's body, run in this process on the demo model."""

from __future__ import annotations

import pytest
from django.utils import timezone

from inference.actions import cancel_run, create_run, resume_run, retry_failed
from inference.backends.base import GenerationResult
from inference.leases import Lease, release_expired_leases
from inference.models import Generation, GenerationStatus, RunStatus
from inference.runner import process_run, write_result
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(owner, mlx_config, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no broker: we run the body here
        return create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk)


def test_a_run_fills_every_measurement(run):
    assert run.total == 20
    assert process_run(run.pk, worker="test") is None
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    gens = list(run.generations.all())
    assert {g.status for g in gens} == {GenerationStatus.DONE}
    for g in gens:
        assert g.output_tokens and g.output_tokens <= 24
        assert g.prompt_tokens > 5
        assert g.finish_reason in ("stop", "length")
        assert 0 < g.ttft_s <= g.latency_s
        assert g.output_tokens < 2 or g.decode_tps > 0
        assert g.concurrency >= 1 and g.attempts == 1
        assert g.backend_version.startswith("mlx-lm ")
        assert g.machine and g.worker == "test"
        assert g.cost_usd is None  # no hourly price set: unknown, not free
    assert sum(bool(g.output.strip()) for g in gens) >= 15
    progress = run.progress()
    assert progress.done == 20 and progress.percent == 100
    assert progress.tokens_per_s > 0


def test_two_samples_per_prompt_give_two_generations_each(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk, samples_per_prompt=2)
    process_run(run.pk, worker="test")
    pairs = sorted(run.generations.values_list("item__index", "sample_index"))
    assert pairs == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]


def test_two_leases_never_claim_the_same_generation(run):
    first, second = Lease(run, "a"), Lease(run, "b")
    a = {r.key for r in first.claim(12)}
    b = {r.key for r in second.claim(12)}
    assert len(a) == 12 and len(b) == 8
    assert not a & b


def test_a_lost_lease_cannot_write(run):
    lease = Lease(run, "slow")
    [request] = lease.claim(1)
    Generation.objects.filter(pk=request.key).update(lease_expires_at=timezone.now())
    assert release_expired_leases() == 1
    assert not write_result(lease, GenerationResult(key=request.key, output="late"), "v")
    g = Generation.objects.get(pk=request.key)
    assert g.status == GenerationStatus.PENDING and g.output == ""


def test_a_generation_that_kills_every_worker_fails_instead_of_looping(run, settings):
    lease = Lease(run, "doomed")
    [request] = lease.claim(1)
    Generation.objects.filter(pk=request.key).update(
        attempts=settings.MAX_ATTEMPTS, lease_expires_at=timezone.now()
    )
    release_expired_leases()
    g = Generation.objects.get(pk=request.key)
    assert g.status == GenerationStatus.FAILED
    assert "worker stopped" in g.error


def test_cancel_stops_the_work_and_failed_items_can_be_retried(run):
    cancel_run(run.created_by, run.pk)
    assert process_run(run.pk, worker="test") is None
    assert run.generations.filter(status=GenerationStatus.CANCELLED).count() == 20
    Generation.objects.filter(pk=run.generations.first().pk).update(status=GenerationStatus.FAILED)
    run.refresh_from_db()
    assert retry_failed(run.created_by, run.pk) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_items_in_flight_when_a_run_is_resumed_are_done_not_left_cancelled(
    run, django_capture_on_commit_callbacks
):
    """Cancel, then Resume while the worker still holds a batch: what it gives back after
    the resume goes back to the queue, and the run ends with every item generated."""
    lease = Lease(run, "slow")
    first, second, _third = lease.claim(3)
    cancel_run(run.created_by, run.pk)
    write_result(lease, GenerationResult(key=first.key, cancelled=True), "v")  # before resume
    with django_capture_on_commit_callbacks(execute=False):
        assert resume_run(run.created_by, run.pk) == 18
    write_result(lease, GenerationResult(key=second.key, cancelled=True), "v")  # after it
    lease.give_back()
    statuses = set(run.generations.values_list("status", flat=True))
    assert statuses == {GenerationStatus.PENDING}
    assert process_run(run.pk, worker="test") is None
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.generations.filter(status=GenerationStatus.DONE).count() == 20


def test_a_missing_model_fails_the_run_at_start_and_uses_no_item(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    mlx_config.model = "/nonexistent/model"
    mlx_config.save()
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk)
    process_run(run.pk, worker="test")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "No MLX model at /nonexistent/model" in run.error
    assert set(run.generations.values_list("attempts", flat=True)) == {0}
