from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.web.forms import RunForm
from inference import actions, routing
from inference.access import can_change, get_generation_for_user, get_run_for_user, require_manager
from inference.errors import ActionError
from inference.models import GenerationStatus, Run
from inference.outputs import output_count, output_page


@login_required
def list_runs(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    runs = Run.objects.select_related("dataset", "model_config", "created_by")[:100]
    return render(request, "annotate/runs.html", {"runs": runs})


@login_required
@require_POST
def create_run(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    form = RunForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Could not start the run: " + form.errors.as_text())
        return redirect(request.META.get("HTTP_REFERER") or "annotate-run-list")
    run = actions.create_run(
        request.user,
        form.cleaned_data["dataset"].pk,
        form.cleaned_data["model_config"].pk,
        form.cleaned_data["samples_per_prompt"],
    )
    return redirect("annotate-run-detail", pk=run.pk)


def _progress(request: HttpRequest, run: Run, status: int = 200) -> HttpResponse:
    context = {
        "run": run,
        "progress": run.progress(),
        "can_change": can_change(request.user, run.created_by_id),
        "route_split": routing.split(run) if routing.rule_of(run.params) else None,
    }
    if request.htmx:
        response = render(request, "annotate/_run_progress.html", context, status=status)
        # Stop polling once the run has ended: the fragment shows its final state.
        if not run.is_active:
            return HttpResponseStopPolling(response.content, status=286)
        return response
    return render(request, "annotate/run.html", context, status=status)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _progress(request, get_run_for_user(request.user, pk))


def _act(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    try:
        count = action(request.user, pk)
    except ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(count=count))
    run = get_run_for_user(request.user, pk)
    if request.htmx:
        return _progress(request, run)
    return redirect("annotate-run-detail", pk=run.pk)


@login_required
@require_POST
def cancel_run(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, actions.cancel_run, "Cancelled; {count} items were waiting.")


@login_required
@require_POST
def resume_run(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, actions.resume_run, "Resumed; {count} items queued again.")


@login_required
@require_POST
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(request, pk, actions.retry_failed, "Retrying {count} failed items.")


@login_required
def list_generations(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's outputs, 50 a page, by keyset (`?after=` the last id shown): a deep page
    costs what the first does (inference/outputs.py)."""
    run = get_run_for_user(request.user, pk)
    status = request.GET.get("status", "")
    status = status if status in GenerationStatus.values else ""
    after = request.GET.get("after", "")
    if after and not (after.isdigit() and 0 < int(after) < 2**63):
        return HttpResponseBadRequest("The cursor `after` must be a generation id.")
    after_id = int(after) if after else None
    page = output_page(run, status=status or None, after=after_id)
    context = {
        "run": run,
        "page": page.generations,
        "next_after": page.next_after,
        "after": after_id,
        # A filter's count is counted on its first page only; the run's total is stored.
        "count": None if status and after_id else output_count(run, status or None),
        "status": status,
        "statuses": GenerationStatus.choices,
    }
    template = "annotate/_generation_rows.html" if request.htmx else "annotate/generations.html"
    return render(request, template, context)


@login_required
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_user(request.user, pk)
    return render(request, "annotate/generation.html", {"g": generation, "run": generation.run})
