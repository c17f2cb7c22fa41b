"""Celery tasks: thin doorbells around inference.runner."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from inference import runner, watchdog


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def generate_run_task(run_id: int) -> None:
    from django.db import close_old_connections

    close_old_connections()
    worker = generate_run_task.request.hostname or "worker"
    delay = runner.process_run(run_id, worker=worker)
    if delay is not None:
        from annotate.runs import enqueue_run

        enqueue_run(run_id, countdown=delay)


@worker_ready.connect
def _start_watchdog(sender=None, **kwargs) -> None:
    watchdog.start()
