from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from annotate.exports.formats import spreadsheet_safe
from annotate.stats import charts
from annotate.stats.figures import ModelStats, cached_model_stats, stats_rows
from annotate.stats.speed import end_to_end_tps, throughput_by_in_flight
from annotate.web.views.projection import projection_context, projection_table
from inference.access import require_manager
from inference.models import ModelConfig


def _selected(request: HttpRequest) -> tuple[list[int], list[int]]:
    def ids(name: str) -> list[int]:
        # Ids past the database's 64 bits name nothing: left out like any other bad id.
        return [int(v) for v in request.GET.getlist(name) if v.isdigit() and int(v) < 2**63]

    return ids("config"), ids("run")


def _chart_context(stats: list[ModelStats], run_ids: list[int]) -> dict:
    """The tables' end-to-end tokens/s, the legend, the lists beside the cost charts, and
    the charts' data (json_script for static/annotate/stats.js)."""
    end_to_end = end_to_end_tps(stats, run_ids)
    throughput = throughput_by_in_flight(stats, run_ids)
    trade = charts.tradeoffs(stats)
    return {
        "end_to_end": end_to_end,
        "models": charts.models(stats),
        "trade": trade,
        "unpriced": charts.unpriced(stats),
        "quality_charts": charts.QUALITY_CHARTS,
        "chart_data": charts.chart_data(stats, end_to_end, throughput, trade),
    }


@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    config_ids, run_ids = _selected(request)
    stats = cached_model_stats(config_ids, run_ids)
    context = {
        "stats": stats,
        "configs": ModelConfig.objects.order_by("name"),
        "selected": config_ids,
        "runs": run_ids,
        **projection_context(request, stats, config_ids),
        **_chart_context(stats, run_ids),
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


@login_required
def projection_csv(request: HttpRequest) -> HttpResponse:
    """The projection the stats page shows for the same inputs, as CSV."""
    require_manager(request.user)
    config_ids, run_ids = _selected(request)
    rows, error = projection_table(request, cached_model_stats(config_ids, run_ids), config_ids)
    if rows is None:
        return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="annotate-projection.csv"'
    writer = csv.DictWriter(response, fieldnames=list(rows[0]) if rows else ["model_config"])
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(v) for k, v in row.items()} for row in rows)
    return response
