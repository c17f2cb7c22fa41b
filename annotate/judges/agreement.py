"""How far to trust a judge: its labels against people's, per question, on the tasks both
labeled, next to the people's agreement among themselves (the ceiling).

- The rule: the judge's label on a task is compared with *each* human label of that task (a
  task three people labeled gives three pairs), as people's own percent agreement counts
  every pair of labels on a task.
- Percent agreement: the share of those pairs that agree. Cohen's kappa over the same pairs:
  quadratic weights on a rating's whole scale (min..max), plain for choices and pass/fail;
  multi-choice questions option by option (chosen or not), free text not at all, as
  annotate/labeling/agreement.py scores people.
- The 95% interval: a bootstrap over tasks (ROUNDS resamples, seeded; a task's pairs stay
  together), the 2.5th and 97.5th percentiles of kappa.
- The ceiling: annotate/labeling/agreement.py's figures for people on the same tasks.
- The sentence: the judge agrees "as often" as people when its interval reaches their kappa,
  "less often" when it does not; under MIN_SHARED tasks, not enough to say.
- Comparisons: the judge's verdicts counted by the leaderboard's own code beside people's,
  with the rank correlation of the two (Spearman, Kendall), and the judge's
  position-consistency rate (pairs whose verdict held in both orders).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from django.db.models import Count, F
from django.db.models.fields.json import KT
from django.urls import reverse

from annotate.comparisons.leaderboard import compute, count_votes, load_votes
from annotate.judges.labels import consistency
from annotate.judges.models import JudgeLabel, JudgeRun
from annotate.labeling.agreement import labels_by_item, on_scale, question_series, scale_order
from annotate.labeling.agreement import question_agreement as human_agreement
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind, Task
from annotate.labeling.sample import sample_counts
from inference.errors import Invalid
from inference.models import Run

MIN_SHARED = 10  # tasks labeled by both before the sentence says anything
ROUNDS = 1000  # bootstrap resamples of the tasks
SEED = 0
SHOWN_DISAGREEMENTS = 20
# What compare_runs shows of kappa between two runs (no ceiling: no people among them).
BETWEEN = ("key", "label", "tasks", "percent", "kappa", "kappa_low", "kappa_high", "matrix")
JUDGE = "judge"  # the judge's key among the annotators of a task
SCORED = ("rating", "single", "multi", "passfail")
AS_OFTEN = "The judge agrees with annotators as often as they agree with each other on {}"
LESS_OFTEN = "The judge agrees with annotators less often than they agree with each other on {}"


# Pure figures: a confusion matrix per task, kappa and percent from it, the bootstrap.


def confusion_by_task(
    judge: dict[int, object], humans: dict[int, list], categories: list
) -> tuple[list[int], np.ndarray]:
    """The tasks with a judge's and a human's label, and per task the counts of (judge's
    category, human's category) pairs: an array (tasks, k, k)."""
    index = {c: i for i, c in enumerate(categories)}
    tasks = sorted(t for t in judge if humans.get(t))
    counts = np.zeros((len(tasks), len(categories), len(categories)))
    for row, task in enumerate(tasks):
        for value in humans[task]:
            counts[row, index[judge[task]], index[value]] += 1
    return tasks, counts


def disagreement_weights(k: int, ordinal: bool) -> np.ndarray:
    """How much each pair of categories disagrees: squared distance on a scale, else 0/1."""
    i, j = np.indices((k, k))
    return (i - j) ** 2.0 if ordinal else (i != j).astype(float)


def kappa(confusion: np.ndarray, ordinal: bool) -> np.ndarray:
    """Cohen's kappa of confusion matrices (..., k, k): weighted for ratings; NaN where it is
    undefined (every label the same)."""
    weights = disagreement_weights(confusion.shape[-1], ordinal)
    n = confusion.sum(axis=(-1, -2))
    expected = confusion.sum(-1)[..., :, None] * confusion.sum(-2)[..., None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = expected / n[..., None, None]
        observed = (weights * confusion).sum(axis=(-1, -2))
        chance = (weights * expected).sum(axis=(-1, -2))
        return np.where(chance > 0, 1 - observed / chance, np.nan)


def percent(confusion: np.ndarray) -> float | None:
    n = confusion.sum()
    return float(np.trace(confusion) / n) if n else None


def bootstrap_interval(
    per_task: np.ndarray, ordinal: bool, rounds: int = ROUNDS, seed: int = SEED
) -> tuple[float | None, float | None]:
    """The 95% interval of kappa over `rounds` resamples of the tasks (with replacement).
    Tasks with the same confusion counts are interchangeable, so a resample draws how many
    of each kind it takes (a multinomial over the few distinct kinds, not the many tasks)."""
    tasks = per_task.shape[0]
    if tasks == 0:
        return None, None
    rng = np.random.default_rng(seed)
    kinds, counts = np.unique(per_task.reshape(tasks, -1), axis=0, return_counts=True)
    draws = rng.multinomial(tasks, counts / tasks, size=rounds)
    values = kappa((draws @ kinds).reshape(rounds, *per_task.shape[1:]), ordinal)
    if np.isnan(values).all():
        return None, None
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def sentence(label: str, shared: int, high: float | None, human_kappa: float | None) -> str:
    """What the figures mean, in words (the rule is in the module's docstring)."""
    if shared < MIN_SHARED:
        return f"{label}: not enough items labeled by both yet ({shared} of {MIN_SHARED})."
    if high is None:
        return f"{label}: kappa is undefined (every label is the same value)."
    if human_kappa is None:
        return f"{label}: no item has two human labels yet, so there is no ceiling to compare."
    return (AS_OFTEN if high >= human_kappa else LESS_OFTEN).format(_quoted([label])) + "."


def summary(rows: list[dict]) -> str:
    """One sentence for all questions: "… as often … on quality; not on pass"."""
    same = [r["label"] for r in rows if r["verdict"] == "as often"]
    less = [r["label"] for r in rows if r["verdict"] == "less often"]
    if not same and not less:
        if any(r["tasks"] >= MIN_SHARED and r["human_kappa"] is None for r in rows):
            return "No item has two human labels yet: people's own agreement is the ceiling."
        return "Not enough items labeled by both the judge and annotators to say yet."
    if not same:
        return LESS_OFTEN.format(_quoted(less)) + "."
    return AS_OFTEN.format(_quoted(same)) + (f"; not on {_quoted(less)}." if less else ".")


def _quoted(labels: list[str]) -> str:
    """Question labels in a sentence: quoted, as they may end in "?" or hold commas."""
    return ", ".join(f"“{label}”" for label in labels)


def rank_correlation(human: dict[int, float], judge: dict[int, float]) -> dict:
    """Spearman's rho and Kendall's tau between two leaderboards' ratings, over the models
    on both (None under three models, or where every rating is the same)."""
    from scipy.stats import kendalltau, spearmanr  # here: scipy.stats costs a web process ~70 MB

    common = sorted(set(human) & set(judge))
    out = {"models": len(common), "spearman": None, "kendall": None}
    left, right = [human[m] for m in common], [judge[m] for m in common]
    if len(common) < 3 or len(set(left)) < 2 or len(set(right)) < 2:
        return out  # undefined: too few models, or one board rates them all alike
    rho, tau = spearmanr(left, right).statistic, kendalltau(left, right).statistic
    out["spearman"] = None if np.isnan(rho) else float(rho)
    out["kendall"] = None if np.isnan(tau) else float(tau)
    return out


def task_disagreement(question: dict, judge_value, human_values: list) -> float:
    """How far the judge is from the people on one task, 0 to 1: the mean over their labels
    of the distance on a rating's scale, of "differs" for a choice, of the share of options
    that differ for a multi-choice question."""
    human_values = [v for v in human_values if v is not None]
    if not human_values or judge_value is None:
        return 0.0
    if question["kind"] == "rating":
        span = max(question["max"] - question["min"], 1)
        return float(np.mean([abs(judge_value - v) / span for v in human_values]))
    if question["kind"] == "multi":
        options = max(len(question["options"]), 1)
        mine = set(judge_value or [])
        return float(np.mean([len(mine ^ set(v or [])) / options for v in human_values]))
    return float(np.mean([judge_value != v for v in human_values]))


# Per question: the judge's figures beside people's.


def _split(series: dict[int, dict]) -> tuple[dict[int, object], dict[int, list]]:
    """The judge's value per task and people's values per task, from one series'
    {task: {who: value}}."""
    judge = {t: by[JUDGE] for t, by in series.items() if JUDGE in by}
    humans = {t: [v for a, v in by.items() if a != JUDGE] for t, by in series.items()}
    return judge, humans


def question_rows(question: dict, judge: dict[int, dict], humans: dict[int, dict]) -> list[dict]:
    """The figures for one question (a multi-choice one: per option) on the tasks both
    labeled: the judge against people, and people among themselves."""
    if question["kind"] not in SCORED:
        return []
    ordinal = question["kind"] == "rating"
    categories = scale_order(question)
    tasks = set(judge) & set(humans)
    both = {t: {**humans[t], JUDGE: judge[t]} for t in tasks}
    ceiling = human_agreement(question, {t: humans[t] for t in tasks})
    rows = []
    for (label, given), people in zip(question_series(question, both), ceiling, strict=True):
        values, _ = on_scale(given, categories)
        judge_values, human_values = _split(values)
        shared, per_task = confusion_by_task(judge_values, human_values, categories)
        total = per_task.sum(axis=0)
        point = kappa(total, ordinal) if shared else np.nan
        low, high = bootstrap_interval(per_task, ordinal)
        row = {
            "key": question["key"],
            "label": label,
            "weights": "quadratic" if ordinal else "none",
            "tasks": len(shared),
            "pairs": int(total.sum()),
            "percent": percent(total),
            "kappa": None if np.isnan(point) else float(point),
            "kappa_low": low,
            "kappa_high": high,
            "categories": [_shown(c) for c in categories],
            "confusion": total.astype(int).tolist(),  # rows: the judge; columns: people
            "matrix": [
                [_shown(c), counts]
                for c, counts in zip(categories, total.astype(int).tolist(), strict=True)
            ],
            "human_kappa": people.cohen_kappa,
            "human_percent": people.percent,
            "human_items": people.items,
            "sentence": sentence(label, len(shared), high, people.cohen_kappa),
            "verdict": _verdict(len(shared), high, people.cohen_kappa),
        }
        rows.append(row)
    return rows


def _verdict(shared: int, high: float | None, human_kappa: float | None) -> str | None:
    if shared < MIN_SHARED or high is None or human_kappa is None:
        return None
    return "as often" if high >= human_kappa else "less often"


def _shown(category) -> str:
    if isinstance(category, bool):  # a multi-choice option, chosen or not
        return "chosen" if category else "not chosen"
    return str(category)


def agreement_rows(questions: list[dict], judge: dict[int, dict], humans: dict[int, dict]):
    return [row for q in questions for row in question_rows(q, judge, humans)]


def disagreements(questions: list[dict], judge: dict[int, dict], humans: dict[int, dict]):
    """(task id, score) of the tasks both labeled, most disagreement first (ties by id)."""
    scored = [q for q in questions if q["kind"] in SCORED]
    out = []
    for task in set(judge) & set(humans):
        parts = [
            task_disagreement(
                q,
                judge[task][q["key"]],
                [a[q["key"]] for a in humans[task].values() if q["key"] in a],
            )
            for q in scored
            if q["key"] in judge[task]
        ]
        if parts and (score := float(np.mean(parts))) > 0:
            out.append((task, score))
    return sorted(out, key=lambda r: (-r[1], r[0]))


# Read from the database: what the judge page and the API show.


def _judge_labels(judge_run: JudgeRun) -> dict[int, dict]:
    rows = JudgeLabel.objects.filter(judge_run=judge_run).values_list("task_id", "answers")
    return {task: answers for task, answers in rows if answers}


def _human_labels(judge_run: JudgeRun) -> dict[int, dict]:
    """People's submitted labels of the tasks the judge run labeled (a join, not a list of
    ids: a run may label 100k tasks)."""
    rows = Annotation.objects.filter(
        state=AnnotationState.SUBMITTED, task__judge_labels__judge_run=judge_run
    )
    return labels_by_item(rows.values_list("task_id", "annotator_id", "answers"))


def _judged(questions: list[dict], *labels: dict[int, dict]) -> list[dict]:
    """The project's scored questions that the judge answered (a comparison: the verdict)."""
    keys = {k for by_task in labels for answers in by_task.values() for k in answers}
    return [q for q in questions if q["kind"] in SCORED and q["key"] in keys]


def _disagreement_rows(project, questions, judge, humans) -> list[dict]:
    worst = disagreements(questions, judge, humans)[:SHOWN_DISAGREEMENTS]
    numbers = dict(Task.objects.filter(pk__in=[t for t, _ in worst]).values_list("pk", "number"))
    return [
        {
            "task": numbers[task],
            "score": score,
            "url": reverse("annotate-review-task", args=(project.pk, numbers[task])),
            "judge": {q["key"]: judge[task].get(q["key"]) for q in questions},
            "humans": [
                {q["key"]: a.get(q["key"]) for q in questions} for a in humans[task].values()
            ],
        }
        for task, score in worst
    ]


def _leaderboards(project, judge_run: JudgeRun) -> dict:
    """People's leaderboard and the judge's, counted by the same code, and how their
    rankings correlate."""
    rows = (
        JudgeLabel.objects.filter(judge_run=judge_run)
        .values(
            left=F("task__generation__run__model_config_id"),
            right=F("task__generation_b__run__model_config_id"),
            verdict=KT("answers__verdict"),
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    judge_board = compute(count_votes(rows), ROUNDS, SEED)
    human_board = compute(load_votes(project), ROUNDS, SEED)
    correlation = rank_correlation(
        {r.config_id: r.rating for r in human_board.rows},
        {r.config_id: r.rating for r in judge_board.rows},
    )
    return {"humans": asdict(human_board), "judge": asdict(judge_board), "correlation": correlation}


def _sample(project, judge_run: JudgeRun) -> dict | None:
    """The human sample's progress per run (or pair of runs), when the project asks for one."""
    if project.human_sample_per_run is None:
        return None
    counts = sample_counts(project)
    runs = {
        r.pk: r
        for r in Run.objects.filter(pk__in={r for s in counts for r in s}).select_related(
            "model_config"
        )
    }
    strata = [
        {"runs": " vs ".join(f"run {r} ({runs[r].model_config.name})" for r in key), **c}
        for key, c in sorted(counts.items())
    ]
    return {
        "size": project.human_sample_per_run,
        "strata": strata,
        "sample": sum(s["sample"] for s in strata),
        "labeled": sum(s["labeled"] for s in strata),
        "accepted_at": judge_run.accepted_at,
    }


def judge_agreement(judge_run: JudgeRun) -> dict:
    """Everything the judge page's agreement section shows for one judge run."""
    project = judge_run.judge.project
    judge = _judge_labels(judge_run)
    humans = _human_labels(judge_run)
    questions = _judged(project.questions, judge)
    rows = agreement_rows(questions, judge, humans)
    out = {
        "judge_run": judge_run.pk,
        "version": judge_run.version,
        "accepted_at": judge_run.accepted_at,  # when its owner chose to use its labels
        "rule": "The judge's label on an item is compared with each person's label of it.",
        "judged": len(judge),
        "shared": len(set(judge) & set(humans)),
        "min_shared": MIN_SHARED,
        "questions": rows,
        "summary": summary(rows),
        "disagreements": _disagreement_rows(project, questions, judge, humans),
        "sample": _sample(project, judge_run),
        "comparison": None,
    }
    if project.kind == ProjectKind.COMPARE:
        rate = consistency(JudgeLabel.objects.filter(judge_run=judge_run))  # labels.py's figure
        out["comparison"] = {
            **_leaderboards(project, judge_run),
            "pairs": rate.pairs,
            "consistent": rate.consistent,
            "consistency": rate.rate,
        }
    return out


def compare_runs(run_a: JudgeRun, run_b: JudgeRun) -> dict:
    """Two judge runs (rubric versions) on the tasks both labeled: kappa between them per
    question, and each one's agreement with people on those same tasks."""
    if run_a.judge.project_id != run_b.judge.project_id:
        raise Invalid("Only two judge runs of the same project can be compared.")
    project = run_a.judge.project
    a, b = _judge_labels(run_a), _judge_labels(run_b)
    tasks = set(a) & set(b)
    a, b = {t: a[t] for t in tasks}, {t: b[t] for t in tasks}
    humans = {t: by for t, by in _human_labels(run_a).items() if t in tasks}
    questions = _judged(project.questions, a, b)
    between = []
    for question in questions:
        # Run B as the only "person": kappa between the two runs, task by task.
        for row in question_rows(question, a, {t: {0: b[t]} for t in tasks}):
            between.append({k: row[k] for k in BETWEEN})
    a_rows, b_rows = agreement_rows(questions, a, humans), agreement_rows(questions, b, humans)
    rows = [
        {"label": x["label"], "between": x["kappa"], "a": y["kappa"], "b": z["kappa"]}
        for x, y, z in zip(between, a_rows, b_rows, strict=True)
    ]
    return {
        "runs": [run_a.pk, run_b.pk],
        "versions": [run_a.version, run_b.version],
        "shared": len(tasks),
        "between": between,
        "a": a_rows,
        "b": b_rows,
        "rows": rows,  # per question: kappa between the runs, and each one's with people
    }
