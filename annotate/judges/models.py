"""Judges, their runs and their labels.

A Judge is a model configuration plus a rubric attached to a project. A JudgeRun is one pass of
one rubric version over the project's tasks, done by an ordinary generation Run over a hidden
dataset of rendered judge prompts (Dataset.purpose == "judge"). A JudgeLabel is the judge's
answer on one task: never an Annotation, so human agreement, the human leaderboard and exports
never count it unless asked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Inconsistent(models.TextChoices):
    TIE = "tie", "Count as a tie"
    DROP = "drop", "Leave out"


class Judge(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="judges")
    model_config = models.ForeignKey(
        "annotate.ModelConfig", on_delete=models.PROTECT, related_name="judges"
    )
    name = models.CharField(max_length=200)
    # A template: {prompt} {output} {reference} {output_a} {output_b} {questions}
    # {guidelines} {examples} (annotate/judges/rubrics.py).
    rubric = models.TextField()
    version = models.PositiveIntegerField(default=1, help_text="Bumped when the rubric changes.")
    few_shot = models.PositiveSmallIntegerField(
        default=0, help_text="Human labels of the project shown to the judge as examples."
    )
    inconsistent = models.CharField(
        max_length=10,
        choices=Inconsistent,
        default=Inconsistent.TIE,
        help_text="Comparisons: a verdict that flips with the order.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "annotate"
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return self.name


class JudgeRun(models.Model):
    """One pass of one rubric version over a project's tasks."""

    judge = models.ForeignKey(Judge, on_delete=models.CASCADE, related_name="runs")
    version = models.PositiveIntegerField()
    rubric = models.TextField(help_text="The rubric as used.")
    run = models.OneToOneField(
        "annotate.Run",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="judge_run",
    )
    sample_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the project's owner once the agreement with the human sample satisfies them
    # (annotate/judges/agreement.py): until then its labels are not used.
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        app_label = "annotate"
        ordering = ("-created_at", "-pk")

    def __str__(self) -> str:
        return f"Judge run {self.pk} of {self.judge_id} (v{self.version})"


class JudgeLabel(models.Model):
    """The judge's answer on one task: Annotation.answers' shape (a comparison's verdict as a
    person's vote stores it), its reasoning, and for pairs whether both orders agreed."""

    judge_run = models.ForeignKey(JudgeRun, on_delete=models.CASCADE, related_name="labels")
    task = models.ForeignKey("annotate.Task", on_delete=models.CASCADE, related_name="judge_labels")
    answers = models.JSONField(default=dict)
    reasoning = models.TextField(blank=True)
    consistent = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "annotate"
        ordering = ("judge_run", "task")
        constraints = [
            models.UniqueConstraint(fields=("judge_run", "task"), name="judgelabel_unique"),
        ]

    def __str__(self) -> str:
        return f"Judge label {self.pk} on {self.task_id}"
