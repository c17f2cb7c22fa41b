"""Labeling listens to generation: a finished run's outputs join the projects that take it.
Connected in AnnotateConfig.ready()."""

from __future__ import annotations

from django.dispatch import receiver

from annotate.labeling.kinds import sync_tasks
from inference.models import Run
from inference.signals import run_finished


@receiver(run_finished, dispatch_uid="annotate.labeling.add_finished_outputs")
def add_finished_outputs(sender, run: Run, **kwargs) -> None:
    """Each project taking the run gets a task for each of its new outputs."""
    for project in run.projects.all():
        sync_tasks(project)
