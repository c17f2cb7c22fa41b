"""Labeling projects: filling their annotation queues and summing up their progress."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, F, Q, Sum
from django.utils import timezone

from annotate.labeling.agreement import disagreements, labels_by_item, project_agreement
from annotate.labeling.models import Annotation, AnnotationState, Project, Task


@dataclass
class AnnotatorProgress:
    username: str
    submitted: int
    skipped: int
    mean_s: float | None
    per_hour: float | None


@dataclass
class ProjectProgress:
    tasks: int
    complete: int  # labeled by `overlap` annotators
    labels: int
    reviewed: int
    held: int
    annotators: list[AnnotatorProgress]

    @property
    def percent(self) -> int:
        return round(100 * self.complete / self.tasks) if self.tasks else 0


def progress(project: Project) -> ProjectProgress:
    tasks = Task.objects.filter(project=project).aggregate(
        tasks=Count("pk"),
        complete=Count("pk", filter=Q(submitted__gte=project.overlap)),
        labels=Sum("submitted"),
        reviewed=Count("pk", filter=Q(final__isnull=False)),
    )
    annotations = Annotation.objects.filter(task__project=project)
    held = annotations.filter(state=AnnotationState.HELD, held_until__gte=timezone.now()).count()
    return ProjectProgress(
        tasks["tasks"],
        tasks["complete"],
        tasks["labels"] or 0,
        tasks["reviewed"],
        held,
        annotator_progress(annotations),
    )


@dataclass
class Standing:
    """Where one annotator stands in a project: the progress line over every item they see."""

    done: int  # items they submitted a label for
    skipped: int  # items they passed on (and have not taken back)
    total: int  # items in the project


def annotator_standing(project: Project, user) -> Standing:
    mine = Annotation.objects.filter(task__project=project, annotator=user).aggregate(
        done=Count("pk", filter=Q(state=AnnotationState.SUBMITTED)),
        skipped=Count("pk", filter=Q(state=AnnotationState.SKIPPED)),
    )
    total = Task.objects.filter(project=project).count()
    return Standing(mine["done"], mine["skipped"], total)


def annotator_progress(annotations) -> list[AnnotatorProgress]:
    rows = (
        annotations.values(username=F("annotator__username"))
        .annotate(
            submitted=Count("pk", filter=Q(state=AnnotationState.SUBMITTED)),
            skipped=Count("pk", filter=Q(state=AnnotationState.SKIPPED)),
            mean_s=Avg("time_spent_s", filter=Q(state=AnnotationState.SUBMITTED)),
            total_s=Sum("time_spent_s", filter=Q(state=AnnotationState.SUBMITTED)),
        )
        .order_by("username")
    )
    out = []
    for row in rows:
        per_hour = 3600 * row["submitted"] / row["total_s"] if row["total_s"] else None
        out.append(
            AnnotatorProgress(
                row["username"], row["submitted"], row["skipped"], row["mean_s"], per_hour
            )
        )
    return out


def submitted_labels(project: Project) -> dict[int, dict[int, dict]]:
    """{task number: {annotator id: answers}}."""
    rows = Annotation.objects.filter(task__project=project, state=AnnotationState.SUBMITTED)
    return labels_by_item(rows.values_list("task__number", "annotator_id", "answers"))


def agreement(project: Project):
    return project_agreement(project.questions, submitted_labels(project))


def disagreeing_tasks(project: Project) -> list[int]:
    """The numbers (Task.number) of the tasks whose annotators disagree."""
    return disagreements(project.questions, submitted_labels(project))


def unreviewed_counts(project_ids) -> dict[int, int]:
    """Labeled items without a reviewer's final answer, per project (the review page's
    "unreviewed"), in one query."""
    rows = (
        Task.objects.filter(project_id__in=project_ids, submitted__gt=0, final__isnull=True)
        .order_by()
        .values("project_id")
        .annotate(n=Count("pk"))
    )
    return {row["project_id"]: row["n"] for row in rows}
