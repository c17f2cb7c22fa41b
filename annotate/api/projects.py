"""The REST API of labeling and comparison projects: parse, call annotate.labeling.actions
(the same rules as the pages), answer."""

from __future__ import annotations

from ninja import Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field

from annotate.api.types import Id, In
from annotate.comparisons.leaderboard import cached_leaderboard
from annotate.labeling import actions
from annotate.labeling import projects as project_logic
from annotate.labeling.access import (
    get_project_for_user,
    get_task_for_user,
    own_annotation,
    visible_projects,
)
from annotate.labeling.blind import prompt_messages
from annotate.labeling.models import Annotation, ProjectKind, Role, Task

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
    human_sample_per_run: int | None = Field(None, ge=1)


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
    human_sample_per_run: int | None = None
    role: str | None = None


class ProjectProgressOut(Schema):
    tasks: int
    complete: int
    labels: int
    reviewed: int
    held: int


class MemberIn(In):
    """Who to add: `username` or `email` (an account's address), one of the two."""

    username: str | None = Field(None, max_length=254)
    email: str | None = Field(None, max_length=254)
    role: Role = Role.ANNOTATOR


class RoleIn(In):
    role: Role


class PersonIn(In):
    """A new account, put in the project."""

    username: str = Field(max_length=150)
    email: str = Field(max_length=254)
    role: Role = Role.ANNOTATOR


class InvitationOut(Schema):
    username: str
    email: str
    role: str
    set_password_link: str  # works once, until PASSWORD_RESET_TIMEOUT; pass it on
    emailed: bool


class TaskOut(Schema):
    """What an annotator sees. `task_id` is the task's number in its project (never its
    database id); a blind project gives no model name, and no system prompt unless all its
    runs share it."""

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


def _fields(payload: ProjectIn) -> dict:
    """The project's settings from the body; no questions, or an empty list, keeps them."""
    return payload.dict(exclude={"runs"}) | {"questions": payload.questions or None}


@router.get("/projects", response=list[ProjectOut])
def list_projects(request):
    return visible_projects(request.user)


@router.post("/projects", response={201: ProjectOut})
def create_project(request, payload: ProjectIn):
    """A new project over the given runs (managers); questions default to the usual ones."""
    project, _ = actions.create_project(request.user, _fields(payload), payload.runs)
    return Status(201, project)


@router.post("/runs/{run_id}/label", response={201: ProjectOut})
def label_run(request, run_id: Id):
    """Label this run: a labeling project over the run's outputs, default questions
    (managers)."""
    project, _ = actions.label_run(request.user, run_id)
    return Status(201, project)


@router.put("/projects/{project_id}", response=ProjectOut)
def update_project(request, project_id: Id, payload: ProjectIn):
    """Replace a project's settings (owners); new runs' outputs join its annotation queue.
    Its kind cannot change once it has items; adding runs takes the manager permission."""
    project, _ = actions.update_project(request.user, project_id, _fields(payload), payload.runs)
    return project


@router.post("/projects/{project_id}/sync", response=dict)
def sync_project(request, project_id: Id):
    """Add the outputs its runs have finished since (owners): {"added": n}."""
    return {"added": actions.sync_project(request.user, project_id)}


@router.get("/projects/{project_id}/disagreements", response=list[int])
def disagreements(request, project_id: Id):
    """Numbers (`task_id`) of the tasks whose annotators disagree, for review (reviewers)."""
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
    """Put someone in the project, by `username` or `email` (owners); 404 for an unknown
    one (a manager creates the account: POST /api/projects/{id}/people)."""
    if (payload.username is None) == (payload.email is None):
        raise HttpError(422, "Give either username or email.")
    who = payload.username if payload.username is not None else payload.email
    try:
        member = actions.add_member(request.user, project_id, who, payload.role)
    except actions.NoSuchPerson as exc:
        raise HttpError(404, str(exc)) from None
    return Status(201, {"username": member.user.username, "role": member.role})


@router.patch("/projects/{project_id}/members/{username}", response=dict)
def set_member_role(request, project_id: Id, username: str, payload: RoleIn):
    """Change a member's role (owners)."""
    try:
        member = actions.set_member_role(request.user, project_id, username, payload.role)
    except actions.NoSuchPerson as exc:
        raise HttpError(404, str(exc)) from None
    return {"username": member.user.username, "role": member.role}


@router.post("/projects/{project_id}/people", response={201: InvitationOut})
def invite_person(request, project_id: Id, payload: PersonIn):
    """Create an account and put it in the project (owners with the manager permission):
    the answer carries its one-time set-password link, e-mailed too when the site sends
    e-mail. 422 for a taken or invalid name or address."""
    invitation = actions.invite_person(
        request.user,
        project_id,
        payload.username,
        payload.email,
        payload.role,
        request.build_absolute_uri("/"),
    )
    person = invitation.member.user
    return Status(
        201,
        {
            "username": person.username,
            "email": person.email,
            "role": invitation.member.role,
            "set_password_link": invitation.link,
            "emailed": invitation.emailed,
        },
    )


@router.delete("/projects/{project_id}/members/{username}", response={204: None})
def remove_member(request, project_id: Id, username: str):
    """Take someone off the project (owners); their labels stay."""
    try:
        actions.remove_member(request.user, project_id, username)
    except actions.NoSuchPerson as exc:
        raise HttpError(404, str(exc)) from None
    return Status(204, None)


def _task_out(annotation: Annotation) -> dict:
    return _task_view(annotation.task, annotation)


def _task_view(task: Task, annotation: Annotation | None) -> dict:
    """A task as the caller sees it, with their own answers (none: `{}` and state "")."""
    gens = [task.generation] + ([task.generation_b] if task.generation_b_id else [])
    return {
        "task_id": task.number,
        "messages": prompt_messages(task.project, task),
        "outputs": [g.output for g in gens],
        "answers": annotation.answers if annotation else {},
        "state": annotation.state if annotation else "",
        "models": None if task.project.blind else [g.run.model_config.name for g in gens],
    }


@router.get("/projects/{project_id}/tasks/{task_id}", response=TaskOut)
def get_task(request, project_id: Id, task_id: Id):
    """One task by its number in the project, as the task page shows it: annotators only
    the tasks they hold or labeled (403 for others, 404 outside their projects); blind
    projects hide the models. `answers` and `state` are the caller's own."""
    project = get_project_for_user(request.user, project_id)
    task = get_task_for_user(request.user, project, task_id)
    return _task_view(task, own_annotation(task, request.user))


@router.delete("/projects/{project_id}", response={204: None})
def delete_project(request, project_id: Id):
    """Delete a project (its owners) with its tasks and members; 409 once anything in it is
    labeled (a submitted label or a final answer). Its runs and outputs stay."""
    actions.delete_project(request.user, project_id)
    return Status(204, None)


@router.post("/projects/{project_id}/next", response={200: TaskOut, 204: None})
def next_task(request, project_id: Id):
    """Hold the next item for the caller (or return their current hold); 204 when none."""
    annotation = actions.next_item(request.user, project_id)
    if annotation is None:
        return Status(204, None)
    return _task_out(annotation)


@router.post("/projects/{project_id}/tasks/{task_id}/label", response=LabelOut)
def label_task(request, project_id: Id, task_id: Id, payload: LabelIn):
    saved = actions.submit_label(
        request.user, project_id, task_id, payload.answers, payload.time_spent_s
    )
    return _label_out(saved)


@router.post("/projects/{project_id}/tasks/{task_id}/skip", response={204: None})
def skip_task(request, project_id: Id, task_id: Id):
    actions.skip_item(request.user, project_id, task_id)
    return Status(204, None)


@router.post("/projects/{project_id}/tasks/{task_id}/unskip", response=TaskOut)
def unskip_task(request, project_id: Id, task_id: Id):
    """Undo the caller's own skip: the item is held for them again (409 when they have not
    skipped it, or it has all its annotators since)."""
    return _task_out(actions.unskip_item(request.user, project_id, task_id))


def _label_out(a: Annotation) -> dict:
    return {
        "task_id": a.task.number,
        "annotator": a.annotator.username,
        "state": a.state,
        "answers": a.answers,
        "time_spent_s": a.time_spent_s,
    }


@router.get("/projects/{project_id}/labels", response=list[LabelOut])
def list_labels(request, project_id: Id):
    """Reviewers and owners: every label; annotators: their own."""
    project = get_project_for_user(request.user, project_id)
    labels = Annotation.objects.filter(task__project=project).select_related("annotator", "task")
    if project.role == Role.ANNOTATOR:
        labels = labels.filter(annotator=request.user)
    return [_label_out(a) for a in labels.order_by("task__number", "annotator_id")]


@router.post("/projects/{project_id}/tasks/{task_id}/final", response=dict)
def set_final(request, project_id: Id, task_id: Id, payload: LabelIn):
    task = actions.set_final_label(request.user, project_id, task_id, payload.answers)
    return {"task_id": task.number, "final": task.final}


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
        # when the ratings were fitted; "updating" while a worker recounts newer votes, whose
        # point estimates are already here and whose intervals count `intervals_votes`
        "computed_at": board.computed_at,
        "updating": board.stale,
        "intervals_votes": board.intervals_votes,
        "models": [
            {k: (float(v) if hasattr(v, "item") else v) for k, v in vars(r).items()}
            for r in board.rows
        ],
    }
