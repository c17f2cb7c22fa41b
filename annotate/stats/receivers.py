"""The statistics listen to generation: a run that ends is rolled up by a worker, so the
speed & cost page never aggregates its generations again. Connected in AnnotateConfig.ready()."""

from __future__ import annotations

from celery import current_app
from django.dispatch import receiver

from annotate.stats.models import Sweep
from annotate.stats.rollups import ROLL_UP_TASK
from annotate.stats.sweeps import start_next_point
from inference.models import Run
from inference.signals import run_failed, run_finished


@receiver(run_finished, dispatch_uid="annotate.stats.roll_up_finished_run")
def roll_up_finished_run(sender, run: Run, **kwargs) -> None:
    """Sent after the run's end committed (inference/lifecycle.py)."""
    current_app.send_task(ROLL_UP_TASK, args=(run.pk,), queue="api")


@receiver(run_finished, dispatch_uid="annotate.stats.next_sweep_point")
@receiver(run_failed, dispatch_uid="annotate.stats.next_sweep_point_after_failure")
def start_next_sweep_point(sender, run: Run, **kwargs) -> None:
    """A sweep's point finished or failed: its next one starts (annotate/stats/sweeps.py,
    step 2). Only this receiver listens to run_failed: a failed run's work is not done."""
    if sweep := run.params.get("sweep"):
        try:
            start_next_point(sweep["id"])
        except Exception as exc:  # the creator lost the right, the configuration changed backend
            error = f"The next point did not start: {exc}"
            Sweep.objects.filter(pk=sweep["id"]).update(error=error)
            raise
