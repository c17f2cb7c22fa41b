"""Celery tasks of comparisons."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def refresh_leaderboard_task(project_id: int) -> None:
    """Recompute a comparison project's leaderboard after new votes."""
    from django.db import close_old_connections

    from annotate.comparisons.leaderboard import refresh

    close_old_connections()
    refresh(project_id)
