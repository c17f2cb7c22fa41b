"""The comparison tests' project: two models' finished runs over six items, six pairs."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.cache import cache

from annotate.comparisons.pairs import compare_questions
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectKind
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import make_dataset


@pytest.fixture
def compare_project(owner, demo_model_path):
    dataset = make_dataset(owner, 6)
    runs = []
    for name in ("local-small", "api-large"):
        config = ModelConfig.objects.create(
            name=name, backend="mlx", model=str(demo_model_path), owner=owner
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(status=GenerationStatus.DONE, output=f"answer from {name}")
        runs.append(run)
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner, overlap=1)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    assert sync_tasks(project) == 6
    return project


@pytest.fixture(autouse=True)
def _empty_cache():
    """The process-local cache outlives each test's database, whose ids repeat: the
    leaderboard's refresh requests are remembered per project id."""
    cache.clear()
