"""The annotation workspace: next item, label, skip (and undo it), go back; and the reviewer's
pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotate.comparisons.diffing import word_diff
from annotate.labeling import actions
from annotate.labeling.access import get_project_for_user, get_task_for_user, own_annotation
from annotate.labeling.blind import prompt_messages
from annotate.labeling.models import Annotation, AnnotationState, Role, Task
from annotate.labeling.projects import annotator_standing, disagreeing_tasks
from annotate.labeling.questions import choices
from inference.errors import Conflict, Invalid


def _spent(request: HttpRequest) -> float:
    """Seconds the page says the annotator spent (it counts only while the tab is visible)."""
    try:
        return float(request.POST.get("time_spent_s", 0))
    except ValueError:
        return 0.0


# The item the annotator skipped last, per project: {"<project pk>": number}, offered back
# ("Undo skip", key U) until they undo it, skip another or submit a label.
LAST_SKIP = "annotate_last_skip"


def _remember_skip(request: HttpRequest, pk: int, number: int | None) -> None:
    skips = request.session.get(LAST_SKIP, {})
    if skips.get(str(pk)) == number:
        return  # unchanged: the session row need not be written again
    if number is None:
        skips.pop(str(pk), None)
    else:
        skips[str(pk)] = number
    request.session[LAST_SKIP] = skips


def _undo_offer(request: HttpRequest, project) -> int | None:
    """The number of the item to offer back, while the caller's skip of it stands."""
    number = request.session.get(LAST_SKIP, {}).get(str(project.pk))
    if number is None:
        return None
    mine = Annotation.objects.filter(
        task__project=project, task__number=number, annotator=request.user
    )
    return number if mine.filter(state=AnnotationState.SKIPPED).exists() else None


@login_required
def annotate_next(request: HttpRequest, pk: int) -> HttpResponse:
    annotation = actions.next_item(request.user, pk)
    if annotation is None:
        project = get_project_for_user(request.user, pk)
        context = {"project": project, "undo_skip": _undo_offer(request, project)}
        return render(request, "annotate/queue_done.html", context)
    return redirect("annotate-task", pk=pk, number=annotation.task.number)


NUMBER = "task__number"  # pages name a task by its number, never its database id


def _history(project, user, mine: Annotation | None) -> tuple[int | None, int | None]:
    """The numbers of the annotator's previous and next items in the project, in the order
    they took them: two index-bounded lookups beside this one, however long their history."""
    taken = Annotation.objects.filter(task__project=project, annotator=user).exclude(
        state=AnnotationState.SKIPPED
    )
    if mine is None or mine.state == AnnotationState.SKIPPED:
        return taken.order_by("-started_at", "-pk").values_list(NUMBER, flat=True).first(), None
    at, pk = mine.started_at, mine.pk
    earlier = taken.filter(Q(started_at__lt=at) | Q(started_at=at, pk__lt=pk))
    later = taken.filter(Q(started_at__gt=at) | Q(started_at=at, pk__gt=pk))
    previous = earlier.order_by("-started_at", "-pk").values_list(NUMBER, flat=True).first()
    following = later.order_by("started_at", "pk").values_list(NUMBER, flat=True).first()
    return previous, following


def _shown(task: Task) -> dict:
    """What the page shows of a task: one output, or a pair (left, right) and their diff."""
    if task.generation_b_id is None:
        return {"sides": None}
    left, right = task.generation, task.generation_b
    return {
        "sides": [("left", left), ("right", right)],
        "diff": word_diff(left.output, right.output),
    }


def _posted(request: HttpRequest, project) -> dict:
    """What the annotator sent, to show again with the error (multi choices as lists)."""
    return {
        q["key"]: (
            request.POST.getlist(q["key"]) if q["kind"] == "multi" else request.POST.get(q["key"])
        )
        for q in project.questions
    }


def _questions(project, answers: dict) -> list[dict]:
    return [{**q, "choices": choices(q), "value": answers.get(q["key"])} for q in project.questions]


def _to_next(request: HttpRequest, pk: int) -> HttpResponse:
    """On to the next item: a redirect, or for the page's htmx submit, htmx's client-side
    redirect (the browser loads the next item once, after the server has the answers)."""
    url = reverse("annotate-next", kwargs={"pk": pk})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
def label_task(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            actions.submit_label(request.user, pk, number, request.POST, _spent(request))
        except Conflict as exc:  # not theirs to label (any more): on to the next one
            messages.error(request, str(exc))
            return _to_next(request, pk)
        except Invalid as exc:
            error = str(exc)
        else:
            _remember_skip(request, pk, None)
            return _to_next(request, pk)
    project = get_project_for_user(request.user, pk)
    task = get_task_for_user(request.user, project, number)
    mine = own_annotation(task, request.user)
    previous, following = _history(project, request.user, mine)
    generation = task.generation
    context = {
        "project": project,
        "task": task,
        "annotation": mine,
        "error": error,
        "generation": generation,
        "item": generation.item,
        "messages_list": prompt_messages(project, task),
        "questions": _questions(
            project,
            _posted(request, project) if error else (mine.answers if mine else {}),
        ),
        "previous": previous,
        "following": following,
        "model_name": None if project.blind else generation.run.params.get("model"),
        "held_until": mine.held_until if mine and mine.state == AnnotationState.HELD else None,
        "now": timezone.now(),
        "undo_skip": _undo_offer(request, project),
        "standing": annotator_standing(project, request.user),
        **_shown(task),
    }
    return render(request, "annotate/label.html", context, status=400 if error else 200)


@login_required
@require_POST
def skip_task(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    actions.skip_item(request.user, pk, number, _spent(request))
    _remember_skip(request, pk, number)
    return redirect("annotate-next", pk=pk)


@login_required
@require_POST
def unskip_task(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Undo the caller's skip: back to the item, held for them (the page restores the answers
    they had given, kept in the tab when they skipped)."""
    try:
        actions.unskip_item(request.user, pk, number)
    except Conflict as exc:
        messages.error(request, str(exc))
        return redirect("annotate-next", pk=pk)
    finally:
        _remember_skip(request, pk, None)
    return redirect("annotate-task", pk=pk, number=number)


@login_required
def review_list(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk, role=Role.REVIEWER)
    show = request.GET.get("show", "disagreements")
    tasks = Task.objects.filter(project=project, submitted__gt=0)
    if show == "disagreements":
        tasks = tasks.filter(number__in=disagreeing_tasks(project))
    elif show == "unreviewed":
        tasks = tasks.filter(final__isnull=True)
    tasks = tasks.select_related("generation__item").prefetch_related("annotations__annotator")
    page = Paginator(tasks.order_by("pk"), 50).get_page(request.GET.get("page"))
    return render(
        request, "annotate/review_list.html", {"project": project, "page": page, "show": show}
    )


@login_required
def review_task(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            actions.set_final_label(request.user, pk, number, request.POST)
        except Invalid as exc:
            error = str(exc)
        else:
            messages.success(request, "Final label saved.")
            url = reverse("annotate-review", kwargs={"pk": pk})
            return redirect(f"{url}?show=disagreements")
    project = get_project_for_user(request.user, pk, role=Role.REVIEWER)
    task = get_task_for_user(request.user, project, number)
    labels = task.annotations.filter(state=AnnotationState.SUBMITTED).select_related("annotator")
    generation = task.generation
    start = task.final or (labels[0].answers if len(labels) == 1 else {})
    context = {
        "project": project,
        "task": task,
        "labels": labels,
        "error": error,
        "generation": generation,
        "item": generation.item,
        "messages_list": generation.messages,
        "questions": _questions(project, start),
        "model_name": None if project.blind else generation.run.params.get("model"),
        **_shown(task),
    }
    return render(request, "annotate/review_task.html", context, status=400 if error else 200)
