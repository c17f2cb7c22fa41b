from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.web.forms import RunForm
from inference import actions
from inference.access import can_change, get_generation_for_user, get_run_for_user, require_manager
from inference.errors import ActionError
from inference.models import GenerationStatus, Run


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
    run = get_run_for_user(request.user, pk)
    gens = run.generations.select_related("item").order_by("item__index", "sample_index")
    status = request.GET.get("status", "")
    if status in GenerationStatus.values:
        gens = gens.filter(status=status)
    page = Paginator(gens, 50).get_page(request.GET.get("page"))
    context = {"run": run, "page": page, "status": status, "statuses": GenerationStatus.choices}
    template = "annotate/_generation_rows.html" if request.htmx else "annotate/generations.html"
    return render(request, template, context)


@login_required
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_user(request.user, pk)
    return render(request, "annotate/generation.html", {"g": generation, "run": generation.run})
