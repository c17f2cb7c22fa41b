from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotate.exports.formats import spreadsheet_safe
from annotate.stats import charts
from annotate.stats.figures import cached_model_stats, stats_rows
from annotate.stats.projection import Workload, compare
from annotate.web.forms import ProjectionForm
from inference.access import require_manager
from inference.models import ModelConfig


def _selected(request: HttpRequest) -> tuple[list[int], list[int]]:
    def ids(name: str) -> list[int]:
        # Ids past the database's 64 bits name nothing: left out like any other bad id.
        return [int(v) for v in request.GET.getlist(name) if v.isdigit() and int(v) < 2**63]

    return ids("config"), ids("run")


@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    config_ids, run_ids = _selected(request)
    stats = cached_model_stats(config_ids, run_ids)
    form = ProjectionForm(request.GET if "queries" in request.GET else None)
    workload = Workload(**form.cleaned_data) if form.is_valid() else Workload()
    context = {
        "stats": stats,
        "configs": ModelConfig.objects.order_by("name"),
        "selected": config_ids,
        "runs": run_ids,
        "form": form or ProjectionForm(),
        "projection": compare(stats, workload),
        "workload": workload,
        "boxes": charts.tps_boxes(stats),
        "scatter": charts.latency_scatter(stats),
        "tradeoff": charts.cost_quality(stats),
        "query": request.GET.urlencode(),
    }
    return render(request, "annotate/stats.html", context)


@login_required
def stats_csv(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    rows = stats_rows(cached_model_stats(*_selected(request)))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="annotate-stats.csv"'
    writer = csv.DictWriter(response, fieldnames=list(rows[0]) if rows else ["config_id"])
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return response
