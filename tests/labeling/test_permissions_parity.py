"""The page and the API allow and refuse the same people, for every labeling action: one rule
in annotate.labeling.actions. Each action is tried by each persona through both doors, at
their literal URLs (the page with a session, the API with a personal token), and the
database says whether it happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

import pytest

from annotate.accounts.models import ApiToken
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectMember
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.conftest import join, make_dataset, make_project

pytestmark = pytest.mark.django_db

PERSONAS = ("outsider", "annotator", "reviewer", "lead", "manager", "superuser")
DOORS = ("page", "api")
IN_PROJECT = {"annotator", "reviewer", "lead", "superuser"}
OWNERS = {"lead", "superuser"}  # the project's owner (no manager permission) and a superuser


@dataclass
class World:
    project: Project
    people: dict
    client: object
    door: str
    persona: str

    @property
    def user(self):
        return self.people[self.persona]

    @property
    def url(self) -> str:
        prefix = "/api/projects" if self.door == "api" else "/projects"
        return f"{prefix}/{self.project.pk}"

    @property
    def run_ids(self) -> list[int]:
        return list(self.project.runs.values_list("pk", flat=True))

    def held_task(self) -> int:
        """An item the persona holds, given out by the annotation queue itself (so that only
        the door's rule decides)."""
        return annotation_queue.next_task(self.project, self.user).task.number

    def api(self, method: str, path: str, body: dict | None = None):
        send = getattr(self.client, method)
        if body is None:
            return send(path)
        return send(path, body, content_type="application/json")

    def page_post(self, path: str, data: dict | None = None):
        return self.client.post(path, data or {})


def project_form(name: str, run_ids: list[int], kind: str = "label") -> dict:
    return {
        "name": name,
        "kind": kind,
        "overlap": "2",
        "hold_s": "900",
        "blind": "on",
        "runs": run_ids,
        "q-TOTAL_FORMS": "2",
        "q-INITIAL_FORMS": "0",
        "q-0-label": "Quality",
        "q-0-kind": "rating",
        "q-0-min": "1",
        "q-0-max": "5",
        "q-0-required": "on",
        "q-1-label": "Correct",
        "q-1-kind": "passfail",
        "q-1-required": "on",
    }


LABEL = {"quality": 4, "correct": "pass"}


def create(w: World):
    if w.door == "api":
        return w.api("post", "/api/projects", {"name": "Fresh", "runs": w.run_ids})
    return w.page_post("/projects/new/", project_form("Fresh", w.run_ids))


def update(w: World):
    if w.door == "api":
        return w.api("put", w.url, {"name": "Renamed", "overlap": 2, "runs": w.run_ids})
    return w.page_post(f"{w.url}/edit/", project_form("Renamed", w.run_ids))


def sync(w: World):
    w.project.tasks.order_by("pk").last().delete()  # an output not in the queue yet
    return w.page_post(f"{w.url}/sync/") if w.door == "page" else w.api("post", f"{w.url}/sync")


def add_member(w: World):
    if w.door == "api":
        return w.api("post", f"{w.url}/members", {"username": "newbie", "role": "reviewer"})
    return w.page_post(f"{w.url}/members/", {"username": "newbie", "role": "reviewer"})


def remove_member(w: World):
    if w.door == "api":
        return w.api("delete", f"{w.url}/members/bert")
    member = ProjectMember.objects.get(project=w.project, user__username="bert")
    return w.page_post(f"{w.url}/members/{member.pk}/remove/")


def next_item(w: World):
    if w.door == "api":
        return w.api("post", f"{w.url}/next")
    return w.client.get(f"{w.url}/next/")


def submit(w: World):
    task = w.held_task()
    if w.door == "api":
        return w.api("post", f"{w.url}/tasks/{task}/label", {"answers": LABEL})
    return w.page_post(f"{w.url}/tasks/{task}/", {k: str(v) for k, v in LABEL.items()})


def skip(w: World):
    task = w.held_task()
    if w.door == "api":
        return w.api("post", f"{w.url}/tasks/{task}/skip")
    return w.page_post(f"{w.url}/tasks/{task}/skip/")


def set_final(w: World):
    task = w.project.tasks.order_by("pk").first().number
    if w.door == "api":
        return w.api("post", f"{w.url}/tasks/{task}/final", {"answers": LABEL})
    return w.page_post(f"{w.url}/review/{task}/", {k: str(v) for k, v in LABEL.items()})


def mine(w: World, state: str) -> bool:
    return Annotation.objects.filter(
        task__project=w.project, annotator=w.user, state=state
    ).exists()


@dataclass
class Action:
    name: str
    allowed: set[str]
    call: Callable[[World], object]
    done: Callable[[World], bool]  # what the database says after the call


ACTIONS = [
    Action(
        "create project",
        {"manager", "superuser"},
        create,
        lambda w: Project.objects.filter(name="Fresh", owner=w.user).exists(),
    ),
    Action(
        "update project",
        OWNERS,
        update,
        lambda w: Project.objects.get(pk=w.project.pk).name == "Renamed",
    ),
    Action("sync", OWNERS, sync, lambda w: w.project.tasks.count() == 3),
    Action(
        "add member",
        OWNERS,
        add_member,
        lambda w: w.project.members.filter(user__username="newbie", role="reviewer").exists(),
    ),
    Action(
        "remove member",
        OWNERS,
        remove_member,
        lambda w: not w.project.members.filter(user__username="bert").exists(),
    ),
    Action("next item", IN_PROJECT, next_item, lambda w: mine(w, AnnotationState.HELD)),
    Action("submit", IN_PROJECT, submit, lambda w: mine(w, AnnotationState.SUBMITTED)),
    Action("skip", IN_PROJECT, skip, lambda w: mine(w, AnnotationState.SKIPPED)),
    Action(
        "set final label",
        {"reviewer", "lead", "superuser"},
        set_final,
        lambda w: w.project.tasks.filter(final=LABEL).exists(),
    ),
]


@pytest.fixture
def people(owner, annotator, annotator2, reviewer, outsider, django_user_model) -> dict:
    lead = django_user_model.objects.create_user("lead", password="pw-lead-123")
    root = django_user_model.objects.create_superuser("root", password="pw-root-123")
    django_user_model.objects.create_user("newbie", password="pw-newbie-123")
    return {
        "outsider": outsider,
        "annotator": annotator,
        "reviewer": reviewer,
        "lead": lead,
        "manager": owner,  # the "Project owners" group: manages, but is not in this project
        "superuser": root,
        "bert": annotator2,
    }


@pytest.fixture
def project(people, mlx_config) -> Project:
    """Three items, led by someone without the manager permission; annie annotates, bert
    too, rita reviews."""
    project = make_project(people["manager"], mlx_config, n=3, overlap=2)
    project.owner = people["lead"]
    project.save(update_fields=("owner",))
    join(project, people["annotator"])
    join(project, people["bert"])
    join(project, people["reviewer"], "reviewer")
    return project


def enter(client, user, door: str) -> None:
    """Sign in as the browser does, or carry a personal token as a script does."""
    if door == "page":
        client.force_login(user)
    else:
        _, secret = ApiToken.issue(user, "parity")
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name.replace(" ", "-"))
def test_the_page_and_the_api_allow_the_same_callers(
    client, people, project, action, persona, door
):
    world = World(project, people, client, door, persona)
    enter(client, world.user, door)
    response = action.call(world)
    allowed = persona in action.allowed
    assert action.done(world) == allowed, (response.status_code, response.content[:300])
    if allowed:
        assert response.status_code < 400, response.content[:300]
    else:  # 404 for those outside the project (they do not learn it exists), else 403
        assert response.status_code in (403, 404)


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_nobody_changes_the_kind_of_a_project_with_items(client, people, project, persona, door):
    world = World(project, people, client, door, persona)
    enter(client, world.user, door)
    if door == "api":
        body = {"name": "Quality", "kind": "compare", "runs": world.run_ids}
        response = world.api("put", world.url, body)
    else:
        response = world.page_post(
            f"{world.url}/edit/", project_form("Quality", world.run_ids, kind="compare")
        )
    project.refresh_from_db()
    assert project.kind == "label"
    if persona not in OWNERS:
        assert response.status_code in (403, 404)
    elif door == "api":
        assert response.status_code == 409
        assert response.json()["detail"] == "A project with items cannot change its kind."
    else:
        assert response.status_code == 400
        assert "A project with items cannot change its kind." in response.content.decode()


@pytest.fixture
def other_run(people, mlx_config):
    """A finished run the project does not take."""
    owner = people["manager"]
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, 2).pk, mlx_config.pk)
    run.generations.update(status=GenerationStatus.DONE, output="def other(): ...")
    return run


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("persona", sorted(OWNERS))
def test_adding_runs_takes_the_manager_permission(
    client, people, project, other_run, persona, door
):
    world = World(project, people, client, door, persona)
    enter(client, world.user, door)
    runs = [*world.run_ids, other_run.pk]
    if door == "api":
        response = world.api("put", world.url, {"name": "Quality", "overlap": 2, "runs": runs})
    else:
        response = world.page_post(f"{world.url}/edit/", project_form("Quality", runs))
    added = project.runs.filter(pk=other_run.pk).exists()
    if persona == "superuser":
        assert added and response.status_code < 400
        assert project.tasks.count() == 5
    else:
        # The page does not offer the run (a form error); the API refuses it.
        assert not added and response.status_code == (403 if door == "api" else 400)
        assert project.tasks.count() == 3


def test_a_lead_without_the_manager_permission_is_not_shown_other_runs(
    client, people, project, other_run
):
    client.force_login(people["lead"])
    page = client.get(f"/projects/{project.pk}/edit/").content.decode()
    assert f"Run {project.runs.get().pk}:" in page
    assert f"Run {other_run.pk}:" not in page


@pytest.mark.parametrize("persona", PERSONAS)
def test_both_lists_show_the_same_projects(client, people, project, persona):
    user = people[persona]
    client.force_login(user)
    listed = [p["id"] for p in client.get("/api/projects").json()]
    page = client.get("/projects/").content.decode()
    assert listed == ([project.pk] if persona in IN_PROJECT else [])
    assert (f"/projects/{project.pk}/" in page) == (persona in IN_PROJECT)


@pytest.mark.parametrize("door", DOORS)
def test_an_unknown_person_is_refused_at_both_doors_in_their_own_words(
    client, people, project, door
):
    world = World(project, people, client, door, "lead")
    enter(client, world.user, door)
    if door == "api":
        response = world.api("post", f"{world.url}/members", {"username": "ghost"})
        assert response.status_code == 404
        assert response.json()["detail"] == "No user named 'ghost'."
    else:
        response = client.post(
            f"{world.url}/members/", {"username": "ghost", "role": "annotator"}, follow=True
        )
        assert "No user named &#x27;ghost&#x27;." in response.content.decode()
    assert not project.members.filter(user__username="ghost").exists()


def test_the_api_refuses_a_run_that_does_not_exist(client, people, project):
    enter(client, people["superuser"], "api")
    body = {"name": "Quality", "runs": [*project.runs.values_list("pk", flat=True), 999]}
    response = client.put(f"/api/projects/{project.pk}", body, content_type="application/json")
    assert response.status_code == 422 and response.json()["detail"] == "No run with id 999."
