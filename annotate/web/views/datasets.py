from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from annotate.datasets import actions
from annotate.datasets.access import get_dataset_for_user, get_import_for_user, imports_of
from annotate.datasets.importing import ImportFailed, import_summary
from annotate.datasets.items import item_page
from annotate.datasets.models import Dataset, ImportJob
from annotate.datasets.search import search_items
from annotate.stats import matrix
from annotate.web.forms import DatasetImportForm, RunForm
from inference.access import require_manager
from inference.workers import online_on


def _list(request: HttpRequest, form: DatasetImportForm, errors=None, status=200) -> HttpResponse:
    datasets = Dataset.objects.filter(purpose="").select_related("owner").order_by("-created_at")
    datasets = datasets.annotate(
        n_items=Count("items", distinct=True), n_runs=Count("runs", distinct=True)
    )
    imports = imports_of(request.user).select_related("dataset")[:10]
    context = {
        "datasets": datasets,
        "form": form,
        "import_errors": errors,
        "imports": imports,
        "inline_max": settings.IMPORT_INLINE_MAX_BYTES,
    }
    return render(request, "annotate/datasets.html", context, status=status)


@login_required
def list_datasets(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    return _list(request, DatasetImportForm(user=request.user))


@login_required
@require_POST
def import_dataset_view(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    form = DatasetImportForm(request.POST, request.FILES, user=request.user)
    if not form.is_valid():
        return _list(request, form, status=400)
    upload = form.cleaned_data["file"]
    try:
        made = actions.start_import(
            request.user,
            upload.file,
            upload.name,
            upload.size,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            keep_authors=form.cleaned_data.get("keep_authors", False),
            project_kind=form.cleaned_data["project_kind"],
            project_name=form.cleaned_data["project_name"],
        )
    except ImportFailed as exc:
        return _list(request, form, errors=exc, status=400)
    if isinstance(made, ImportJob):  # a large file: a worker imports it
        return redirect("annotate-import-detail", pk=made.pk)
    messages.success(request, import_summary(made, upload.name))
    return redirect("annotate-dataset-detail", pk=made.pk)


@login_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An import run by a worker: its progress (polled while it runs), then its dataset or
    its bad lines."""
    job = get_import_for_user(request.user, pk)
    # Queued, and no worker to take it: say so rather than wait in silence.
    context = {"job": job, "no_worker": job.status == "queued" and not online_on("api")}
    context["max_wait_h"] = settings.IMPORT_JOB_MAX_WAIT_S / 3600
    if request.htmx:
        response = render(request, "annotate/_import_progress.html", context)
        return response if job.active else HttpResponseStopPolling(response.content, status=286)
    return render(request, "annotate/import.html", context)


@login_required
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_user(request.user, pk)
    query = request.GET.get("q", "").strip()
    found = search_items(dataset, query)
    page = Paginator(found, 50).get_page(request.GET.get("page"))
    runs = dataset.runs.select_related("model_config").order_by("-created_at")[:20]
    form = RunForm(initial={"dataset": dataset})
    context = {
        "dataset": dataset,
        "page": page,
        "q": query,
        "total": dataset.items.count() if query else page.paginator.count,
        "runs": runs,
        "run_form": form,
    }
    return render(request, "annotate/dataset.html", context)


@login_required
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "annotate/item.html", {"page": item_page(request.user, pk)})


@login_required
def dataset_matrix(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_user(request.user, pk)
    cols = matrix.columns(dataset)
    query, sort = request.GET.get("q", "").strip(), request.GET.get("sort", "")
    page = Paginator(matrix.items(dataset, cols, query, sort), 25).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset,
        "cols": cols,
        "rows": matrix.table(list(page), cols),
        "page": page,
        "q": query,
        "sort": sort,
        "metrics": [*matrix.SORTS, matrix.RATING],
    }
    return render(request, "annotate/matrix.html", context)
