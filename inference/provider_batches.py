"""Message Batches mode: a run goes to the provider as batches (half price), which a task
submits, then polls, then collects.

The batch id is stored the moment the provider answers, and the batch's generations stay
leased to it (for longer than a batch may live), so a restarted worker polls the stored
batches again instead of submitting, and paying for, the same items twice. The one window
left: a worker killed between the provider's answer and that first write.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference.backends.base import GenerationResult
from inference.leases import Lease
from inference.lifecycle import fail_run, finish_run_if_done
from inference.models import Generation, GenerationStatus, ProviderBatch, Run, RunStatus

# Anthropic: up to 100,000 requests a batch, done within 24 hours, results kept 29 days.
MAX_BATCH = 100_000
BATCH_LEASE_S = 3 * 24 * 3600

Write = Callable[[Lease, GenerationResult], bool]


def process_batches(run: Run, backend, worker: str, write: Write) -> float | None:
    """One pass over a batch-mode run; returns when to look again (None: finished).

    1. A cancelled run cancels its open batches at the provider.
    2. Each open batch is polled; an ended one has its results written and is closed.
    3. Pending generations are submitted as a new batch.
    """
    if not Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists():
        cancel_batches(run, backend)
        return None
    for batch in run.provider_batches.filter(collected_at__isnull=True):
        poll(batch, backend, worker, write)
    submit_pending(run, backend, worker)
    Run.objects.filter(pk=run.pk).update(last_activity_at=timezone.now())
    if run.provider_batches.filter(collected_at__isnull=True).exists():
        return float(settings.BATCH_POLL_S)
    return 0.0 if finish_run_if_done(run) else None


def submit_pending(run: Run, backend, worker: str) -> ProviderBatch | None:
    lease = Lease(run, worker, lease_s=BATCH_LEASE_S)
    requests = lease.claim(MAX_BATCH)
    if not requests:
        return None
    try:
        batch_id = backend.submit_batch(run.params, requests)
    except Exception as exc:
        # Nothing was submitted: the items go back, and the run says why.
        lease.give_back()
        fail_run(run, f"The batch could not be submitted: {exc}")
        return None
    with transaction.atomic():
        batch = ProviderBatch.objects.create(
            run=run, batch_id=batch_id, size=len(requests), lease_token=lease.token
        )
        lease.held().update(provider_batch=batch)
    return batch


def poll(batch: ProviderBatch, backend, worker: str, write: Write) -> None:
    status = backend.batch_status(batch.batch_id)
    if status != "ended":
        ProviderBatch.objects.filter(pk=batch.pk).update(status=status)
        return
    lease = Lease(batch.run, worker, token=batch.lease_token, lease_s=BATCH_LEASE_S)
    waited = (timezone.now() - batch.submitted_at).total_seconds()
    for result in backend.batch_results(batch.batch_id, waited):
        write(lease, result)
    # Anything the results did not mention failed with the batch.
    lease.held().update(
        status=GenerationStatus.FAILED,
        lease_token=None,
        error="Missing from the batch's results.",
        finished_at=timezone.now(),
    )
    now = timezone.now()
    ProviderBatch.objects.filter(pk=batch.pk).update(status="ended", ended_at=now, collected_at=now)


def cancel_batches(run: Run, backend) -> None:
    for batch in run.provider_batches.filter(collected_at__isnull=True):
        backend.cancel_batch(batch.batch_id)
        Generation.objects.filter(
            lease_token=batch.lease_token, status=GenerationStatus.RUNNING
        ).update(status=GenerationStatus.CANCELLED, lease_token=None, lease_expires_at=None)
        ProviderBatch.objects.filter(pk=batch.pk).update(
            status="canceling", collected_at=timezone.now()
        )
