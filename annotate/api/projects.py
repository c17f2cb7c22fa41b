"""The REST API of labeling and comparison projects: the same roles as the pages."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from annotate.api.types import Id, In
from annotate.comparisons.leaderboard import cached_leaderboard
from annotate.comparisons.pairs import compare_questions
from annotate.labeling import annotation_queue
from annotate.labeling import projects as project_logic
from annotate.labeling.access import get_project_for_user, get_task_for_user
from annotate.labeling.models import (
    Annotation,
    AnnotationState,
    Project,
    ProjectKind,
    ProjectMember,
    Role,
)
from annotate.labeling.questions import (
    DEFAULT_QUESTIONS,
    SchemaError,
    clean_answers,
    normalize_questions,
)
from inference.access import require_manager
from inference.models import Run

router = Router(tags=["projects"])


class ProjectIn(In):
    name: str = Field(max_length=200)
    kind: ProjectKind = ProjectKind.LABEL
    description: str = ""
    guidelines: str = ""
    questions: list[dict] | None = None
    blind: bool = True
    overlap: int = Field(1, ge=1, le=10)
    hold_s: int = Field(900, ge=30, le=86400)
    runs: list[Id] = []
    pairs_per_item: int | None = Field(None, ge=1, le=45)
    side_ratings: bool = False


class ProjectOut(Schema):
    id: int
    name: str
    kind: str
    description: str
    guidelines: str
    questions: list[dict]
    blind: bool
    overlap: int
    hold_s: int
    role: str | None = None


class ProjectProgressOut(Schema):
    tasks: int
    complete: int
    labels: int
    reviewed: int
    held: int


class MemberIn(In):
    username: str
    role: Role = Role.ANNOTATOR


class TaskOut(Schema):
    """What an annotator sees: no model name in a blind project."""

    task_id: Id
    messages: list[dict]
    outputs: list[str]
    answers: dict
    state: str
    models: list[str] | None


class LabelIn(In):
    answers: dict
    time_spent_s: float = Field(0, ge=0, le=3600)


class LabelOut(Schema):
    task_id: Id
    annotator: str
    state: str
    answers: dict
    time_spent_s: float


def _questions(project: Project, given: list[dict]) -> list[dict]:
    """The questions a project asks: a comparison's are fixed; 422 for a bad schema."""
    try:
        if project.kind == ProjectKind.COMPARE:
            return compare_questions(project)
        return normalize_questions(given)
    except SchemaError as exc:
        raise HttpError(422, str(exc)) from None


@router.get("/projects", response=list[ProjectOut])
def list_projects(request):
    projects = Project.objects.all()
    if not request.user.is_superuser:
        projects = projects.filter(Q(owner=request.user) | Q(members__user=request.user))
    return projects.distinct()


@router.post("/projects", response={201: ProjectOut})
def create_project(request, payload: ProjectIn):
    require_manager(request.user)
    data = payload.dict(exclude={"runs", "questions"})
    project = Project(owner=request.user, **data)
    project.questions = _questions(project, payload.questions or DEFAULT_QUESTIONS)
    project.save()
    project.runs.set(Run.objects.filter(pk__in=payload.runs))
    project_logic.sync_tasks(project)
    project.role = Role.OWNER
    return Status(201, project)


@router.put("/projects/{project_id}", response=ProjectOut)
def update_project(request, project_id: Id, payload: ProjectIn):
    """Replace a project's settings (owners); new runs' outputs join its queue. Its kind
    cannot change once it has items."""
    project = get_project_for_user(request.user, project_id, Role.OWNER)
    if payload.kind != project.kind and project.tasks.exists():
        raise HttpError(409, "A project with items cannot change its kind.")
    for key, value in payload.dict(exclude={"runs", "questions"}).items():
        setattr(project, key, value)
    project.questions = _questions(project, payload.questions or project.questions)
    project.save()
    project.runs.set(Run.objects.filter(pk__in=payload.runs))
    project_logic.sync_tasks(project)
    return project


@router.post("/projects/{project_id}/sync", response=dict)
def sync_project(request, project_id: Id):
    """Add the outputs its runs have finished since (owners): {"added": n}."""
    project = get_project_for_user(request.user, project_id, Role.OWNER)
    return {"added": project_logic.sync_tasks(project)}


@router.get("/projects/{project_id}/disagreements", response=list[int])
def disagreements(request, project_id: Id):
    """Ids of the tasks whose annotators disagree, for review (reviewers)."""
    project = get_project_for_user(request.user, project_id, Role.REVIEWER)
    return project_logic.disagreeing_tasks(project)


@router.get("/projects/{project_id}", response=ProjectOut)
def get_project(request, project_id: Id):
    return get_project_for_user(request.user, project_id)


@router.get("/projects/{project_id}/progress", response=ProjectProgressOut)
def project_progress(request, project_id: Id):
    return project_logic.progress(get_project_for_user(request.user, project_id, Role.REVIEWER))


@router.post("/projects/{project_id}/members", response={201: dict})
def add_member(request, project_id: Id, payload: MemberIn):
    project = get_project_for_user(request.user, project_id, Role.OWNER)
    user = get_user_model().objects.filter(username=payload.username).first()
    if user is None:
        raise HttpError(404, f"No user named {payload.username!r}.")
    ProjectMember.objects.update_or_create(
        project=project, user=user, defaults={"role": payload.role}
    )
    return Status(201, {"username": user.username, "role": payload.role})


@router.delete("/projects/{project_id}/members/{username}", response={204: None})
def remove_member(request, project_id: Id, username: str):
    """Take someone off the project (owners); their labels stay."""
    project = get_project_for_user(request.user, project_id, Role.OWNER)
    if not project.members.filter(user__username=username).delete()[0]:
        raise HttpError(404, f"{username!r} is not a member of this project.")
    return Status(204, None)


def _task_out(project, task, annotation) -> dict:
    gens = [task.generation] + ([task.generation_b] if task.generation_b_id else [])
    return {
        "task_id": task.pk,
        "messages": task.generation.messages,
        "outputs": [g.output for g in gens],
        "answers": annotation.answers if annotation else {},
        "state": annotation.state if annotation else "none",
        "models": None if project.blind else [g.run.model_config.name for g in gens],
    }


@router.post("/projects/{project_id}/next", response={200: TaskOut, 204: None})
def next_task(request, project_id: Id):
    """Hold the next item for the caller (or return their current hold); 204 when none."""
    project = get_project_for_user(request.user, project_id)
    annotation = annotation_queue.next_task(project, request.user)
    if annotation is None:
        return Status(204, None)
    return _task_out(project, annotation.task, annotation)


@router.post("/projects/{project_id}/tasks/{task_id}/label", response=LabelOut)
def label_task(request, project_id: Id, task_id: Id, payload: LabelIn):
    project = get_project_for_user(request.user, project_id)
    task = get_task_for_user(request.user, project, task_id)
    mine = Annotation.objects.filter(task=task, annotator=request.user).first()
    if mine is None or mine.state == AnnotationState.SKIPPED:
        raise HttpError(409, "This item is not held by you: ask for the next item first.")
    try:
        answers = clean_answers(project.questions, payload.answers, task.generation.output)
        saved = annotation_queue.submit(mine, answers, payload.time_spent_s)
    except (SchemaError, annotation_queue.QueueError) as exc:
        raise HttpError(422, str(exc)) from None
    return _label_out(saved)


@router.post("/projects/{project_id}/tasks/{task_id}/skip", response={204: None})
def skip_task(request, project_id: Id, task_id: Id):
    project = get_project_for_user(request.user, project_id)
    task = get_task_for_user(request.user, project, task_id)
    mine = Annotation.objects.filter(task=task, annotator=request.user).first()
    if mine is not None:
        annotation_queue.skip(mine)
    return Status(204, None)


def _label_out(a: Annotation) -> dict:
    return {
        "task_id": a.task_id,
        "annotator": a.annotator.username,
        "state": a.state,
        "answers": a.answers,
        "time_spent_s": a.time_spent_s,
    }


@router.get("/projects/{project_id}/labels", response=list[LabelOut])
def list_labels(request, project_id: Id):
    """Reviewers and owners: every label; annotators: their own."""
    project = get_project_for_user(request.user, project_id)
    labels = Annotation.objects.filter(task__project=project).select_related("annotator")
    if project.role == Role.ANNOTATOR:
        labels = labels.filter(annotator=request.user)
    return [_label_out(a) for a in labels.order_by("task_id", "annotator_id")]


@router.post("/projects/{project_id}/tasks/{task_id}/final", response=dict)
def set_final(request, project_id: Id, task_id: Id, payload: LabelIn):
    from django.utils import timezone

    project = get_project_for_user(request.user, project_id, Role.REVIEWER)
    task = get_task_for_user(request.user, project, task_id)
    try:
        task.final = clean_answers(project.questions, payload.answers, task.generation.output)
    except SchemaError as exc:
        raise HttpError(422, str(exc)) from None
    task.reviewed_by, task.reviewed_at = request.user, timezone.now()
    task.save(update_fields=("final", "reviewed_by", "reviewed_at"))
    return {"task_id": task.pk, "final": task.final}


@router.get("/projects/{project_id}/agreement", response=list[dict])
def agreement(request, project_id: Id):
    project = get_project_for_user(request.user, project_id, Role.REVIEWER)
    return [vars(row) for row in project_logic.agreement(project)]


@router.get("/projects/{project_id}/leaderboard", response=dict)
def leaderboard(request, project_id: Id):
    project = get_project_for_user(request.user, project_id, Role.REVIEWER)
    if project.kind != ProjectKind.COMPARE:
        raise HttpError(409, "Only comparison projects have a leaderboard.")
    board = cached_leaderboard(project)
    return {
        "votes": board.votes,
        "left_share": board.left_share,
        "position_p": board.position_p,
        "rounds": board.rounds,
        "models": [
            {k: (float(v) if hasattr(v, "item") else v) for k, v in vars(r).items()}
            for r in board.rows
        ],
    }
