"""Label this run (labeling.actions.label_run): from a run's page, a labeling project over
the run's outputs, made by the create-project action; managers only."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from annotate.labeling.actions import label_run
from annotate.labeling.models import Project, ProjectKind, Task
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.conftest import join, make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(owner, mlx_config):
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, 4).pk, mlx_config.pk)
    run.generations.update(status=GenerationStatus.DONE, output="an answer")
    return run


def test_a_manager_makes_a_labeling_project_over_the_run(owner, run):
    project, added = label_run(owner, run.pk)

    assert (project.owner, project.kind) == (owner, ProjectKind.LABEL)
    assert list(project.runs.all()) == [run]
    assert project.questions == DEFAULT_QUESTIONS
    assert project.name == f"Label run {run.pk} on 4 prompts"
    outputs = set(run.generations.values_list("pk", flat=True))
    tasks = Task.objects.filter(project=project)
    assert added == tasks.count() == 4
    assert set(tasks.values_list("generation_id", flat=True)) == outputs


def test_the_run_page_offers_it_and_its_button_makes_the_project(owner_client, run):
    page = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert f'action="/runs/{run.pk}/label/"' in page and "Label this run" in page

    response = owner_client.post(f"/runs/{run.pk}/label/")
    project = Project.objects.get(runs=run)
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    shown = owner_client.get(response["Location"]).content.decode()
    assert "4 items to label" in shown


def test_only_managers_may(client, annotator, run):
    with pytest.raises(PermissionDenied):
        label_run(annotator, run.pk)
    client.force_login(annotator)
    assert client.post(f"/runs/{run.pk}/label/").status_code == 403
    assert "Label this run" not in client.get(f"/runs/{run.pk}/").content.decode()
    assert not Project.objects.exists()


def test_a_run_that_does_not_exist_is_a_404(owner, run):
    with pytest.raises(Http404):
        label_run(owner, run.pk + 100)
    assert not Project.objects.exists()


def test_the_api_does_the_same(client, owner, annotator, run):
    client.force_login(annotator)
    assert client.post(f"/api/runs/{run.pk}/label").status_code == 403
    client.force_login(owner)
    made = client.post(f"/api/runs/{run.pk}/label")
    assert made.status_code == 201
    project = Project.objects.get(pk=made.json()["id"])
    assert list(project.runs.all()) == [run] and project.tasks.count() == 4
    assert client.post(f"/api/runs/{run.pk + 100}/label").status_code == 404


def test_its_name_does_not_tell_annotators_the_model(client, owner, annotator, run):
    """The project is blind, and annotators see its name: the model's is not in it."""
    run.model_config.name = "secret-model-x"
    run.model_config.save(update_fields=["name"])
    project, _ = label_run(owner, run.pk)
    join(project, annotator)
    assert project.blind
    client.force_login(annotator)
    for url in ("/", f"/projects/{project.pk}/", "/projects/"):
        page = client.get(url).content.decode()
        assert f"Label run {run.pk} on 4 prompts" in page
        assert "secret-model-x" not in page
