"""Celery tasks of exports."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from annotate.exports.models import Export, ExportStatus
from annotate.exports.rows import run_export


@shared_task(acks_late=True, ignore_result=True)
def export_task(export_id: int) -> None:
    """A large export, written in the background; the page shows its progress."""
    close_old_connections()
    export = Export.objects.filter(pk=export_id, status=ExportStatus.QUEUED).first()
    if export is not None:
        run_export(export)
