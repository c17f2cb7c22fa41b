from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.timesince import timesince
from django_htmx.http import HttpResponseStopPolling

from annotate.comparisons.leaderboard import breakdown, cached_leaderboard
from annotate.datasets.models import Dataset, Item
from annotate.labeling.access import get_project_for_user
from annotate.labeling.models import Role


@login_required
def comparison_results(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, role=Role.REVIEWER)
    board = cached_leaderboard(project)
    keys = _metadata_keys(project)
    key = request.GET.get("by", "")
    context = {
        "project": project,
        "board": board,
        "age": _age(board),
        "keys": keys,
        "by": key,
        "chart": _interval_chart(board.rows),
        # the matrix is indexed like the models, by configuration id
        "names": (names := sorted(board.rows, key=lambda r: r.config_id)),
        "matrix_rows": [(r.name, board.matrix[i]) for i, r in enumerate(names)],
        "groups": breakdown(project, key) if key in keys else None,
    }
    if request.htmx:
        response = render(request, "annotate/_results_board.html", context)
        # Stop polling once the board counts every vote: the fragment shows it.
        return response if board.stale else HttpResponseStopPolling(response.content, status=286)
    return render(request, "annotate/results.html", context)


def _age(board) -> str:
    """How long ago the board's ratings were fitted, in words ("3 s"); "" if unknown."""
    if not board.computed_at:
        return ""
    computed = datetime.fromisoformat(board.computed_at)
    seconds = max((timezone.now() - computed).total_seconds(), 0)
    return f"{seconds:.0f} s" if seconds < 60 else timesince(computed)


def _metadata_keys(project) -> list[str]:
    """Metadata keys of the first items of the project's datasets, to break results down by."""
    datasets = Dataset.objects.filter(runs__projects=project)
    sample = (
        Item.objects.filter(dataset__in=datasets)
        .order_by()
        .values_list("metadata", flat=True)[:200]
    )
    return sorted(
        {k for m in sample for k, v in (m or {}).items() if isinstance(v, str | int | bool)}
    )


def _interval_chart(rows) -> list[dict]:
    """Each model's rating and 95% interval as percentages across the chart's width."""
    if not rows:
        return []
    low = min(r.rating_low for r in rows) - 10
    high = max(r.rating_high for r in rows) + 10
    span = high - low or 1

    def x(value: float) -> float:
        return round(100 * (value - low) / span, 2)

    return [
        {
            "name": r.name,
            "low": x(r.rating_low),
            "mid": x(r.rating),
            "high": x(r.rating_high),
            "width": round(x(r.rating_high) - x(r.rating_low), 2),
            "y": 14 + 26 * i,
        }
        for i, r in enumerate(rows)
    ]
