from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.stats import actions
from annotate.stats.sweeps import KNEE_GAIN, in_flight_key, sweep_points, sweep_progress
from annotate.web.forms import SweepForm
from inference.access import can_change, require_manager
from inference.errors import ActionError


@login_required
def new_sweep(request: HttpRequest) -> HttpResponse:
    """The form (GET, prefilled from ?dataset= and ?model_config=) and its start (POST)."""
    require_manager(request.user)
    form = SweepForm(request.POST if request.method == "POST" else None, initial=request.GET.dict())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sweep = actions.create_sweep(
                request.user,
                data["dataset"].pk,
                data["model_config"].pk,
                in_flight=data["in_flight"],
                max_tokens=data["max_tokens"],
                sample_size=data["sample_size"],
                seed=data["seed"],
            )
        except ActionError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("annotate-sweep-detail", pk=sweep.pk)
    status = 422 if form.is_bound else 200
    return render(request, "annotate/sweep_form.html", {"form": form}, status=status)


@login_required
def sweep_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress, a row per point, and the chart; the htmx poll gets the progress and table."""
    return _detail(request, actions.get_sweep_for_user(request.user, pk))


@login_required
@require_POST
def cancel_sweep(request: HttpRequest, pk: int) -> HttpResponse:
    """The Cancel button: htmx swaps the progress and table, a plain form comes back here."""
    try:
        sweep = actions.cancel_sweep(request.user, pk)
    except ActionError as exc:
        messages.error(request, str(exc))
        sweep = actions.get_sweep_for_user(request.user, pk)
    else:
        messages.success(request, "Sweep cancelled; the points already measured stay.")
    if request.htmx:
        return _detail(request, sweep)
    return redirect("annotate-sweep-detail", pk=sweep.pk)


def _detail(request: HttpRequest, sweep) -> HttpResponse:
    points = sweep_points(sweep)
    progress = sweep_progress(sweep, points)
    context = {
        "sweep": sweep,
        "points": points,
        "progress": progress,
        "can_change": can_change(request.user, sweep.created_by_id),
        "knee_percent": round(KNEE_GAIN * 100),
        "knee_series": {p.max_tokens for p in points if p.knee},
        "in_flight_word": (
            "Batch size"
            if in_flight_key(sweep.model_config.backend) == "batch_size"
            else "Concurrency"
        ),
        "chart_data": {
            "points": [p.as_dict() for p in points if p.tokens_per_s and p.p50_latency_s],
        },
    }
    if request.htmx:
        response = render(request, "annotate/_sweep_points.html", context)
        if not progress["running"]:
            return HttpResponseStopPolling(response.content, status=286)
        return response
    return render(request, "annotate/sweep.html", context)
