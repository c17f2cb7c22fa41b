"""The judge tests' helpers: a judge run's outputs written as a scripted judge would, and the
run ended as a worker ends it (so the receivers run)."""

from __future__ import annotations

from unittest import mock

from django.db import transaction

from annotate.judges.actions import attach_judge, start_judging
from inference.lifecycle import finish_run_if_done
from inference.models import GenerationStatus, RunStatus
from tests.comparisons.conftest import compare_project  # noqa: F401  (a fixture)


def start(owner, project, config, **fields):
    """A judge of the project and its first run, no worker asked for."""
    judge = attach_judge(owner, project.pk, {"model_config": config.pk, **fields})
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        judge_run = start_judging(owner, judge.pk)
    return judge, judge_run


def answer(judge_run, script, capture) -> None:
    """Every pending generation of the judge run answers `script(generation)`, then the run
    ends as a worker ends it, its receivers run."""
    run = judge_run.run
    run.refresh_from_db()
    run.status = RunStatus.RUNNING
    run.save(update_fields=("status",))
    pending = run.generations.filter(status=GenerationStatus.PENDING).select_related("item")
    for gen in pending:
        gen.output, gen.status = script(gen), GenerationStatus.DONE
        gen.save(update_fields=("output", "status"))
    with capture(execute=True), transaction.atomic():
        finish_run_if_done(run)
    run.refresh_from_db()
