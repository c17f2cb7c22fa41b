"""A labeling project's tasks: one for each finished output of its runs."""

from __future__ import annotations

from django.db import transaction

from annotate.labeling.models import Project, Task
from inference.models import Generation, GenerationStatus

BULK = 2000


def add_output_tasks(project: Project) -> int:
    """Add a task for every finished generation of the project's runs that has none yet;
    returns how many are new."""
    done = Generation.objects.filter(run__in=project.runs.all(), status=GenerationStatus.DONE)
    have = Task.objects.filter(project=project).values("generation_id")
    new_ids = done.exclude(pk__in=have).order_by("item__index", "run_id", "sample_index")
    created = 0
    with transaction.atomic():
        batch = []
        for gen_id in new_ids.values_list("pk", flat=True).iterator():
            batch.append(Task(project=project, generation_id=gen_id))
            if len(batch) >= BULK:
                created += len(Task.objects.bulk_create(batch, ignore_conflicts=True))
                batch = []
        created += len(Task.objects.bulk_create(batch, ignore_conflicts=True))
    return created
