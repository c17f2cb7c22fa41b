"""Inter-annotator agreement per question, from submitted labels.

- Percent agreement: of all pairs of labels given to the same item, the share that agree.
- Cohen's kappa (scikit-learn): for each pair of annotators, over the items both labeled;
  with two annotators that is the figure, with more it is the mean over pairs (Light's
  kappa). Ratings use quadratic weights on the question's whole scale (min..max), not on
  the values that happen to be used: 4 against 5 disagrees less than 1 against 5.
- Krippendorff's alpha (the `krippendorff` package): any number of annotators and missing
  labels; ordinal for ratings, nominal for choices.
Multi-choice questions are scored option by option (chosen or not). Free text is not scored.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from annotate.labeling.questions import choices

MIN_SHARED = 2  # items two annotators must share before their kappa means anything
Labels = dict[int, dict[int, dict]]  # {item id: {annotator id: answers}}


@dataclass
class QuestionAgreement:
    key: str
    label: str
    items: int  # items with at least two labels
    pairs: int
    percent: float | None
    cohen_kappa: float | None
    kripp_alpha: float | None
    annotators: int
    notes: list[str] = field(default_factory=list)


def question_series(question: dict, labels: Labels) -> list[tuple[str, dict]]:
    """(name, {item: {annotator: value}}) per scored series of a question."""
    key, kind = question["key"], question["kind"]
    if kind == "multi":
        return [
            (
                f"{question['label']}: {option}",
                {
                    item: {a: option in (ans.get(key) or []) for a, ans in by.items()}
                    for item, by in labels.items()
                },
            )
            for option in question["options"]
        ]
    return [
        (
            question["label"],
            {
                item: {a: ans[key] for a, ans in by.items() if key in ans}
                for item, by in labels.items()
            },
        )
    ]


def _percent(values: dict[int, dict]) -> tuple[int, int, float | None]:
    items = pairs = agree = 0
    for by_annotator in values.values():
        vals = list(by_annotator.values())
        if len(vals) < 2:
            continue
        items += 1
        for a, b in combinations(vals, 2):
            pairs += 1
            agree += a == b
    return items, pairs, (agree / pairs if pairs else None)


def _cohen(values: dict[int, dict], scale: list | None) -> float | None:
    """Mean kappa over annotator pairs; `scale` (a rating's min..max) makes it weighted."""
    from sklearn.metrics import cohen_kappa_score  # here: scikit-learn costs a web process ~180 MB

    annotators = sorted({a for by in values.values() for a in by})
    kappas = []
    for a, b in combinations(annotators, 2):
        shared = [(by[a], by[b]) for by in values.values() if a in by and b in by]
        if len(shared) < MIN_SHARED:
            continue
        left, right = zip(*shared, strict=True)
        if len(set(left) | set(right)) < 2:
            continue  # one value everywhere: kappa is undefined
        if scale is None:
            kappa = cohen_kappa_score(left, right)
        else:  # weights are distances on the scale: unused values still count (1 vs 5 is 4)
            kappa = cohen_kappa_score(left, right, labels=scale, weights="quadratic")
        if not math.isnan(kappa):
            kappas.append(kappa)
    return float(np.mean(kappas)) if kappas else None


def _alpha(values: dict[int, dict], ordinal: bool, order: list) -> float | None:
    import krippendorff  # here, beside scikit-learn's import in _cohen

    annotators = sorted({a for by in values.values() for a in by})
    items = [by for by in values.values() if len(by) >= 2]
    codes = {v: i for i, v in enumerate(order)}
    if len(annotators) < 2 or not items:
        return None
    data = np.full((len(annotators), len(items)), np.nan)
    for col, by in enumerate(items):
        for a, value in by.items():
            data[annotators.index(a), col] = codes[value]
    if len(set(data[~np.isnan(data)])) < 2:
        return None  # every label the same: alpha is undefined
    level = "ordinal" if ordinal else "nominal"
    return float(
        krippendorff.alpha(
            reliability_data=data, level_of_measurement=level, value_domain=list(range(len(order)))
        )
    )


def question_agreement(question: dict, labels: Labels) -> list[QuestionAgreement]:
    """Agreement for one question; `labels` is {item id: {annotator id: answers}}."""
    if question["kind"] in ("text", "correction"):
        return []
    ordinal = question["kind"] == "rating"
    out = []
    order = scale_order(question)
    for name, given in question_series(question, labels):
        values, dropped = on_scale(given, order)
        items, pairs, percent = _percent(values)
        annotators = len({a for by in values.values() for a in by})
        out.append(
            QuestionAgreement(
                key=question["key"],
                label=name,
                items=items,
                pairs=pairs,
                percent=percent,
                cohen_kappa=_cohen(values, order if ordinal else None),
                kripp_alpha=_alpha(values, ordinal, order),
                annotators=annotators,
                notes=_notes(items, dropped),
            )
        )
    return out


def _notes(items: int, dropped: int) -> list[str]:
    notes = [] if items else ["No item has two labels yet."]
    if dropped:
        notes.append(f"{dropped} label{'s' * (dropped > 1)} outside the question's scale left out.")
    return notes


def on_scale(values: dict[int, dict], order: list) -> tuple[dict[int, dict], int]:
    """Only the labels on the question's current scale (it may have been edited since)."""
    kept = {item: {a: v for a, v in by.items() if v in order} for item, by in values.items()}
    dropped = sum(len(by) for by in values.values()) - sum(len(by) for by in kept.values())
    return kept, dropped


def scale_order(question: dict) -> list:
    """The values a question's labels are scored on, in order (a multi-choice question's
    series are yes/no per option)."""
    if question["kind"] == "multi":
        return [False, True]
    if question["kind"] == "rating":
        return list(range(question["min"], question["max"] + 1))
    return choices(question)


def project_agreement(questions: list[dict], labels: Labels):
    return [row for q in questions for row in question_agreement(q, labels)]


def disagreements(questions: list[dict], labels: Labels) -> list[int]:
    """Items whose labels differ on any scored question."""
    scored = [q["key"] for q in questions if q["kind"] not in ("text", "correction")]
    out = []
    for item, by in labels.items():
        if len(by) < 2:
            continue
        if any(len({_hashable(ans.get(k)) for ans in by.values()}) > 1 for k in scored):
            out.append(item)
    return out


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def labels_by_item(annotations) -> Labels:
    """{task id: {annotator id: answers}} from (task_id, annotator_id, answers) rows."""
    out: dict[int, dict[int, dict]] = defaultdict(dict)
    for task_id, annotator_id, answers in annotations:
        out[task_id][annotator_id] = answers
    return dict(out)
