"""An output's rating: the one definition the statistics, the dataset matrix and the exports
share.

Only labels of labeling projects count (a comparison's side ratings rate a side, not an
output on its own). The question is the first rating question of the first label's project
that has one, labels taken in the order they were started (then by id); each label's number
answer to that question's key counts, and the mean rating is their mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby

from django.db.models import QuerySet

from annotate.labeling.models import AnnotationState, ProjectKind

# (the questions of its project, its answers): one label, as the rules below read it.
Label = tuple[list[dict], dict]


def first_key(question_lists: Iterable[list[dict]], kind: str) -> str | None:
    """The key of the first question of `kind` in the first list that has one."""
    for questions in question_lists:
        for q in questions:
            if q["kind"] == kind:
                return q["key"]
    return None


def rating_values(labels: Sequence[Label]) -> list[float]:
    """The ratings one output's labels (in label order) give it."""
    key = first_key((questions for questions, _ in labels), "rating")
    if key is None:
        return []
    return [answers[key] for _, answers in labels if _is_number(answers.get(key))]


def mean_rating(labels: Sequence[Label]) -> float | None:
    return average(rating_values(labels))


def average(values: Sequence[float]) -> float | None:
    """The mean of an output's ratings; None without any."""
    return sum(values) / len(values) if values else None


def labelled_outputs(annotations: QuerySet, *fields: str) -> Iterator[tuple[tuple, list[Label]]]:
    """((generation id, *fields of the label), the output's labels in label order) for each
    output that the submitted labels of labeling projects among `annotations` label, in one
    query; `fields` must be the same for all the labels of an output (its run's, say)."""
    rows = (
        annotations.filter(state=AnnotationState.SUBMITTED, task__project__kind=ProjectKind.LABEL)
        .order_by("task__generation_id", "started_at", "pk")
        .values_list("task__generation_id", *fields, "task__project__questions", "answers")
    )
    width = 1 + len(fields)
    for head, group in groupby(rows.iterator(chunk_size=2000), key=lambda row: row[:width]):
        yield head, [(questions, answers) for *_, questions, answers in group]


def rated_outputs(annotations: QuerySet, *fields: str) -> Iterator[tuple[tuple, list[float]]]:
    """As labelled_outputs, with each output's ratings instead of its labels."""
    for head, labels in labelled_outputs(annotations, *fields):
        yield head, rating_values(labels)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
