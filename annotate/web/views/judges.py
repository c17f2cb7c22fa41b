"""Judges' pages (project owners): attach a judge to a project, its page (settings, runs with
their progress and cost, labels, position consistency, agreement with people), start judging.
The changes go through annotate.judges.actions, which decides who may make them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotate.judges import actions
from annotate.judges.access import get_judge_for_user, get_judge_run_for_user
from annotate.judges.agreement import compare_runs, judge_agreement
from annotate.judges.models import JudgeLabel
from annotate.judges.rubrics import default_rubric, is_pairwise
from annotate.judges.summary import judge_consistency, run_summaries
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Role
from annotate.web.forms import JudgeForm
from inference.access import require_manager
from inference.errors import ActionError

LABELS_PER_PAGE = 50


@login_required
def new_judge(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, Role.OWNER)
    require_manager(request.user)  # a judge's model configuration is seen by managers
    initial = {"rubric": default_rubric(project), "few_shot": 0, "inconsistent": "tie"}
    form = JudgeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            judge = actions.attach_judge(request.user, project.pk, form.judge_fields())
        except ActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Attached the judge {judge.name}. Start judging below.")
            return redirect("annotate-judge-detail", pk=judge.pk)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "project": project, "pairwise": is_pairwise(project)}
    return render(request, "annotate/judge_form.html", context, status=status)


def _agreement(judge, runs: list, chosen_pk: str) -> dict:
    """The agreement of the chosen run (?run=, else the newest), beside the newest earlier
    run of an older rubric version on the same items."""
    judge_runs = [s.judge_run for s in runs]  # newest first
    if not judge_runs:
        return {}
    chosen = next((r for r in judge_runs if str(r.pk) == chosen_pk), judge_runs[0])
    older = next((r for r in judge_runs if r.version < chosen.version), None)
    for judge_run in (chosen, older):
        if judge_run is not None:
            judge_run.judge = judge  # with its project, already fetched
    return {
        "chosen": chosen,
        "agreement": judge_agreement(chosen),
        "versions": compare_runs(older, chosen) if older else None,
    }


def _judge_page(request: HttpRequest, judge, form: JudgeForm, status: int = 200) -> HttpResponse:
    runs = run_summaries(judge)
    context = {"judge": judge, "project": judge.project, "form": form, "runs": runs}
    context.update(_agreement(judge, runs, request.GET.get("run", "")))
    if chosen := context.get("chosen"):
        labels = JudgeLabel.objects.filter(judge_run=chosen).select_related("task")
        context["labels"] = Paginator(labels.order_by("task__number"), LABELS_PER_PAGE).get_page(
            request.GET.get("page")
        )
    context["consistency"] = judge_consistency(judge)
    context["pairwise"] = is_pairwise(judge.project)
    return render(request, "annotate/judge.html", context, status=status)


@login_required
def judge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    judge = get_judge_for_user(request.user, pk)
    initial = {
        "model_config": judge.model_config_id,
        "name": judge.name,
        "rubric": judge.rubric,
        "few_shot": judge.few_shot,
        "inconsistent": judge.inconsistent,
    }
    return _judge_page(request, judge, JudgeForm(initial=initial))


@login_required
@require_POST
def edit_judge(request: HttpRequest, pk: int) -> HttpResponse:
    judge = get_judge_for_user(request.user, pk)
    form = JudgeForm(request.POST)
    if form.is_valid():
        try:
            saved = actions.update_rubric(request.user, judge.pk, form.judge_fields())
        except ActionError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Saved: rubric version {saved.version}.")
            return redirect("annotate-judge-detail", pk=judge.pk)
    return _judge_page(request, judge, form, status=400)


@login_required
@require_POST
def start_judging(request: HttpRequest, pk: int) -> HttpResponse:
    sample_only = request.POST.get("sample_only") == "1"
    try:
        judge_run = actions.start_judging(request.user, pk, sample_only=sample_only)
    except ActionError as exc:
        messages.error(request, str(exc))
        return redirect("annotate-judge-detail", pk=pk)
    messages.success(
        request, f"Judging {judge_run.run.total} prompts: the run's page shows its progress."
    )
    return redirect("annotate-judge-detail", pk=pk)


@login_required
@require_POST
def accept_judge_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Use a judge run's labels, once its owner has seen its agreement with people."""
    try:
        judge_run = actions.accept_judge_run(request.user, pk)
    except ActionError as exc:
        messages.error(request, str(exc))
        judge_run = get_judge_run_for_user(request.user, pk)
    else:
        messages.success(request, f"Judge run {judge_run.pk}'s labels are in use.")
    url = reverse("annotate-judge-detail", args=(judge_run.judge_id,))
    return redirect(f"{url}?run={judge_run.pk}#use-labels")
