"""The doorbell: Celery messages that tell workers a run has work. The database row is the
truth; a message only says "look". Actions, the generation task and the watchdog ring it."""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from inference.models import Run
from inference.workers import online_on

# Rung by name: the task's module imports this one (it rings again when it must wait).
GENERATE_RUN_TASK = "inference.tasks.generate_run_task"


def enqueue_run(run_id: int, countdown: float = 0, queue: str | None = None) -> None:
    """Ring the doorbell after commit, on the queue of the run's backend (looked up unless
    the caller has it)."""
    queue = queue or Run.objects.only("params").get(pk=run_id).queue
    transaction.on_commit(
        lambda: current_app.send_task(
            GENERATE_RUN_TASK, args=(run_id,), queue=queue, countdown=countdown or None
        )
    )


def ring_workers(run: Run) -> int:
    """Start a run's work: one doorbell per worker online on its queue (at least one), so that
    every worker holding the model takes a share; claims are atomic, so no item is done twice.
    Returns how many were rung."""
    n = max(1, online_on(run.queue))
    for _ in range(n):
        enqueue_run(run.pk, queue=run.queue)
    return n
