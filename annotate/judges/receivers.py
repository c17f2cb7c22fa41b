"""Judges listen to generation: a judge run's generation run that ends has its outputs turned
into judge labels (annotate/judges/labels.py). Connected in AnnotateConfig.ready(), before the
statistics' receiver, so that the run is rolled up with its refused answers failed."""

from __future__ import annotations

from django.dispatch import receiver

from annotate.judges.labels import collect_labels
from annotate.judges.models import JudgeRun
from inference.models import Run
from inference.signals import run_finished


@receiver(run_finished, dispatch_uid="annotate.judges.collect_judge_labels")
def collect_judge_labels(sender, run: Run, **kwargs) -> None:
    judge_run = JudgeRun.objects.select_related("judge__project").filter(run=run.pk).first()
    if judge_run is not None:
        collect_labels(judge_run)
