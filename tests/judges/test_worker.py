"""A judge run through a real `celery worker` and the demo MLX model, a local judge: its answers
are poor, and every one that does not fit is a failed item with the reason, never a label."""

from __future__ import annotations

import pytest

from annotate.judges.actions import attach_judge, start_judging
from annotate.judges.answers import AnswerInvalid, parse_answer
from annotate.judges.models import JudgeLabel
from inference.models import GenerationStatus, RunStatus
from tests.conftest import make_project, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_local_judge_runs_through_a_worker_and_its_junk_is_never_a_label(
    owner, mlx_config, start_worker
):
    project = make_project(owner, mlx_config, n=6)
    judge = attach_judge(owner, project.pk, {"model_config": mlx_config.pk})
    start_worker()
    judge_run = start_judging(owner, judge.pk)
    run = judge_run.run
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    gens = run.generations.all()

    def collected() -> bool:
        run.refresh_from_db()
        failed = gens.filter(status=GenerationStatus.FAILED).count()
        return not run.is_active and failed + labels.count() == 6

    wait_for(collected, what="the judge run to end and its answers to be read")
    assert gens.filter(status=GenerationStatus.DONE).count() == labels.count()
    for gen in gens.filter(status=GenerationStatus.FAILED):
        assert gen.error.startswith("Judge answer refused: ")
        assert gen.output_tokens  # it was generated and measured, then refused
        with pytest.raises(AnswerInvalid):
            parse_answer(gen.output, project.questions, pairwise=False)
    for label in labels:  # whatever the demo model got right is a valid label
        assert set(label.answers) >= {"quality", "correct"}
    expected = RunStatus.COMPLETED_WITH_ERRORS if labels.count() < 6 else RunStatus.COMPLETED
    assert run.status == expected
