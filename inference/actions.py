"""Starting, cancelling, resuming and retrying runs. Views and the API call these."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotate.datasets.models import Dataset
from inference.models import (
    ACTIVE_RUN_STATUSES,
    Generation,
    GenerationStatus,
    ModelConfig,
    Run,
    RunStatus,
)

BULK = 2000


class RunStateError(Exception):
    """The action does not fit the run's state (e.g. resuming a finished run)."""


def enqueue_run(run_id: int, countdown: float = 0) -> None:
    """Ring the doorbell after commit, on the queue of the run's backend."""
    from inference.tasks import generate_run_task

    run = Run.objects.only("params").get(pk=run_id)
    transaction.on_commit(
        lambda: generate_run_task.apply_async(
            (run_id,), queue=run.queue, countdown=countdown or None
        )
    )


def ring_workers(run: Run) -> int:
    """Start a run's work: one doorbell per worker online on its queue (at least one), so that
    every worker holding the model takes a share; claims are atomic, so no item is done twice.
    Returns how many were rung."""
    from annotate.health import workers

    queue = run.queue
    n = max(1, sum(1 for w in workers() if w["online"] and queue in w["queues"]))
    for _ in range(n):
        enqueue_run(run.pk)
    return n


@transaction.atomic
def create_run(dataset: Dataset, config: ModelConfig, user, samples_per_prompt: int = 1) -> Run:
    """A run with one pending generation per item and sample, then its first task."""
    if samples_per_prompt < 1:
        raise ValueError("samples per prompt must be at least 1")
    now = timezone.now()
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        samples_per_prompt=samples_per_prompt,
        params=config.params(),
        created_by=user,
        resumed_at=now,
        last_activity_at=now,
    )
    batch: list[Generation] = []
    total = 0
    for item_id in dataset.items.order_by("index").values_list("pk", flat=True).iterator():
        for sample in range(samples_per_prompt):
            batch.append(Generation(run=run, item_id=item_id, sample_index=sample))
        if len(batch) >= BULK:
            total += len(Generation.objects.bulk_create(batch))
            batch = []
    total += len(Generation.objects.bulk_create(batch))
    run.total = total
    run.save(update_fields=("total",))
    if total:
        ring_workers(run)
    else:
        run._set(status=RunStatus.COMPLETED, finished_at=now)
    return run


@transaction.atomic
def cancel_run(run: Run) -> int:
    """Stop a run: pending generations are cancelled now, running ones by their worker within
    a second. Returns how many were cancelled here."""
    if not run.is_active:
        raise RunStateError(f"Run {run.pk} is {run.get_status_display().lower()}, not running.")
    run.mark_cancelled()
    return Generation.objects.filter(run=run, status=GenerationStatus.PENDING).update(
        status=GenerationStatus.CANCELLED
    )


def _requeue(run: Run, statuses: tuple[str, ...]) -> int:
    moved = Generation.objects.filter(run=run, status__in=statuses).update(
        status=GenerationStatus.PENDING, error=""
    )
    has_work = Generation.objects.filter(run=run, status=GenerationStatus.PENDING).exists()
    if has_work:
        run.mark_requeued()
        ring_workers(run)
    return moved


@transaction.atomic
def resume_run(run: Run) -> int:
    """Continue a cancelled or stalled run: cancelled generations become pending again and a
    worker is asked for. Returns how many were requeued."""
    if run.status not in (RunStatus.CANCELLED, *ACTIVE_RUN_STATUSES):
        raise RunStateError(
            f"Run {run.pk} is {run.get_status_display().lower()}; retry failed items instead."
        )
    from inference.runner import release_expired_leases

    release_expired_leases()
    # A stalled run has pending work, so _requeue rings for it even when nothing was cancelled.
    return _requeue(run, (GenerationStatus.CANCELLED,))


@transaction.atomic
def retry_failed(run: Run) -> int:
    """Generate the failed items of a run again. Returns how many."""
    moved = _requeue(run, (GenerationStatus.FAILED,))
    if not moved:
        raise RunStateError("This run has no failed items.")
    return moved
