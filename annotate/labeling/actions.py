"""What people and scripts do with labeling projects: create and change a project, add and
remove its members (by user name or e-mail), change their roles, invite someone new, bring
in its runs' new outputs, take the next item, label it, skip it (and undo the skip), set the
final label. The pages and the API call these alike.

Each checks who may act: creating a project, and adding runs to one, takes the manager
permission (inference.access), and so does creating an account; everything else a role in
the project (annotate.labeling.access: annotator < reviewer < owner; outsiders get a 404).
Refusals are the domain errors (inference.errors: Conflict, Invalid; SchemaError and
QueueError are Invalid), PermissionDenied and Http404.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from annotate.accounts.people import (
    NoSuchAccount,
    create_account,
    find_person,
    send_link,
    set_password_link,
)
from annotate.labeling import annotation_queue
from annotate.labeling.access import (
    attachable_runs,
    get_project_for_user,
    get_task_for_user,
    own_annotation,
)
from annotate.labeling.kinds import questions_for, sync_tasks
from annotate.labeling.models import (
    Annotation,
    AnnotationState,
    Project,
    ProjectKind,
    ProjectMember,
    Role,
    Task,
)
from annotate.labeling.questions import DEFAULT_QUESTIONS, clean_answers
from inference.access import can_manage, get_run_for_user, require_manager
from inference.errors import Conflict, Invalid
from inference.models import Run

# What a person sets on a project; "questions" is the raw schema (None: keep the current one).
PROJECT_FIELDS = frozenset(
    {
        "name",
        "kind",
        "description",
        "guidelines",
        "blind",
        "overlap",
        "hold_s",
        "pairs_per_item",
        "side_ratings",
        "human_sample_per_run",
        "questions",
    }
)
MAX_SPENT_S = 3600.0  # one visit's seconds counted at most (a tab left open overnight)


class NoSuchPerson(Http404):
    """No user of that name, or none in the project: a 404 the doors may word themselves."""


@transaction.atomic
def create_project(user, fields: Mapping, run_ids: Iterable[int] = ()) -> tuple[Project, int]:
    """A new project owned by the caller (managers) over the given runs; returns it and how
    many items it has. Questions left out are the default ones."""
    require_manager(user)
    project = Project(owner=user, questions=DEFAULT_QUESTIONS)
    runs = _runs_to_attach(user, project, run_ids)
    _apply(project, fields)
    project.save()
    project.runs.set(runs)
    project.role = Role.OWNER
    return project, sync_tasks(project)


@transaction.atomic
def label_run(user, run_id: int) -> tuple[Project, int]:
    """Label this run: a labeling project over one run's outputs, with the default
    questions, owned by the caller (managers; 404 for a run that does not exist)."""
    run = get_run_for_user(user, run_id)
    # Blind by default, and annotators see the project's name: it never names the model.
    name = f"Label run {run.pk} on {run.dataset.name}"
    return create_project(user, {"name": name[:200], "kind": ProjectKind.LABEL}, [run.pk])


@transaction.atomic
def update_project(
    user, project_id: int, fields: Mapping, run_ids: Iterable[int]
) -> tuple[Project, int]:
    """Change a project's settings and runs (its owners); new runs' outputs join its
    annotation queue. Returns it and how many items are new. Its kind cannot change once it
    has items (their shape is the kind's), and questions left out are kept."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    if fields.get("kind", project.kind) != project.kind and project.tasks.exists():
        raise Conflict("A project with items cannot change its kind.")
    runs = _runs_to_attach(user, project, run_ids)
    _apply(project, fields)
    project.save()
    project.runs.set(runs)
    return project, sync_tasks(project)


def _apply(project: Project, fields: Mapping) -> None:
    """Set the fields, then the questions the project's kind asks (raises SchemaError)."""
    if unknown := set(fields) - PROJECT_FIELDS:
        raise Invalid(f"Unknown project fields: {', '.join(sorted(unknown))}.")
    if (size := fields.get("human_sample_per_run")) is not None and size < 1:
        raise Invalid("The human sample takes at least 1 item per run (none: every item).")
    for key, value in fields.items():
        if key != "questions":
            setattr(project, key, value)
    given = fields.get("questions")
    project.questions = questions_for(project, project.questions if given is None else given)


def _runs_to_attach(user, project: Project, run_ids: Iterable[int]) -> list[Run]:
    """The runs the project is to take, each one the caller may attach (attachable_runs)."""
    wanted = set(run_ids)
    runs = list(attachable_runs(user, project).filter(pk__in=wanted))
    if missing := wanted - {run.pk for run in runs}:
        if not can_manage(user):  # whether such a run exists is not theirs to learn
            raise PermissionDenied("Adding runs to a project takes the manager permission.")
        raise Invalid(f"No run with id {', '.join(map(str, sorted(missing)))}.")
    return runs


def sync_project(user, project_id: int) -> int:
    """Add the outputs the project's runs have finished since (its owners); how many."""
    return sync_tasks(get_project_for_user(user, project_id, Role.OWNER))


def add_member(user, project_id: int, who: str, role: str) -> ProjectMember:
    """Put someone in the project with a role, or change their role (its owners), found by
    user name or e-mail address. NoSuchPerson for an unknown one: the doors offer to create
    the account (invite_person). A deactivated account is refused."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    _check_role(role)
    try:
        person = find_person(who)
    except NoSuchAccount:
        what = "account with the e-mail" if "@" in who else "user named"
        raise NoSuchPerson(f"No {what} {who.strip()!r}.") from None
    if not person.is_active:
        raise Invalid(f"{person.username}'s account is deactivated: a manager reactivates it.")
    member, _ = ProjectMember.objects.update_or_create(
        project=project, user=person, defaults={"role": role}
    )
    return member


def set_member_role(user, project_id: int, username: str, role: str) -> ProjectMember:
    """Change a member's role in place (its owners); NoSuchPerson for someone not in it."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    _check_role(role)
    member = project.members.select_related("user").filter(user__username=username).first()
    if member is None:
        raise NoSuchPerson(f"{username!r} is not a member of this project.")
    if member.role != role:
        member.role = role
        member.save(update_fields=("role",))
    return member


@dataclass
class Invitation:
    """A new account in a project: the member, its one-time set-password link (for the
    owner to pass on: shown once, never logged) and whether it was also e-mailed."""

    member: ProjectMember
    link: str
    emailed: bool


@transaction.atomic
def invite_person(
    user, project_id: int, username: str, email: str, role: str, site_url: str
) -> Invitation:
    """Create an account for someone new and put them in the project: the project's owners
    who are also managers (making accounts is the instance's business, not one project's).
    The person sets a password by the link and lands in the project; the link is e-mailed
    when the site sends e-mail (settings.EMAIL_HOST). `site_url`: the site's address."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    if not can_manage(user):
        raise PermissionDenied("Creating an account takes the manager permission.")
    _check_role(role)
    person = create_account(username, email)
    member = ProjectMember.objects.create(project=project, user=person, role=role)
    link = set_password_link(person, site_url)
    emailed = send_link(person, link, user, project.name)
    return Invitation(member, link, emailed)


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise Invalid(f"The role is one of {', '.join(Role.values)}.")


def remove_member(user, project_id: int, username: str) -> None:
    """Take someone off the project (its owners); their labels stay."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    if not project.members.filter(user__username=username).delete()[0]:
        raise NoSuchPerson(f"{username!r} is not a member of this project.")


def next_item(user, project_id: int) -> Annotation | None:
    """Hold the next item for the caller (anyone in the project), or give back their
    current hold; None when nothing is left for them."""
    project = get_project_for_user(user, project_id)
    return annotation_queue.next_task(project, user)


def submit_label(
    user, project_id: int, number: int, answers: Mapping, time_spent_s: float = 0
) -> Annotation:
    """Save the caller's answers (a QueryDict or a dict) to an item they hold or labeled
    (the task of that number in the project): a first label or an edit of their own."""
    project = get_project_for_user(user, project_id)
    task = get_task_for_user(user, project, number)
    mine = own_annotation(task, user)
    if mine is None or mine.state == AnnotationState.SKIPPED:
        raise Conflict("This item is not held by you: ask for the next item first.")
    cleaned = clean_answers(project.questions, answers, task.generation.output)
    saved = annotation_queue.submit(mine, cleaned, _seconds(time_spent_s), project)
    saved.task, saved.annotator = task, user  # already fetched: the doors show them
    return saved


def skip_item(user, project_id: int, number: int, time_spent_s: float = 0) -> None:
    """Pass on an item the caller holds: its slot goes to someone else."""
    project = get_project_for_user(user, project_id)
    task = get_task_for_user(user, project, number)
    if mine := own_annotation(task, user):
        annotation_queue.skip(mine, _seconds(time_spent_s))


def unskip_item(user, project_id: int, number: int) -> Annotation:
    """Undo the caller's own skip of an item: they hold it again (for the project's hold
    time), unless it has all its annotators by now (Conflict). Nobody undoes another's skip."""
    project = get_project_for_user(user, project_id)
    task = get_task_for_user(user, project, number)
    mine = own_annotation(task, user)
    if mine is None:
        raise Conflict("You have not skipped this item, so there is no skip to undo.")
    return annotation_queue.unskip(mine, project.hold_s)


def set_final_label(user, project_id: int, number: int, answers: Mapping) -> Task:
    """The reviewed answers of an item (reviewers and owners), checked like a label."""
    project = get_project_for_user(user, project_id, Role.REVIEWER)
    task = get_task_for_user(user, project, number)
    task.final = clean_answers(project.questions, answers, task.generation.output)
    task.reviewed_by, task.reviewed_at = user, timezone.now()
    task.save(update_fields=("final", "reviewed_by", "reviewed_at"))
    return task


def _seconds(value: float) -> float:
    value = float(value)
    return min(max(value, 0.0), MAX_SPENT_S) if math.isfinite(value) else 0.0


@transaction.atomic
def delete_project(user, project_id: int) -> None:
    """Delete a project (its owners), with its tasks, held items and members. A project
    with labeled work (a submitted label or a reviewer's final answer) is refused (409):
    labels are not thrown away by one request. Its runs and their outputs stay."""
    project = get_project_for_user(user, project_id, Role.OWNER)
    labeled = Annotation.objects.filter(task__project=project, state=AnnotationState.SUBMITTED)
    if labeled.exists() or project.tasks.filter(final__isnull=False).exists():
        raise Conflict("The project has labels; nothing was deleted.")
    project.delete()
