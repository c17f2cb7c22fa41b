"""Celery tasks of datasets."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import close_old_connections, connections

from annotate.datasets.jobs import run_import_job, sweep_import_jobs

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def import_task(job_id: int) -> None:
    """A large upload, imported in the background; its page and GET /api/imports/{id} show
    how far it got. Delivered again after a worker died: run_import_job is safe to repeat."""
    close_old_connections()
    run_import_job(job_id)


@worker_ready.connect
def sweep_imports_at_start(**_) -> None:
    """Each worker, as it starts, ends the imports no worker took (jobs.sweep_import_jobs).
    Never stops the worker from starting; the connection is closed before any fork."""
    try:
        failed, removed = sweep_import_jobs()
        if failed or removed:
            log.info("imports failed without a worker: %s; uploads removed: %s", failed, removed)
    except Exception:
        log.exception("sweeping stale imports failed")
    finally:
        connections.close_all()
