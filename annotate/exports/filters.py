"""Which outputs an export goes through: its filters, as a form or the API gives them, and the
outputs they select before the label-based ones (annotate/exports/labels.py)."""

from __future__ import annotations

from datetime import date

from django.db.models import Q

from annotate.labeling.models import Annotation, AnnotationState, Task
from inference.models import Generation, GenerationStatus

FILTER_KEYS = (
    "project",
    "dataset",
    "model",
    "run",
    "min_rating",
    "require_pass",
    "agreed",
    "reviewed",
    "since",
    "until",
    "pseudonyms",
    "labeled",
)


def label_projects(filters: dict) -> list[int] | None:
    """The projects whose labels, final labels and votes an export may carry: the project it
    is filtered on, else those its author could review when it started (None: every one)."""
    if filters.get("project"):
        return [filters["project"]]
    return filters.get("label_projects")


def generations(filters: dict):
    """The outputs an export goes through, before the label-based filters."""
    gens = Generation.objects.filter(status=GenerationStatus.DONE)
    if filters.get("project"):
        # Semi-joins, not joins: no duplicate rows, so no DISTINCT over 100k rows.
        tasks = Task.objects.filter(project_id=filters["project"])
        gens = gens.filter(
            Q(pk__in=tasks.values("generation_id")) | Q(pk__in=tasks.values("generation_b_id"))
        )
    for key, lookup in (
        ("dataset", "run__dataset_id"),
        ("model", "run__model_config_id"),
        ("run", "run_id"),
    ):
        if filters.get(key):
            gens = gens.filter(**{lookup: filters[key]})
    if filters.get("labeled"):
        gens = _labeled(gens, filters)
    if filters.get("since"):
        gens = gens.filter(finished_at__date__gte=filters["since"])
    if filters.get("until"):
        gens = gens.filter(finished_at__date__lte=filters["until"])
    return gens.order_by("pk")


def _labeled(gens, filters: dict):
    """Only the outputs with a submitted label or vote (either side) in the projects the
    export may carry. Semi-joins again: each output once, however many labels it has."""
    notes = Annotation.objects.filter(state=AnnotationState.SUBMITTED)
    if (projects := label_projects(filters)) is not None:
        notes = notes.filter(task__project_id__in=projects)
    return gens.filter(
        Q(pk__in=notes.values("task__generation_id"))
        | Q(pk__in=notes.filter(task__generation_b__isnull=False).values("task__generation_b_id"))
    )


def clean_filters(data: dict) -> dict:
    """Filters from a form or the API: ids as ints, dates as ISO strings, flags as booleans."""
    out: dict = {}
    for key in ("project", "dataset", "model", "run"):
        if data.get(key):
            out[key] = int(data[key])
    if data.get("min_rating") not in (None, ""):
        out["min_rating"] = float(data["min_rating"])
    for key in ("since", "until"):
        if data.get(key):
            out[key] = date.fromisoformat(str(data[key])).isoformat()
    for key in ("require_pass", "agreed", "reviewed", "pseudonyms", "labeled"):
        if data.get(key) in (True, "on", "true", "1", 1):
            out[key] = True
    return out
