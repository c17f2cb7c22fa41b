"""Celery tasks of the statistics."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from annotate.stats.rollups import ROLL_UP_TASK, roll_up_run


@shared_task(name=ROLL_UP_TASK, ignore_result=True)
def roll_up_run_task(run_id: int) -> None:
    """Store a finished run's rollups (annotate/stats/rollups.py): safe to run twice, and
    a lost message costs only the first page's time."""
    close_old_connections()
    roll_up_run(run_id)
