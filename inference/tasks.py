"""Celery tasks: thin doorbells around inference.runner."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from inference import runner, watchdog


@shared_task(
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
    queues = [q.name for q in sender.task_consumer.queues] if sender is not None else []
    watchdog.start(getattr(sender, "hostname", "worker"), queues)


@shared_task(acks_late=True, ignore_result=True)
def export_task(export_id: int) -> None:
    """A large export, written in the background; the page shows its progress."""
    from django.db import close_old_connections

    from annotate.exporting import run_export
    from annotate.models import Export, ExportStatus

    close_old_connections()
    export = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).first()
    if export is not None:
        run_export(export)


@shared_task(ignore_result=True)
def refresh_leaderboard_task(project_id: int) -> None:
    """Recompute a comparison project's leaderboard after new votes."""
    from django.db import close_old_connections

    from annotate.leaderboard import refresh

    close_old_connections()
    refresh(project_id)
