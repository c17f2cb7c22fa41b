"""Blind mode: what an annotator of a blind project sees of a task, and nothing that tells
which model wrote an output. Model and configuration names are left out where they are
shown (the pages and the API check `project.blind`); a task is named by its random number
(Task.number); this module picks the prompt shown above the output(s)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from annotate.labeling.models import Project, Task
from inference.models import Run
from inference.prompts import build_messages


def candidate_runs(project: Project):
    """Every run whose outputs the project's annotators may see: those attached to it, and
    those its tasks came from (a run taken off keeps its tasks)."""
    tasks = Task.objects.filter(project=project)
    return Run.objects.filter(
        Q(projects=project)
        | Q(pk__in=tasks.values("generation__run_id"))
        | Q(pk__in=tasks.filter(generation_b__isnull=False).values("generation_b__run_id"))
    ).distinct()


def shared_system_prompt(project: Project) -> str:
    """The system prompt all the project's candidate runs were given, or "" when they
    differ: a prompt that only some configurations send would name them. Stored on the
    project (recomputed when its runs change), so a page reads no run."""
    if project.shown_system_prompt is None:
        prompt = _candidates_prompt(project)
        # Only where still unset: a change of runs meanwhile has stored its own, newer value.
        Project.objects.filter(pk=project.pk, shown_system_prompt__isnull=True).update(
            shown_system_prompt=prompt
        )
        project.shown_system_prompt = prompt
    return project.shown_system_prompt


def refresh_shared_system_prompt(project_ids) -> None:
    """Recompute the stored system prompt of these projects (their runs changed), each row
    locked meanwhile so that two changes at once store the later one's view."""
    with transaction.atomic():
        for project in Project.objects.select_for_update().filter(pk__in=project_ids):
            project.shown_system_prompt = _candidates_prompt(project)
            project.save(update_fields=("shown_system_prompt",))


def _candidates_prompt(project: Project) -> str:
    prompts = [
        (params or {}).get("system_prompt") or ""
        for params in candidate_runs(project).values_list("params", flat=True)
    ]
    # A run restored from someone's file may hold anything there: only text is shown.
    if not prompts or any(not isinstance(p, str) for p in prompts) or len(set(prompts)) != 1:
        return ""
    return prompts[0]


def prompt_messages(project: Project, task: Task) -> list[dict]:
    """The conversation shown above a task's output(s). Not blind: as the (left) output's
    run sent it. Blind: the item's own messages, with the system prompt only when every
    candidate run has the same one."""
    if not project.blind:
        return task.generation.messages
    return build_messages(task.generation.item.messages, shared_system_prompt(project))
