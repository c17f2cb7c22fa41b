"""Issue 13, finding 4: the sides of a blind comparison. They alternated strictly for each
pair of models, so an annotator who recognised one model once knew the side of every other
pair; now each pair's side is drawn at random, still balanced over all pairs."""

from __future__ import annotations

from unittest import mock

import pytest

from annotate.comparisons.pairs import compare_questions, plan_pairs
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectKind, Task
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


def _add_runs(owner, project, configs, n: int) -> None:
    dataset = make_dataset(owner, n)
    for config in configs:
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(status=GenerationStatus.DONE, output=f"from {config.name}")
        project.runs.add(run)


def _alpha_left(project) -> list[bool]:
    """Whether alpha is on the left, task by task in the order they were made."""
    tasks = Task.objects.filter(project=project).order_by("pk")
    names = tasks.values_list("generation__run__model_config__name", flat=True)
    return [name == "alpha" for name in names]


def _periodic(seq: list[bool], period: int) -> bool:
    return all(seq[i] == seq[i + period] for i in range(len(seq) - period))


def test_sides_are_random_and_balanced_over_every_sync(owner):
    configs = [
        ModelConfig.objects.create(name=name, backend="mlx", model="x", owner=owner)
        for name in ("alpha", "beta")
    ]
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner)
    project.questions = compare_questions(project)
    project.save()
    _add_runs(owner, project, configs, 200)
    assert sync_tasks(project) == 200
    sides = _alpha_left(project)
    assert abs(sum(sides) - 100) <= 1
    # Not predictable from the order: no period up to 20 (strict alternation has period 2).
    # A random balanced order has one with a chance of about 2^-180.
    assert not any(_periodic(sides, p) for p in range(1, 21))

    # Items added later keep the balance over all pairs, old and new.
    _add_runs(owner, project, configs, 51)
    assert sync_tasks(project) == 51
    sides = _alpha_left(project)
    assert len(sides) == 251 and abs(sum(sides) - (251 - sum(sides))) <= 1
    assert sync_tasks(project) == 0


def test_planned_sides_make_up_for_the_pairs_already_shown():
    outputs = {item: {1: 10 * item + 1, 2: 10 * item + 2} for item in range(10)}
    pairs = plan_pairs(outputs, None, left_before={(1, 2): (7, 1)})
    model_1_left = sum(left % 10 == 1 for left, _ in pairs)
    assert model_1_left == 2  # 7 + 2 = 9 of 18 on the left
    skipped = plan_pairs(outputs, None, skip={(11, 12), (22, 21)})
    assert len(skipped) == 8 and not {(11, 12), (12, 11), (21, 22), (22, 21)} & set(skipped)
