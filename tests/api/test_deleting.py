"""DELETE /api/datasets/{id} and DELETE /api/projects/{id}: who may, and what is refused
so that no labeled work goes."""

from __future__ import annotations

import pytest

from annotate.datasets.models import Dataset, Item
from annotate.labeling import actions as labeling
from annotate.labeling.models import Project, Task
from inference.models import Generation, Run
from tests.conftest import join, make_dataset, make_project

pytestmark = pytest.mark.django_db

ANSWERS = {"quality": 4, "correct": "pass"}


def delete(client, user, url: str):
    client.force_login(user)
    return client.delete(url)


@pytest.fixture
def manager2(django_user_model, owner):
    other = django_user_model.objects.create_user("manager2", password="pw-manager2-123")
    other.groups.set(owner.groups.all())
    return other


def test_its_creator_deletes_a_dataset_no_run_used(client, owner):
    dataset = make_dataset(owner, 3)
    assert delete(client, owner, f"/api/datasets/{dataset.pk}").status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not Item.objects.filter(dataset_id=dataset.pk).exists()
    assert delete(client, owner, f"/api/datasets/{dataset.pk}").status_code == 404


def test_a_dataset_with_runs_is_kept_with_a_409(client, owner, mlx_config):
    project = make_project(owner, mlx_config, n=2)
    dataset = project.runs.get().dataset
    refused = delete(client, owner, f"/api/datasets/{dataset.pk}")
    assert refused.status_code == 409 and "runs" in refused.json()["detail"]
    assert dataset.items.count() == 2 and Run.objects.filter(dataset=dataset).exists()


def test_only_its_creator_or_staff_delete_a_dataset(
    client, owner, manager2, annotator, django_user_model
):
    dataset = make_dataset(owner, 1)
    url = f"/api/datasets/{dataset.pk}"
    assert client.delete(url).status_code == 401
    assert delete(client, annotator, url).status_code == 403
    assert delete(client, manager2, url).status_code == 403
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    staff = django_user_model.objects.create_superuser("root", password="pw-root-123")
    assert delete(client, staff, url).status_code == 204


def test_an_owner_deletes_an_unlabeled_project_and_its_runs_stay(
    client, owner, mlx_config, annotator
):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    labeling.next_item(annotator, project.pk)  # held, not labeled
    run = project.runs.get()
    assert delete(client, owner, f"/api/projects/{project.pk}").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Task.objects.filter(project_id=project.pk).exists()
    assert Generation.objects.filter(run=run).count() == 2


def test_a_project_with_a_label_or_a_final_answer_is_kept_with_a_409(
    client, owner, mlx_config, annotator
):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    task = labeling.next_item(annotator, project.pk).task
    labeling.submit_label(annotator, project.pk, task.number, ANSWERS)
    refused = delete(client, owner, f"/api/projects/{project.pk}")
    assert refused.status_code == 409 and "labels" in refused.json()["detail"]
    assert project.tasks.count() == 2

    other = make_project(owner, mlx_config, n=1)
    other.tasks.update(final=ANSWERS)
    assert delete(client, owner, f"/api/projects/{other.pk}").status_code == 409
    assert Project.objects.filter(pk=other.pk).exists()


def test_only_owners_delete_a_project(client, owner, mlx_config, annotator, reviewer, outsider):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    url = f"/api/projects/{project.pk}"
    assert client.delete(url).status_code == 401
    assert delete(client, annotator, url).status_code == 403
    assert delete(client, reviewer, url).status_code == 403
    assert delete(client, outsider, url).status_code == 404
    assert Project.objects.filter(pk=project.pk).exists()
    join(project, outsider, "owner")
    assert delete(client, outsider, url).status_code == 204
