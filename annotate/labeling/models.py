"""Labeling projects: which generations people label, with which questions, by whom.

A project's generations become Tasks. Each task is labeled by `overlap` annotators: an
Annotation is one annotator's hold on a task, then their answers. `Task.claimed` counts the
submitted annotations and the live holds, so "next item" finds an open task by an index scan
(project, is_full, id) instead of counting annotations per task.
"""

from __future__ import annotations

import random
from collections import defaultdict

from django.conf import settings
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    REVIEWER = "reviewer", "Reviewer"
    OWNER = "owner", "Owner"


ROLE_RANK = {Role.ANNOTATOR: 1, Role.REVIEWER: 2, Role.OWNER: 3}


class ProjectKind(models.TextChoices):
    LABEL = "label", "Label outputs"
    COMPARE = "compare", "Compare two outputs side by side"


class Project(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=ProjectKind, default=ProjectKind.LABEL)
    description = models.TextField(blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown beside the work.")
    # The label schema: a list of questions, see annotate/labeling/questions.py.
    questions = models.JSONField(default=list)
    blind = models.BooleanField(
        default=True, help_text="Hide which model wrote an output, everywhere in the page."
    )
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="How many annotators label each item."
    )
    hold_s = models.PositiveIntegerField(
        default=900, help_text="An item held this long without an answer goes back."
    )
    runs = models.ManyToManyField("annotate.Run", related_name="projects")
    # Blind mode's system prompt (annotate/labeling/blind.py), recomputed when the runs
    # change (receivers.py), so that a page need not read every run. None: not computed yet
    # ("" is a value: the runs differ).
    shown_system_prompt = models.TextField(null=True, blank=True, editable=False)  # noqa: DJ001
    # Comparison projects: model pairs per item (None: every pair), and per-side ratings.
    pairs_per_item = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Comparisons: pairs per item; empty for every pair."
    )
    # Comparisons: bumped by every vote; the stored leaderboard says which version it counts.
    votes_version = models.PositiveIntegerField(default=0)
    board = models.JSONField(null=True, blank=True)
    board_version = models.PositiveIntegerField(null=True, blank=True)
    side_ratings = models.BooleanField(
        default=False, help_text="Comparisons: also rate each side from 1 to 5."
    )
    # Humans label a random sample of this many items per run (per model pair in a
    # comparison), a judge the rest (annotate/labeling/sample.py). None: humans label all.
    human_sample_per_run = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Humans label a random sample of this many items per run; empty for all.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class ProjectMember(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role, default=Role.ANNOTATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("project", "user"), name="member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


# Task numbers: drawn at random from at least this range, so they say nothing of the order
# (item, then run) the tasks were made in.
NUMBER_LOW, NUMBER_HIGH = 1_000_000, 9_999_999


def draw_numbers(project_id: int, count: int) -> list[int]:
    """`count` task numbers not yet used in the project, drawn at random by the system's
    generator (no seed to guess)."""
    used = set(Task.objects.filter(project_id=project_id).values_list("number", flat=True))
    high = max(NUMBER_HIGH, NUMBER_LOW + 10 * (len(used) + count))
    rng, numbers = random.SystemRandom(), set()
    while len(numbers) < count:
        n = rng.randint(NUMBER_LOW, high)
        if n not in used:
            numbers.add(n)
    drawn = list(numbers)
    rng.shuffle(drawn)  # a set of ints iterates nearly sorted: that order would tell
    return drawn


class TaskManager(models.Manager):
    def bulk_create(self, objs, *args, **kwargs):
        """Give every new task without a number one (Task.number)."""
        objs = list(objs)
        waiting: dict[int, list[Task]] = defaultdict(list)
        for task in objs:
            if task.number is None:
                waiting[task.project_id].append(task)
        for project_id, tasks in waiting.items():
            for task, number in zip(tasks, draw_numbers(project_id, len(tasks)), strict=True):
                task.number = number
        return super().bulk_create(objs, *args, **kwargs)


class Task(models.Model):
    """One generation to label in one project; in a comparison, the pair shown left
    (`generation`) and right (`generation_b`).

    People and scripts name a task by its `number`, random and unique in its project: the
    database id follows the order tasks were made in (item, then run), so in a blind
    project it would tell which run wrote an output."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    number = models.PositiveIntegerField()
    generation = models.ForeignKey(
        "annotate.Generation", on_delete=models.CASCADE, related_name="tasks"
    )
    generation_b = models.ForeignKey(
        "annotate.Generation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tasks_right",
    )
    # Submitted annotations plus live holds; is_full when it reaches the project's overlap.
    claimed = models.PositiveSmallIntegerField(default=0)
    is_full = models.BooleanField(default=False)
    submitted = models.PositiveSmallIntegerField(default=0)
    # In the project's human sample (annotate/labeling/sample.py): while the project asks
    # for one, the annotation queue hands out only these.
    in_sample = models.BooleanField(default=False)
    # The reviewer's final answers, when set.
    final = models.JSONField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    objects = TaskManager()

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=("project", "number"), name="task_number_unique"),
            models.UniqueConstraint(
                fields=("project", "generation"),
                name="task_unique",
                condition=models.Q(generation_b__isnull=True),
            ),
            models.UniqueConstraint(
                fields=("project", "generation", "generation_b"),
                name="pair_unique",
                condition=models.Q(generation_b__isnull=False),
            ),
        ]
        indexes = [
            # next item: filter(project=..., is_full=False).order_by("id")
            models.Index(fields=("project", "is_full", "id"), name="task_open"),
            # next item of a blind project: filter(project=..., is_full=False).order_by("number")
            models.Index(fields=("project", "is_full", "number"), name="task_open_blind"),
            # the same, in a project that asks for a human sample (.filter(in_sample=True))
            models.Index(
                fields=("project", "is_full", "id"),
                name="task_open_sample",
                condition=models.Q(in_sample=True),
            ),
            models.Index(
                fields=("project", "is_full", "number"),
                name="task_open_sample_blind",
                condition=models.Q(in_sample=True),
            ),
        ]

    def __str__(self) -> str:
        return f"Task {self.number} of {self.project_id}"

    def save(self, *args, **kwargs) -> None:
        if self.number is None:
            self.number = draw_numbers(self.project_id, 1)[0]
        super().save(*args, **kwargs)


class AnnotationState(models.TextChoices):
    HELD = "held", "Held"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"


class Annotation(models.Model):
    """One annotator's hold on a task, then their answers. One per (task, annotator)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotations"
    )
    state = models.CharField(max_length=20, choices=AnnotationState, default=AnnotationState.HELD)
    answers = models.JSONField(default=dict, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Seconds of work on this label, summed over every visit (the page reports them).
    time_spent_s = models.FloatField(default=0)

    class Meta:
        ordering = ("started_at",)
        constraints = [
            models.UniqueConstraint(fields=("task", "annotator"), name="annotation_unique"),
        ]
        indexes = [
            # releasing expired holds: filter(state=HELD, held_until__lt=now)
            models.Index(fields=("state", "held_until"), name="annotation_hold"),
            # an annotator's history in a project: filter(annotator=..., task__project=...)
            models.Index(fields=("annotator", "started_at"), name="annotation_history"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on {self.task_id}: {self.state}"
