"""GET /api/items/{id} and GET /api/projects/{id}/tasks/{number}: who may read which."""

from __future__ import annotations

import pytest

from annotate.labeling import actions as labeling
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner, mlx_config, annotator, reviewer):
    project = make_project(owner, mlx_config, n=3, overlap=1, blind=True)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    return project


@pytest.fixture
def held(project, annotator):
    """The task the annotator holds, and one they have never seen."""
    task = labeling.next_item(annotator, project.pk).task
    return task, project.tasks.exclude(pk=task.pk).first()


def get(client, user, url: str):
    client.force_login(user)
    return client.get(url)


def test_an_annotator_reads_the_item_they_hold_and_no_other(client, annotator, held):
    mine, other = held
    got = get(client, annotator, f"/api/items/{mine.generation.item_id}")
    assert got.status_code == 200 and got.json()["prompt"] == mine.generation.item.prompt
    assert get(client, annotator, f"/api/items/{other.generation.item_id}").status_code == 404


def test_reviewers_and_managers_read_every_item_of_the_project(client, reviewer, owner, held):
    for user in (reviewer, owner):
        for task in held:
            response = get(client, user, f"/api/items/{task.generation.item_id}")
            assert response.status_code == 200, user


def test_outsiders_and_strangers_read_no_item(client, outsider, held):
    url = f"/api/items/{held[0].generation.item_id}"
    assert client.get(url).status_code == 401
    assert get(client, outsider, url).status_code == 404
    assert get(client, outsider, "/api/items/999999").status_code == 404
    assert get(client, outsider, "/api/items/0").status_code == 422


def test_an_annotator_gets_their_task_by_number_as_next_gave_it(client, annotator, project):
    client.force_login(annotator)
    given = client.post(f"/api/projects/{project.pk}/next").json()
    got = client.get(f"/api/projects/{project.pk}/tasks/{given['task_id']}")
    assert got.status_code == 200 and got.json() == given
    assert got.json()["models"] is None  # blind: no model name


def test_an_annotator_cannot_open_a_task_not_theirs(client, annotator, project, held):
    url = f"/api/projects/{project.pk}/tasks/{held[1].number}"
    assert get(client, annotator, url).status_code == 403
    # The page answers the same.
    assert client.get(f"/projects/{project.pk}/tasks/{held[1].number}/").status_code == 403


def test_a_reviewer_opens_any_task_without_answers_of_their_own(client, reviewer, project, held):
    got = get(client, reviewer, f"/api/projects/{project.pk}/tasks/{held[1].number}")
    assert got.status_code == 200
    assert got.json()["answers"] == {} and got.json()["state"] == ""
    assert got.json()["outputs"] == [held[1].generation.output]


def test_a_task_outside_the_callers_projects_or_numbers_is_a_404(client, outsider, project, held):
    url = f"/api/projects/{project.pk}/tasks/{held[0].number}"
    assert get(client, outsider, url).status_code == 404
    client.force_login(project.owner)
    missing = max(project.tasks.values_list("number", flat=True)) + 1
    assert client.get(f"/api/projects/{project.pk}/tasks/{missing}").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/tasks/abc").status_code == 422


def test_an_open_project_names_the_models(client, owner, project, held):
    project.blind = False
    project.save(update_fields=("blind",))
    got = get(client, owner, f"/api/projects/{project.pk}/tasks/{held[0].number}").json()
    assert got["models"] == [held[0].generation.run.model_config.name]
