"""From a judge run's outputs to judge labels: scripted judges, refused answers, retries."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from annotate.judges.labels import consistency
from annotate.judges.models import JudgeLabel
from annotate.labeling.models import Annotation, Task
from inference.actions import retry_failed
from inference.models import GenerationStatus, RunStatus
from tests.conftest import make_project
from tests.judges.conftest import answer, start

pytestmark = pytest.mark.django_db


def first_position(gen) -> str:
    return json.dumps({"reasoning": "The first one.", "verdict": "a"})


def fair(gen) -> str:
    """Picks the larger model's answer wherever it is shown."""
    task = Task.objects.select_related("generation__run__model_config").get(
        pk=gen.item.metadata["task"]
    )
    left_is_large = task.generation.run.model_config.name == "api-large"
    a_is_large = left_is_large == (gen.item.metadata["order"] == "ab")
    return json.dumps({"reasoning": "The larger one.", "verdict": "a" if a_is_large else "b"})


def test_a_judge_that_always_picks_the_first_position_is_never_consistent(
    owner, compare_project, django_capture_on_commit_callbacks
):
    config = compare_project.runs.first().model_config
    judge, judge_run = start(owner, compare_project, config)
    assert judge_run.run.generations.count() == 12  # six pairs, both orders
    answer(judge_run, first_position, django_capture_on_commit_callbacks)

    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    assert labels.count() == 6
    assert {(lb.answers["verdict"], lb.consistent) for lb in labels} == {("tie", False)}
    rate = consistency(labels)
    assert (rate.consistent, rate.pairs, rate.rate) == (0, 6, 0.0)
    assert judge_run.run.status == RunStatus.COMPLETED


def test_a_flipped_verdict_is_left_out_when_the_judge_says_so(
    owner, compare_project, django_capture_on_commit_callbacks
):
    config = compare_project.runs.first().model_config
    _, judge_run = start(owner, compare_project, config, inconsistent="drop")
    answer(judge_run, first_position, django_capture_on_commit_callbacks)
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    assert [lb.answers for lb in labels] == [{}] * 6  # no verdict: it counts nowhere
    assert all(lb.consistent is False for lb in labels)


def test_a_fair_judge_is_always_consistent_and_its_verdicts_name_the_right_side(
    owner, compare_project, django_capture_on_commit_callbacks
):
    config = compare_project.runs.first().model_config
    _, judge_run = start(owner, compare_project, config)
    answer(judge_run, fair, django_capture_on_commit_callbacks)
    labels = JudgeLabel.objects.filter(judge_run=judge_run).select_related(
        "task__generation__run__model_config"
    )
    assert consistency(labels).rate == 1.0
    for label in labels:
        left_large = label.task.generation.run.model_config.name == "api-large"
        assert label.answers == {"verdict": "left" if left_large else "right"}
        assert label.consistent is True
        assert "Shown in order: The larger one." in label.reasoning
    # judge labels are never people's votes
    assert not Annotation.objects.filter(task__project=compare_project).exists()


def test_junk_answers_are_failed_items_with_the_reason_and_a_retry_adds_only_the_missing(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    project = make_project(owner, mlx_config, n=4)
    _, judge_run = start(owner, project, mlx_config)
    gens = list(judge_run.run.generations.order_by("item__index"))
    junk = {gens[0].pk: "def answer_0(): return 0", gens[1].pk: '{"reasoning": "x", "quality": 7}'}
    good = {"reasoning": "Fine.", "quality": 4, "correct": "pass"}

    answer(
        judge_run, lambda g: junk.get(g.pk, json.dumps(good)), django_capture_on_commit_callbacks
    )
    run = judge_run.run
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    failed = {g.pk: g.error for g in run.generations.filter(status=GenerationStatus.FAILED)}
    assert set(failed) == set(junk)
    assert "not one JSON object" in failed[gens[0].pk]
    assert "quality: 7 is not from 1 to 5" in failed[gens[1].pk]
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    assert labels.count() == 2
    assert {lb.task_id for lb in labels} == {g.item.metadata["task"] for g in gens[2:]}
    assert all(lb.answers == {"quality": 4, "correct": "pass"} for lb in labels)
    first_ids = set(labels.values_list("pk", flat=True))

    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        assert retry_failed(owner, run.pk) == 2
    answer(judge_run, lambda g: json.dumps(good), django_capture_on_commit_callbacks)
    assert judge_run.run.status == RunStatus.COMPLETED
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    assert labels.count() == 4
    assert first_ids <= set(labels.values_list("pk", flat=True))  # the first labels kept


def test_a_run_that_finishes_again_adds_no_label_twice(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    from annotate.judges.labels import collect_labels

    project = make_project(owner, mlx_config, n=3)
    _, judge_run = start(owner, project, mlx_config)
    good = json.dumps({"reasoning": "ok", "quality": 3, "correct": "fail"})
    answer(judge_run, lambda g: good, django_capture_on_commit_callbacks)
    assert collect_labels(judge_run) == 0
    assert JudgeLabel.objects.filter(judge_run=judge_run).count() == 3
