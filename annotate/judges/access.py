"""Who may see and use a judge: the owners of its project (labeling's roles)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from annotate.judges.models import Judge, JudgeRun
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Role


def get_judge_for_user(user, pk: int) -> Judge:
    """404 if the judge does not exist or the user is not in its project; PermissionDenied
    below the owner role. The judge's project carries the caller's role."""
    judge = get_object_or_404(Judge.objects.select_related("model_config"), pk=pk)
    judge.project = get_project_for_user(user, judge.project_id, Role.OWNER)
    return judge


def get_judge_run_for_user(user, pk: int) -> JudgeRun:
    judge_run = get_object_or_404(JudgeRun.objects.select_related("run"), pk=pk)
    judge_run.judge = get_judge_for_user(user, judge_run.judge_id)
    return judge_run
