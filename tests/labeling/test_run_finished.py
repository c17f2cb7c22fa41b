"""Generation announces a finished run; labeling listens: the run's outputs join the projects
that take it, once the run's end is committed."""

from __future__ import annotations

import pytest

from annotate.labeling.models import Project, Task
from inference.lifecycle import finish_run_if_done
from inference.models import Generation, GenerationStatus, Run, RunStatus
from inference.signals import run_finished
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(owner, mlx_config):
    """A project taking a running run whose outputs are all written, none synced yet."""
    dataset = make_dataset(owner, 3)
    run = Run.objects.create(
        dataset=dataset,
        model_config=mlx_config,
        params=mlx_config.params(),
        status=RunStatus.RUNNING,
        total=3,
        created_by=owner,
    )
    Generation.objects.bulk_create(
        Generation(run=run, item=item, status=GenerationStatus.DONE, output="done")
        for item in dataset.items.all()
    )
    project = Project.objects.create(name="Quality", owner=owner)
    project.runs.add(run)
    return project


def test_a_finished_runs_outputs_join_its_projects(project, django_capture_on_commit_callbacks):
    run = project.runs.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert finish_run_if_done(run) is False
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert Task.objects.filter(project=project).count() == 3


def test_labeling_hears_of_it_only_after_commit(project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        finish_run_if_done(project.runs.get())
        assert not Task.objects.filter(project=project).exists()
    assert len(callbacks) == 1


def test_a_failing_receiver_never_undoes_the_runs_end(project, django_capture_on_commit_callbacks):
    def broken(sender, **kwargs):
        raise RuntimeError("a receiver's bug")

    run = project.runs.get()
    run_finished.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert finish_run_if_done(run) is False
    finally:
        run_finished.disconnect(broken)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert Task.objects.filter(project=project).count() == 3
