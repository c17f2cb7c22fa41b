"""Handing out items to annotators: each task goes to `overlap` different people, and two
people asking at the same moment never get the same slot.

`Task.claimed` counts submitted labels and live holds; a task is full when it reaches the
project's overlap. Claiming takes the first open task the annotator has not seen, row-locked
with SKIP LOCKED on PostgreSQL, and inside an IMMEDIATE transaction on SQLite (which admits one
writer at a time): either way the check and the increment are one step.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotate.labeling.kinds import rules_for
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from inference.errors import Conflict, Invalid

HELD, SUBMITTED, SKIPPED = AnnotationState.HELD, AnnotationState.SUBMITTED, AnnotationState.SKIPPED


class QueueError(Invalid):
    """The annotation queue cannot take this answer (its slot went to someone else)."""


def _unclaim(task_ids: list[int]) -> None:
    for task_id in task_ids:
        Task.objects.filter(pk=task_id, claimed__gt=0).update(
            claimed=F("claimed") - 1, is_full=False
        )


def release_expired_holds(project: Project, now=None) -> int:
    """Give back items held past the project's hold time."""
    now = now or timezone.now()
    expired = Annotation.objects.filter(task__project=project, state=HELD, held_until__lt=now)
    # Mostly there are none: a plain read says so without a transaction (the rows are
    # locked, and checked again, only when there are some).
    if not expired.exists():
        return 0
    with transaction.atomic():
        rows = list(expired.select_for_update().values_list("pk", "task_id"))
        if rows:
            Annotation.objects.filter(pk__in=[pk for pk, _ in rows], state=HELD).delete()
            _unclaim([task_id for _, task_id in rows])
    return len(rows)


def current_hold(project: Project, user) -> Annotation | None:
    return (
        Annotation.objects.filter(
            task__project=project, annotator=user, state=HELD, held_until__gte=timezone.now()
        )
        .select_related("task__generation__item", "task__generation_b")  # the doors show them
        .order_by("started_at")
        .first()
    )


def next_task(project: Project, user) -> Annotation | None:
    """The annotator's current hold, or a new hold on the first open task they have not
    seen; None when nothing is left for them."""
    release_expired_holds(project)
    if hold := current_hold(project, user):
        hold.task.project = project  # already fetched: the doors show it
        return hold
    for _ in range(3):  # a unique-constraint race with the same user in two tabs: try again
        try:
            return _claim(project, user)
        except IntegrityError:
            continue
    return None


def _claim(project: Project, user) -> Annotation | None:
    with transaction.atomic():
        # In a blind project, in the order of the random numbers: in the order they were
        # made (item, then run), the same prompt twice in a row would say which run is which.
        order = "number" if project.blind else "id"
        open_tasks = (
            Task.objects.filter(project=project, is_full=False)
            .select_related("generation__item", "generation_b")  # the doors show them
            .exclude(annotations__annotator=user)
            .order_by("is_full", order)  # same order, but only task_open(_blind) can supply it
        )
        if project.human_sample_per_run is not None:  # humans label the sample, a judge the rest
            open_tasks = open_tasks.filter(in_sample=True)
        if connection.features.has_select_for_update_skip_locked:
            open_tasks = open_tasks.select_for_update(skip_locked=True, of=("self",))
        task = open_tasks.first()
        if task is None:
            return None
        task.project = project
        claimed = task.claimed + 1
        Task.objects.filter(pk=task.pk).update(claimed=claimed, is_full=claimed >= project.overlap)
        now = timezone.now()
        return Annotation.objects.create(
            task=task,
            annotator=user,
            state=HELD,
            started_at=now,
            held_until=now + timedelta(seconds=project.hold_s),
        )


def submit(
    annotation: Annotation, answers: dict, time_spent_s: float, project: Project | None = None
) -> Annotation:
    """Save an annotator's answers: a first submission, or an edit of their own label.
    project: the annotation's, when the caller has it (saves a statement for label projects)."""
    with transaction.atomic():
        row = Annotation.objects.select_for_update().filter(pk=annotation.pk).first()
        if row is None:  # the hold expired and was given back: claim the slot again if free
            row = _reclaim(annotation)
        first = row.state != SUBMITTED
        row.answers = answers
        row.time_spent_s = row.time_spent_s + max(time_spent_s, 0)
        row.state = SUBMITTED
        row.submitted_at = row.submitted_at if not first else timezone.now()
        row.held_until = None
        row.save()
        if first:
            Task.objects.filter(pk=row.task_id).update(submitted=F("submitted") + 1)
        if project is None:
            project = Project.objects.only("kind").get(tasks=row.task_id)
        # A comparison's leaderboard is recomputed when its votes change.
        if project.kind == ProjectKind.COMPARE:
            Project.objects.filter(pk=project.pk).update(votes_version=F("votes_version") + 1)
        if hook := rules_for(project.kind).after_submit:
            hook(project.pk)
    return row


def _reclaim(annotation: Annotation) -> Annotation:
    task = Task.objects.select_for_update().get(pk=annotation.task_id)
    project = task.project
    if task.claimed >= project.overlap:
        raise QueueError(
            "Your hold on this item expired and others have labeled it since; "
            "your answer was not needed. Take the next item."
        )
    Task.objects.filter(pk=task.pk).update(
        claimed=F("claimed") + 1, is_full=task.claimed + 1 >= project.overlap
    )
    return Annotation.objects.create(
        task=task, annotator=annotation.annotator, state=HELD, started_at=annotation.started_at
    )


def skip(annotation: Annotation, time_spent_s: float = 0) -> None:
    """Pass on an item: its slot goes to someone else, and this annotator is not asked again."""
    with transaction.atomic():
        updated = Annotation.objects.filter(pk=annotation.pk, state=HELD).update(
            state=SKIPPED, held_until=None, time_spent_s=F("time_spent_s") + time_spent_s
        )
        if updated:
            _unclaim([annotation.task_id])


def unskip(annotation: Annotation, hold_s: int) -> Annotation:
    """Take back a skip: the annotator holds the item again, if a slot is still free (one
    given back by the skip may have gone to someone else since)."""
    with transaction.atomic():
        task = Task.objects.select_for_update().get(pk=annotation.task_id)
        overlap = Project.objects.values_list("overlap", flat=True).get(pk=task.project_id)
        row = Annotation.objects.select_for_update().filter(pk=annotation.pk).first()
        if row is None or row.state != SKIPPED:
            raise Conflict("You have not skipped this item, so there is no skip to undo.")
        if task.claimed >= overlap:
            raise Conflict(
                f"Item {task.number} has all the annotators it needs since you skipped it; "
                "the skip cannot be undone. Take the next item."
            )
        claimed = task.claimed + 1
        Task.objects.filter(pk=task.pk).update(claimed=claimed, is_full=claimed >= overlap)
        row.state = HELD
        row.held_until = timezone.now() + timedelta(seconds=hold_s)
        row.save(update_fields=("state", "held_until"))
    return row


def waiting_counts(user, project_ids) -> dict[int, int]:
    """How many items "next item" would still hand the user, per project, counted by its
    rules without taking any (one query): their live hold, and every task they have no
    annotation of (a skip counts) whose claims are under the project's overlap, a hold past
    its time counted as given back, as release_expired_holds will; only sampled tasks where
    the project asks for a human sample."""
    now = timezone.now()
    expired = Annotation.objects.filter(task=OuterRef("pk"), state=HELD, held_until__lt=now)
    given_back = expired.order_by().values("task").annotate(n=Count("pk")).values("n")
    mine = Annotation.objects.filter(task=OuterRef("pk"), annotator=user)
    live = mine.exclude(state=HELD, held_until__lt=now)
    my_hold = mine.filter(state=HELD, held_until__gte=now)
    rows = (
        Task.objects.filter(project_id__in=project_ids)
        .alias(given_back=Coalesce(Subquery(given_back), Value(0)))
        .filter(
            (Q(is_full=False) | Exists(expired))
            & ~Exists(live)
            & Q(claimed__lt=F("project__overlap") + F("given_back"))
            & (Q(in_sample=True) | Q(project__human_sample_per_run__isnull=True))
            | Exists(my_hold)
        )
        .order_by()
        .values("project_id")
        .annotate(n=Count("pk"))
    )
    return {row["project_id"]: row["n"] for row in rows}
