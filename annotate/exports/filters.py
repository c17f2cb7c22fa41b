"""Which outputs an export goes through: its filters, as a form or the API gives them, and the
outputs they select before the label-based ones (annotate/exports/labels.py)."""

from __future__ import annotations

from datetime import date

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
    "judge_labels",
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
        tasks = Task.objects.filter(project_id=filters["project"])
        gens = gens.filter(pk__in=_either_side(tasks, "generation_id", "generation_b_id"))
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
    export may carry."""
    notes = Annotation.objects.filter(state=AnnotationState.SUBMITTED)
    if (projects := label_projects(filters)) is not None:
        notes = notes.filter(task__project_id__in=projects)
    return gens.filter(pk__in=_either_side(notes, "task__generation_id", "task__generation_b_id"))


def _either_side(rows, left: str, right: str):
    """The outputs on either side of these rows (tasks, or labels through their task): one
    semi-join over a UNION ALL, so each output once however many rows name it, and driven
    by the rows (an OR of two IN subqueries makes the database test every output)."""
    rows = rows.order_by()  # no model ordering inside the UNION
    sides = rows.filter(**{f"{right}__isnull": False}).values(right)
    return rows.values(left).union(sides, all=True)


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
    for key in ("require_pass", "agreed", "reviewed", "pseudonyms", "labeled", "judge_labels"):
        if data.get(key) in (True, "on", "true", "1", 1):
            out[key] = True
    return out
