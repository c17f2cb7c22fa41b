"""What the pages and the API show of judges: a project's judges with their latest run, a
judge's runs with the generation run's progress and the position consistency."""

from __future__ import annotations

from dataclasses import dataclass

from annotate.judges.labels import Consistency, consistency
from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from inference.models import RunProgress


@dataclass
class RunSummary:
    judge_run: JudgeRun
    progress: RunProgress | None  # None: its generation run was deleted
    labels: int
    consistency: Consistency


def summarize(judge_run: JudgeRun) -> RunSummary:
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    run = judge_run.run
    return RunSummary(
        judge_run,
        run.progress() if run else None,
        labels.count(),
        consistency(labels),
    )


def judges_of(project) -> list[Judge]:
    """The project's judges, each with `latest`: its newest run's summary, or None."""
    judges = list(Judge.objects.filter(project=project).select_related("model_config"))
    for judge in judges:
        latest = judge.runs.select_related("run").first()
        judge.latest = summarize(latest) if latest else None
    return judges


def run_summaries(judge: Judge) -> list[RunSummary]:
    return [summarize(jr) for jr in judge.runs.select_related("run")]


def judge_consistency(judge: Judge) -> Consistency:
    """The judge's position consistency over all its runs' labels."""
    return consistency(JudgeLabel.objects.filter(judge_run__judge=judge))
