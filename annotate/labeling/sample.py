"""The human sample: when a project asks for `human_sample_per_run` items per run, humans
label only a random sample of that size from each run's outputs (in a comparison, from each
pair of runs), and a judge labels the rest (annotate/judges/). The annotation queue then
hands out sampled tasks only.

The draw is seeded and deterministic:
1. Group the project's tasks by stratum: the run of the output (a comparison: the two runs).
2. Rank each stratum's tasks by a hash of (project id, task id): a fixed random order that
   a new task joins without reshuffling the others.
3. Keep in the sample every task a person has already taken (held, labeled or skipped):
   their work is never dropped from it; fill up to the size in rank order.
Drawn again whenever the project's tasks change (sync_tasks) or the size does.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from django.db import transaction

from annotate.labeling.models import Annotation, Project, Task


def rank(project_id: int, task_id: int) -> bytes:
    """A task's place in its stratum's random order: seeded by the project, stable."""
    return hashlib.sha256(f"human-sample:{project_id}:{task_id}".encode()).digest()


def stratum(run_id: int, run_b_id: int | None) -> tuple[int, ...]:
    """A task's stratum: its run, or the unordered pair of runs it compares."""
    return (run_id,) if run_b_id is None else tuple(sorted((run_id, run_b_id)))


def choose(project_id: int, strata: dict[tuple, list[int]], taken: set[int], size: int) -> set:
    """The sampled task ids: per stratum, the tasks people took plus the first by rank, up
    to `size` (more only where people already took more)."""
    chosen: set[int] = set()
    for task_ids in strata.values():
        kept = [t for t in task_ids if t in taken]
        rest = sorted((t for t in task_ids if t not in taken), key=lambda t: rank(project_id, t))
        chosen.update(kept, rest[: max(size - len(kept), 0)])
    return chosen


def draw_sample(project: Project) -> int:
    """Mark the project's human sample on its tasks (none marked when it asks for none);
    returns how many tasks are in it."""
    tasks = Task.objects.filter(project=project)
    with transaction.atomic():
        if project.human_sample_per_run is None:
            tasks.filter(in_sample=True).update(in_sample=False)
            return 0
        strata: dict[tuple, list[int]] = defaultdict(list)
        rows = tasks.values_list("pk", "generation__run_id", "generation_b__run_id")
        for task_id, run_id, run_b_id in rows.order_by():
            strata[stratum(run_id, run_b_id)].append(task_id)
        taken = set(
            Annotation.objects.filter(task__project=project).values_list("task_id", flat=True)
        )
        chosen = choose(project.pk, strata, taken, project.human_sample_per_run)
        tasks.filter(in_sample=True).exclude(pk__in=chosen).update(in_sample=False)
        tasks.filter(pk__in=chosen, in_sample=False).update(in_sample=True)
    return len(chosen)


def sample_counts(project: Project) -> dict[tuple, dict[str, int]]:
    """Per stratum: tasks, sampled tasks, and sampled tasks with a submitted human label."""
    out: dict[tuple, dict[str, int]] = defaultdict(lambda: {"tasks": 0, "sample": 0, "labeled": 0})
    labeled = set(
        Annotation.objects.filter(task__project=project, state="submitted").values_list(
            "task_id", flat=True
        )
    )
    rows = Task.objects.filter(project=project).values_list(
        "pk", "generation__run_id", "generation_b__run_id", "in_sample"
    )
    for task_id, run_id, run_b_id, in_sample in rows.order_by():
        counts = out[stratum(run_id, run_b_id)]
        counts["tasks"] += 1
        counts["sample"] += in_sample
        counts["labeled"] += in_sample and task_id in labeled
    return dict(out)
