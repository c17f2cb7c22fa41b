"""The home page: what needs me now. My projects with the items waiting for me (counted by
the annotation queue's own rules), the reviews waiting in those I review, the runs in
flight (managers) and the latest comparison leaderboard. A few queries, whatever the size."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from annotate.comparisons.leaderboard import latest_board
from annotate.labeling.access import reviewable_projects, visible_projects
from annotate.labeling.annotation_queue import waiting_counts
from annotate.labeling.projects import unreviewed_counts
from inference.access import can_manage
from inference.models import ACTIVE_RUN_STATUSES, Generation, GenerationStatus, Run

MAX_PROJECTS = 20
MAX_RUNS = 10
TOP_MODELS = 5


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    projects = list(visible_projects(user).order_by("-created_at")[:MAX_PROJECTS])
    ids = [p.pk for p in projects]
    waiting = waiting_counts(user, ids)
    reviewing = reviewable_projects(user).filter(pk__in=ids)
    reviews = unreviewed_counts(list(reviewing.values_list("pk", flat=True)))
    for project in projects:
        project.waiting = waiting.get(project.pk, 0)
        project.unreviewed = reviews.get(project.pk)  # None: not theirs to review
    projects.sort(key=lambda p: (-p.waiting, -(p.unreviewed or 0)))
    context = {
        "projects": projects,
        "reviewing": [p for p in projects if p.unreviewed is not None],
        "board": latest_board(reviewable_projects(user)),
        "top_models": TOP_MODELS,
    }
    if can_manage(user):
        context["runs"] = _runs_in_flight()
    return render(request, "annotate/home.html", context)


def _runs_in_flight() -> list[Run]:
    """The queued and running runs, each with its items finished (done or failed), in two
    queries."""
    runs = list(
        Run.objects.filter(status__in=ACTIVE_RUN_STATUSES)
        .select_related("dataset", "model_config")
        .order_by("-created_at")[:MAX_RUNS]
    )
    finished = (GenerationStatus.DONE, GenerationStatus.FAILED)
    counts = dict(
        Generation.objects.filter(run__in=runs)
        .order_by()
        .values("run_id")
        .annotate(n=Count("pk", filter=Q(status__in=finished)))
        .values_list("run_id", "n")
    )
    for run in runs:
        run.finished = counts.get(run.pk, 0)
        run.percent = round(100 * run.finished / run.total) if run.total else 0
    return runs


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links: the icon's static address, looked
    up per request (at import it would need collectstatic's manifest before migrate)."""
    return redirect(static("annotate/favicon.svg"))
