"""Celery tasks of generation: thin doorbells around inference.runner."""

from __future__ import annotations

import gc

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, close_old_connections

from inference import doorbell, runner, watchdog


@shared_task(
    name=doorbell.GENERATE_RUN_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # The database went away (restart, failover, network): try again on a fresh connection
    # within 1, 2, 4 ... 60 s (jittered), rather than leave the run to the watchdog. What the
    # failed try held comes back when its lease runs out.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
)
def generate_run_task(run_id: int, leg: str | None = None) -> None:
    close_old_connections()
    worker = generate_run_task.request.hostname or "worker"
    delay = runner.process_run(run_id, worker=worker, leg=leg)
    if delay is not None:
        doorbell.enqueue_run(run_id, countdown=delay, leg=leg)


@worker_ready.connect
def _freeze_startup_objects(**kwargs) -> None:
    # What start-up built (Django, scipy, pandas: some 200k objects) lives as long as the
    # worker. Frozen, no collection walks it again, the one at exit included: that one took
    # 2-3 s and kept Ctrl+C waiting.
    gc.freeze()


@worker_ready.connect
def _start_watchdog(sender=None, **kwargs) -> None:
    queues = [q.name for q in sender.task_consumer.queues] if sender is not None else []
    watchdog.start(getattr(sender, "hostname", "worker"), queues)
