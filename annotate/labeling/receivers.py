"""Labeling listens to generation: a finished run's outputs join the projects that take it;
a project whose runs change recomputes what blind mode shows. Connected in
AnnotateConfig.ready()."""

from __future__ import annotations

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from annotate.labeling.blind import refresh_shared_system_prompt
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project
from inference.models import Run
from inference.signals import run_finished


@receiver(run_finished, dispatch_uid="annotate.labeling.add_finished_outputs")
def add_finished_outputs(sender, run: Run, **kwargs) -> None:
    """Each project taking the run gets a task for each of its new outputs."""
    for project in run.projects.all():
        sync_tasks(project)


@receiver(m2m_changed, sender=Project.runs.through, dispatch_uid="annotate.labeling.runs_changed")
def refresh_blind_prompt(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A run added to or taken off a project (from either side) may change the system prompt
    its blind pages show."""
    if action == "pre_clear" and reverse:  # the run's projects, before they are gone
        instance._cleared_projects = list(instance.projects.values_list("pk", flat=True))
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        refresh_shared_system_prompt([instance.pk])
        instance.shown_system_prompt = None  # this copy computes it anew when it needs it
    else:
        refresh_shared_system_prompt(
            instance.__dict__.pop("_cleared_projects", []) if pk_set is None else pk_set
        )
