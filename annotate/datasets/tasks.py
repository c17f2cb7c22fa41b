"""Celery tasks of datasets."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from annotate.datasets.jobs import run_import_job


@shared_task(acks_late=True, ignore_result=True)
def import_task(job_id: int) -> None:
    """A large upload, imported in the background; its page and GET /api/imports/{id} show
    how far it got. Delivered again after a worker died: run_import_job is safe to repeat."""
    close_old_connections()
    run_import_job(job_id)
