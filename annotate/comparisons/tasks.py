"""Celery tasks of comparisons."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from annotate.comparisons.leaderboard import REFRESH_TASK, recount


@shared_task(name=REFRESH_TASK, ignore_result=True)
def refresh_leaderboard_task(project_id: int) -> None:
    """Recompute a comparison project's leaderboard after new votes."""
    close_old_connections()
    recount(project_id)
