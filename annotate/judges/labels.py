"""From a finished judge run's outputs to judge labels, and the judge's position consistency.

A done generation whose output does not parse (annotate/judges/answers.py) becomes a failed one
with the reason as its error: the run page lists it, Retry generates it again, and it is never
a label. A pair is labeled once both of its orders parse:
- the same verdict both ways (A/B mapped back to left/right): that verdict, consistent;
- a verdict that flips with the order: inconsistent, and then a "tie" or no verdict at all
  (answers empty, so it counts nowhere), as the judge's `inconsistent` says.
Collecting is idempotent: a run that finishes again after a retry adds only missing labels.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q

from annotate.judges.answers import AnswerInvalid, parse_answer
from annotate.judges.models import Inconsistent, JudgeLabel, JudgeRun
from annotate.judges.rubrics import is_pairwise
from annotate.labeling.models import Task
from inference.models import Generation, GenerationStatus, Run, RunStatus

# A verdict on A/B, seen in one order, as the left/right verdict a person's vote stores.
SIDES = {"ab": {"a": "left", "b": "right"}, "ba": {"a": "right", "b": "left"}}


@dataclass
class Consistency:
    consistent: int
    pairs: int  # pairs judged in both orders

    @property
    def rate(self) -> float | None:
        return self.consistent / self.pairs if self.pairs else None


def consistency(labels) -> Consistency:
    """Position consistency of a set of judge labels: pairs whose verdict held both ways."""
    row = labels.aggregate(
        pairs=Count("pk", filter=Q(consistent__isnull=False)),
        consistent=Count("pk", filter=Q(consistent=True)),
    )
    return Consistency(row["consistent"], row["pairs"])


def _parsed(judge_run: JudgeRun, questions: list, pairwise: bool) -> dict[int, dict[str, tuple]]:
    """{task id: {order: (answers, reasoning)}} of the run's done outputs that parse, for the
    tasks not labeled yet; those that do not parse are failed, with the reason."""
    labeled = set(judge_run.labels.values_list("task_id", flat=True))
    gens = Generation.objects.filter(run=judge_run.run, status=GenerationStatus.DONE)
    parsed: dict[int, dict[str, tuple]] = defaultdict(dict)
    failed = 0
    for gen_id, output, meta in gens.values_list("pk", "output", "item__metadata").iterator():
        task_id = meta.get("task")
        if task_id in labeled:
            continue
        try:
            parsed[task_id][meta.get("order", "")] = parse_answer(output, questions, pairwise)
        except AnswerInvalid as exc:
            failed += Generation.objects.filter(pk=gen_id, status=GenerationStatus.DONE).update(
                status=GenerationStatus.FAILED, error=f"Judge answer refused: {exc}"
            )
    if failed:  # the run shows its errors and may be retried
        Run.objects.filter(pk=judge_run.run_id, status=RunStatus.COMPLETED).update(
            status=RunStatus.COMPLETED_WITH_ERRORS
        )
    return parsed


def _pair_label(orders: dict[str, tuple], policy: str) -> tuple[dict, str, bool] | None:
    if set(orders) != {"ab", "ba"}:
        return None  # the other order failed: wait for its retry
    (ab, why_ab), (ba, why_ba) = orders["ab"], orders["ba"]
    first = SIDES["ab"].get(ab["verdict"], ab["verdict"])
    second = SIDES["ba"].get(ba["verdict"], ba["verdict"])
    reasoning = f"Shown in order: {why_ab}\n\nShown swapped: {why_ba}"
    if first == second:
        return {"verdict": first}, reasoning, True
    answers = {"verdict": "tie"} if policy == Inconsistent.TIE else {}
    return answers, reasoning, False


@transaction.atomic
def collect_labels(judge_run: JudgeRun) -> int:
    """Turn the run's new, valid answers into labels; returns how many labels were added."""
    judge = judge_run.judge
    project = judge.project
    pairwise = is_pairwise(project)
    parsed = _parsed(judge_run, project.questions, pairwise)
    existing = set(Task.objects.filter(pk__in=parsed, project=project).values_list("pk", flat=True))
    labels = []
    for task_id, orders in parsed.items():
        if task_id not in existing:
            continue  # the task is gone
        if pairwise:
            made = _pair_label(orders, judge.inconsistent)
        else:
            made = (*orders[""], None) if "" in orders else None
        if made is not None:
            answers, reasoning, consistent = made
            labels.append(
                JudgeLabel(
                    judge_run=judge_run,
                    task_id=task_id,
                    answers=answers,
                    reasoning=reasoning,
                    consistent=consistent,
                )
            )
    before = judge_run.labels.count()
    # ignore_conflicts: a label another pass made meanwhile stays as it is
    JudgeLabel.objects.bulk_create(labels, ignore_conflicts=True)
    return judge_run.labels.count() - before
