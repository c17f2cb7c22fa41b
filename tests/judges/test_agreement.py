"""How far to trust a judge: its figures checked against scikit-learn and scipy on the same
labels, the sentence's rules, and the human sample (stratified, deterministic, and the only
tasks the annotation queue hands out)."""

from __future__ import annotations

from collections import Counter
from unittest import mock

import numpy as np
import pytest
from django.core.cache import cache
from django.utils.html import escape
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from annotate.comparisons.pairs import compare_questions
from annotate.judges.agreement import (
    bootstrap_interval,
    compare_runs,
    confusion_by_task,
    judge_agreement,
    kappa,
    question_rows,
    rank_correlation,
    sentence,
    summary,
)
from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from annotate.labeling.sample import draw_sample
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import join, make_dataset

RATING = {"key": "quality", "label": "quality", "kind": "rating", "min": 1, "max": 5}
PASS = {"key": "pass", "label": "pass", "kind": "passfail"}
SINGLE = {"key": "tone", "label": "tone", "kind": "single", "options": ["dry", "warm", "rude"]}
MULTI = {"key": "tags", "label": "tags", "kind": "multi", "options": ["long", "wrong"]}
QUESTIONS = [{**q, "required": True} for q in (RATING, PASS, SINGLE)] + [
    {**MULTI, "required": False}
]


def crafted(rng, tasks: int, humans_per_task=(1, 3), noise: float = 0.3):
    """A judge's and people's ratings that agree often: {task: value}, {task: {who: value}}."""
    judge, humans = {}, {}
    for t in range(tasks):
        truth = int(rng.integers(1, 6))
        judge[t] = {"quality": truth if rng.random() > noise else int(rng.integers(1, 6))}
        humans[t] = {
            a: {"quality": truth if rng.random() > noise else int(rng.integers(1, 6))}
            for a in range(int(rng.integers(humans_per_task[0], humans_per_task[1] + 1)))
        }
    return judge, humans


def flat_pairs(judge: dict, humans: dict, key: str) -> tuple[list, list]:
    """Every (judge, person) pair of labels on a task: the rule the page states."""
    left, right = [], []
    for t, by in humans.items():
        for answers in by.values():
            left.append(judge[t][key])
            right.append(answers[key])
    return left, right


# Figures against scikit-learn.


def test_rating_kappa_percent_and_confusion_match_scikit_learn():
    judge, humans = crafted(np.random.default_rng(1), 60)
    [row] = question_rows(RATING, judge, humans)
    left, right = flat_pairs(judge, humans, "quality")
    scale = [1, 2, 3, 4, 5]
    assert row["kappa"] == pytest.approx(
        cohen_kappa_score(left, right, labels=scale, weights="quadratic")
    )
    assert row["percent"] == pytest.approx(np.mean(np.array(left) == np.array(right)))
    assert row["confusion"] == confusion_matrix(left, right, labels=scale).tolist()
    assert row["categories"] == ["1", "2", "3", "4", "5"]
    assert row["tasks"] == 60 and row["pairs"] == len(left)


def test_nominal_questions_use_plain_kappa_and_multi_choice_goes_option_by_option():
    rng = np.random.default_rng(2)
    judge, humans = {}, {}
    for t in range(40):
        judge[t] = {
            "pass": str(rng.choice(["pass", "fail"])),
            "tone": str(rng.choice(SINGLE["options"])),
            "tags": [o for o in MULTI["options"] if rng.random() < 0.5],
        }
        humans[t] = {
            a: {
                "pass": judge[t]["pass"] if rng.random() < 0.8 else "fail",
                "tone": judge[t]["tone"] if rng.random() < 0.6 else "dry",
                "tags": judge[t]["tags"] if rng.random() < 0.7 else ["long"],
            }
            for a in range(2)
        }
    [passed] = question_rows(PASS, judge, humans)
    left, right = flat_pairs(judge, humans, "pass")
    assert passed["weights"] == "none"
    assert passed["kappa"] == pytest.approx(cohen_kappa_score(left, right))
    assert passed["confusion"] == confusion_matrix(left, right, labels=["pass", "fail"]).tolist()
    [tone] = question_rows(SINGLE, judge, humans)
    left, right = flat_pairs(judge, humans, "tone")
    assert tone["kappa"] == pytest.approx(cohen_kappa_score(left, right))
    long_, wrong = question_rows(MULTI, judge, humans)
    left, right = flat_pairs(judge, humans, "tags")
    chosen = ([("wrong" in x) for x in left], [("wrong" in x) for x in right])
    assert wrong["label"] == "tags: wrong"
    assert wrong["kappa"] == pytest.approx(cohen_kappa_score(*chosen))
    assert wrong["confusion"] == confusion_matrix(*chosen, labels=[False, True]).tolist()
    assert long_["label"] == "tags: long"


def test_the_ceiling_is_labelings_own_agreement_among_people_on_the_same_tasks():
    from annotate.labeling.agreement import question_agreement

    judge, humans = crafted(np.random.default_rng(3), 30, humans_per_task=(2, 3))
    humans[999] = {0: {"quality": 1}, 1: {"quality": 5}}  # a task the judge did not label
    [row] = question_rows(RATING, judge, humans)
    [people] = question_agreement(RATING, {t: humans[t] for t in judge})
    assert row["human_kappa"] == pytest.approx(people.cohen_kappa)
    assert row["human_percent"] == pytest.approx(people.percent)


def test_the_bootstrap_interval_holds_the_estimate_and_narrows_with_more_tasks():
    judge, humans = crafted(np.random.default_rng(4), 200)
    widths = []
    for n in (20, 200):
        tasks, per_task = confusion_by_task(
            {t: judge[t]["quality"] for t in range(n)},
            {t: [a["quality"] for a in humans[t].values()] for t in range(n)},
            [1, 2, 3, 4, 5],
        )
        point = float(kappa(per_task.sum(axis=0), ordinal=True))
        low, high = bootstrap_interval(per_task, ordinal=True)
        assert low <= point <= high
        assert bootstrap_interval(per_task, ordinal=True) == (low, high)  # seeded
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


# The sentence.


def test_the_sentence_follows_the_rules():
    assert "not enough items labeled by both yet" in sentence("quality", 9, 0.9, 0.5)
    assert sentence("quality", 10, 0.6, 0.6) == (
        "The judge agrees with annotators as often as they agree with each other on “quality”."
    )
    assert sentence("pass", 50, 0.4, 0.7) == (
        "The judge agrees with annotators less often than they agree with each other on “pass”."
    )
    rows = [
        {"label": "quality", "verdict": "as often"},
        {"label": "pass", "verdict": "less often"},
    ]
    assert summary(rows) == (
        "The judge agrees with annotators as often as they agree with each other on “quality”; "
        "not on “pass”."
    )
    no_ceiling = [{"label": "verdict", "verdict": None, "tasks": 24, "human_kappa": None}]
    assert summary(no_ceiling).startswith("No item has two human labels yet")
    too_few = [{"label": "verdict", "verdict": None, "tasks": 9, "human_kappa": 0.5}]
    assert summary(too_few).startswith("Not enough items labeled by both")


def test_rank_correlation_matches_scipy_on_crafted_boards():
    human = {1: 1100.0, 2: 1050.0, 3: 990.0, 4: 900.0, 5: 960.0}
    judge = {1: 1080.0, 2: 1000.0, 3: 1010.0, 4: 950.0, 5: 940.0, 6: 1200.0}  # 6: judge only
    out = rank_correlation(human, judge)
    common = [1, 2, 3, 4, 5]
    assert out["models"] == 5
    expect_rho = spearmanr([human[m] for m in common], [judge[m] for m in common]).statistic
    expect_tau = kendalltau([human[m] for m in common], [judge[m] for m in common]).statistic
    assert out["spearman"] == pytest.approx(expect_rho)
    assert out["kendall"] == pytest.approx(expect_tau)
    assert rank_correlation({1: 1.0, 2: 2.0}, {1: 1.0, 2: 2.0})["spearman"] is None


# From the database.


def _runs(owner, demo_model_path, names, items):
    dataset = make_dataset(owner, items)
    runs = []
    for name in names:
        config = ModelConfig.objects.create(
            name=name, backend="mlx", model=str(demo_model_path), owner=owner
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(status=GenerationStatus.DONE, output=f"answer from {name}")
        runs.append(run)
    return runs


def _judge_run(project, owner, config, version=1) -> JudgeRun:
    judge, _ = Judge.objects.get_or_create(
        project=project,
        model_config=config,
        defaults={"name": "j", "rubric": "r", "created_by": owner},
    )
    return JudgeRun.objects.create(judge=judge, version=version, rubric="r")


def _label(task, user, answers):
    return Annotation.objects.create(
        task=task, annotator=user, state=AnnotationState.SUBMITTED, answers=answers
    )


@pytest.fixture
def label_project(db, owner, demo_model_path):
    runs = _runs(owner, demo_model_path, ("small", "large"), 15)
    project = Project.objects.create(
        name="Q",
        owner=owner,
        overlap=2,
        questions=[{**RATING, "required": True}, {**PASS, "required": True}],
    )
    project.runs.add(*runs)
    sync_tasks(project)
    return project


def test_judge_agreement_recounts_from_the_tables(label_project, owner, annotator, annotator2):
    rng = np.random.default_rng(5)
    judge_run = _judge_run(label_project, owner, label_project.runs.first().model_config)
    for task in label_project.tasks.all():
        truth = int(rng.integers(1, 6))
        JudgeLabel.objects.create(
            judge_run=judge_run, task=task, answers={"quality": truth, "pass": "pass"}
        )
        for user in (annotator, annotator2):
            value = truth if rng.random() < 0.7 else int(rng.integers(1, 6))
            _label(task, user, {"quality": value, "pass": "pass" if value > 2 else "fail"})
    shown = judge_agreement(judge_run)
    # Recount: every (judge, person) pair of labels, read back from the tables.
    judged = dict(JudgeLabel.objects.values_list("task_id", "answers__quality"))
    pairs = Annotation.objects.values_list("task_id", "answers__quality")
    left, right = [judged[t] for t, _ in pairs], [v for _, v in pairs]
    quality = next(r for r in shown["questions"] if r["key"] == "quality")
    assert quality["kappa"] == pytest.approx(
        cohen_kappa_score(left, right, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
    assert quality["pairs"] == 60 and quality["tasks"] == 30 and shown["shared"] == 30
    assert quality["kappa_low"] <= quality["kappa"] <= quality["kappa_high"]
    assert quality["sentence"].startswith("The judge agrees with annotators")
    # The disagreements: most first, each one click from its review page.
    worst = shown["disagreements"]
    assert worst and [d["score"] for d in worst] == sorted(
        (d["score"] for d in worst), reverse=True
    )
    first = Task.objects.get(project=label_project, number=worst[0]["task"])
    assert worst[0]["url"] == f"/projects/{label_project.pk}/review/{first.number}/"
    assert {d["task"] for d in worst} <= set(label_project.tasks.values_list("number", flat=True))


def test_two_rubric_versions_are_compared_on_the_same_tasks(label_project, owner, annotator):
    config = label_project.runs.first().model_config
    old, new = (
        _judge_run(label_project, owner, config, 1),
        _judge_run(label_project, owner, config, 2),
    )
    tasks = list(label_project.tasks.order_by("pk"))
    for i, task in enumerate(tasks):
        _label(task, annotator, {"quality": 1 + i % 5, "pass": "pass"})
        JudgeLabel.objects.create(
            judge_run=old, task=task, answers={"quality": 5 - i % 5, "pass": "pass"}
        )
        if i < 20:  # the new version has judged 20 tasks so far
            JudgeLabel.objects.create(
                judge_run=new, task=task, answers={"quality": 1 + i % 5, "pass": "pass"}
            )
    out = compare_runs(old, new)
    assert out["shared"] == 20
    between = next(r for r in out["between"] if r["key"] == "quality")
    a = [5 - i % 5 for i in range(20)]
    b = [1 + i % 5 for i in range(20)]
    assert between["kappa"] == pytest.approx(
        cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic")
    )
    new_quality = next(r for r in out["b"] if r["key"] == "quality")
    assert new_quality["kappa"] == pytest.approx(1.0) and new_quality["tasks"] == 20
    old_quality = next(r for r in out["a"] if r["key"] == "quality")
    assert old_quality["kappa"] < 0 and old_quality["tasks"] == 20


@pytest.fixture
def arena(db, owner, demo_model_path):
    cache.clear()
    runs = _runs(owner, demo_model_path, ("m1", "m2", "m3", "m4"), 6)
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    return project


def test_comparisons_show_both_leaderboards_and_their_rank_correlation(
    client, arena, owner, annotator
):
    strength = {name: i for i, name in enumerate(("m1", "m2", "m3", "m4"))}
    judge_run = _judge_run(arena, owner, ModelConfig.objects.get(name="m1"))
    for n, task in enumerate(
        arena.tasks.select_related(
            "generation__run__model_config", "generation_b__run__model_config"
        )
    ):
        left = strength[task.generation.run.model_config.name]
        right = strength[task.generation_b.run.model_config.name]
        better = "left" if left > right else "right"
        _label(task, annotator, {"verdict": better})
        # The judge prefers the opposite, and one pair in three flips with the order.
        flipped = n % 3 == 0
        judge_verdict = "tie" if flipped else ("right" if better == "left" else "left")
        JudgeLabel.objects.create(
            judge_run=judge_run,
            task=task,
            answers={"verdict": judge_verdict},
            consistent=not flipped,
        )
    shown = judge_agreement(judge_run)["comparison"]
    human = {r["config_id"]: r["rating"] for r in shown["humans"]["rows"]}
    judge = {r["config_id"]: r["rating"] for r in shown["judge"]["rows"]}
    common = sorted(human)
    assert shown["correlation"]["spearman"] == pytest.approx(
        spearmanr([human[m] for m in common], [judge[m] for m in common]).statistic
    )
    assert shown["correlation"]["spearman"] < 0  # the judge ranks them the other way
    # The judge's board counts the judge's votes; people's board only people's.
    assert shown["judge"]["votes"] == JudgeLabel.objects.count()
    assert shown["humans"]["votes"] == Annotation.objects.count()
    labels = JudgeLabel.objects.filter(judge_run=judge_run)
    assert shown["consistency"] == pytest.approx(
        labels.filter(consistent=True).count() / labels.count()
    )
    client.force_login(owner)
    html = client.get(f"/judges/{judge_run.judge_id}/?run={judge_run.pk}").content.decode()
    assert 'data-testid="board-people"' in html and 'data-testid="board-judge"' in html
    assert f"Spearman's ρ {shown['correlation']['spearman']:.2f}" in html


# The human sample.


@pytest.fixture
def sampled_project(db, owner, demo_model_path):
    runs = _runs(owner, demo_model_path, ("a", "b", "c"), 12)
    project = Project.objects.create(
        name="S",
        owner=owner,
        overlap=1,
        questions=[{**PASS, "required": True}],
        human_sample_per_run=4,
    )
    project.runs.add(*runs)
    sync_tasks(project)
    return project


def test_the_sample_takes_its_size_from_every_run_and_is_drawn_the_same_again(sampled_project):
    def recount():
        sampled = Task.objects.filter(project=sampled_project, in_sample=True)
        return Counter(sampled.values_list("generation__run_id", flat=True))

    assert recount() == {run.pk: 4 for run in sampled_project.runs.all()}
    before = set(Task.objects.filter(in_sample=True).values_list("pk", flat=True))
    Task.objects.update(in_sample=False)
    draw_sample(sampled_project)
    assert set(Task.objects.filter(in_sample=True).values_list("pk", flat=True)) == before
    sampled_project.human_sample_per_run = 20  # more than a run has: all of it
    draw_sample(sampled_project)
    assert recount() == {run.pk: 12 for run in sampled_project.runs.all()}
    sampled_project.human_sample_per_run = None
    draw_sample(sampled_project)
    assert not Task.objects.filter(in_sample=True).exists()


def test_a_smaller_sample_keeps_the_items_people_already_took(sampled_project, annotator):
    taken = Task.objects.filter(in_sample=True).order_by("pk")[:3]
    for task in taken:
        _label(task, annotator, {"pass": "pass"})
    sampled_project.human_sample_per_run = 1
    draw_sample(sampled_project)
    sampled = set(Task.objects.filter(in_sample=True).values_list("pk", flat=True))
    assert {t.pk for t in taken} <= sampled
    per_run = Counter(
        Task.objects.filter(in_sample=True).values_list("generation__run_id", flat=True)
    )
    took = Counter(t.generation.run_id for t in taken)
    assert per_run == {r.pk: max(1, took[r.pk]) for r in sampled_project.runs.all()}


def test_next_item_serves_every_sampled_task_and_never_another(sampled_project, annotator):
    join(sampled_project, annotator)
    served = []
    while (hold := annotation_queue.next_task(sampled_project, annotator)) is not None:
        served.append(hold.task_id)
        annotation_queue.submit(hold, {"pass": "pass"}, 1, sampled_project)
    sampled = set(Task.objects.filter(in_sample=True).values_list("pk", flat=True))
    assert len(served) == len(set(served)) == 12
    assert set(served) == sampled
    waiting = annotation_queue.waiting_counts(annotator, [sampled_project.pk])
    assert waiting.get(sampled_project.pk, 0) == 0


# The page and the API.


def _judged_project(project, owner, annotator, annotator2):
    """Judge and two people on every task: the judge agrees with the first person."""
    judge_run = _judge_run(project, owner, project.runs.first().model_config)
    for i, task in enumerate(project.tasks.order_by("pk")):
        JudgeLabel.objects.create(
            judge_run=judge_run, task=task, answers={"quality": 1 + i % 5, "pass": "pass"}
        )
        _label(task, annotator, {"quality": 1 + i % 5, "pass": "pass"})
        _label(task, annotator2, {"quality": 1 + (i + i % 2) % 5, "pass": "fail"})
    return judge_run


def test_the_judge_page_shows_the_agreement_then_uses_the_labels_when_asked(
    client, label_project, owner, annotator, annotator2
):
    label_project.questions[0]["label"] = "<b>quality</b>"
    label_project.save()
    judge_run = _judged_project(label_project, owner, annotator, annotator2)
    client.force_login(owner)
    page = client.get(f"/judges/{judge_run.judge_id}/?run={judge_run.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;quality&lt;/b&gt;" in html and "<b>quality</b>" not in html
    shown = judge_agreement(judge_run)
    quality = next(r for r in shown["questions"] if r["key"] == "quality")
    assert (
        f"{quality['kappa']:.2f} [{quality['kappa_low']:.2f}, {quality['kappa_high']:.2f}]" in html
    )
    for row in shown["questions"]:
        assert escape(row["sentence"]) in html
    assert escape(shown["summary"]) in html
    worst = shown["disagreements"][0]
    assert f'href="/projects/{label_project.pk}/review/{worst["task"]}/"' in html
    assert "Use these labels" in html
    judge_run.refresh_from_db()
    assert judge_run.accepted_at is None  # seeing the figures uses nothing
    response = client.post(f"/judge-runs/{judge_run.pk}/accept/")
    assert response.status_code == 302
    judge_run.refresh_from_db()
    assert judge_run.accepted_at is not None and judge_run.accepted_by == owner
    assert "are in use since" in client.get(response["Location"]).content.decode()


def test_the_api_answers_the_same_figures_and_compares_versions(
    client, label_project, owner, annotator, annotator2
):
    judge_run = _judged_project(label_project, owner, annotator, annotator2)
    newer = _judge_run(label_project, owner, judge_run.judge.model_config, version=2)
    for task in label_project.tasks.all()[:12]:
        JudgeLabel.objects.create(
            judge_run=newer, task=task, answers={"quality": 3, "pass": "fail"}
        )
    client.force_login(owner)
    body = client.get(f"/api/judge-runs/{newer.pk}/agreement?against={judge_run.pk}").json()
    assert body["shared"] == 12 and body["versions"]["shared"] == 12
    pairs = Annotation.objects.filter(task__judge_labels__judge_run=newer)
    left = ["fail"] * pairs.count()
    right = list(pairs.values_list("answers__pass", flat=True))
    passed = next(r for r in body["questions"] if r["key"] == "pass")
    assert passed["percent"] == pytest.approx(np.mean(np.array(left) == np.array(right)))
    assert passed["confusion"] == confusion_matrix(left, right, labels=["pass", "fail"]).tolist()
    client.force_login(annotator)
    assert client.get(f"/api/judge-runs/{newer.pk}/agreement").status_code == 404
    other = Project.objects.create(name="other", owner=owner, questions=[])
    elsewhere = _judge_run(other, owner, judge_run.judge.model_config)
    client.force_login(owner)
    refused = client.get(f"/api/judge-runs/{newer.pk}/agreement?against={elsewhere.pk}")
    assert refused.status_code == 422 and "same project" in refused.json()["detail"]


def test_an_owner_sets_the_sample_size_on_the_page_and_the_api_and_a_bad_one_is_refused(
    client, sampled_project, owner
):
    runs = [r.pk for r in sampled_project.runs.all()]
    client.force_login(owner)
    data = {
        "name": "S",
        "kind": "label",
        "overlap": "1",
        "hold_s": "900",
        "runs": runs,
        "human_sample_per_run": "2",
        "q-TOTAL_FORMS": "1",
        "q-INITIAL_FORMS": "1",
        "q-0-label": "pass",
        "q-0-kind": "passfail",
        "q-0-key": "pass",
        "q-0-required": "on",
    }
    response = client.post(f"/projects/{sampled_project.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    sampled = Task.objects.filter(project=sampled_project, in_sample=True)
    assert Counter(sampled.values_list("generation__run_id", flat=True)) == dict.fromkeys(runs, 2)
    refused = client.post(
        f"/projects/{sampled_project.pk}/edit/", {**data, "human_sample_per_run": "0"}
    )
    assert "At least 1 item per run" in refused.content.decode()
    assert sampled.count() == 6  # unchanged
    body = {"name": "S", "runs": runs, "human_sample_per_run": 0}
    put = client.put(f"/api/projects/{sampled_project.pk}", body, content_type="application/json")
    assert put.status_code == 422 and sampled.count() == 6
    body["human_sample_per_run"] = 3
    put = client.put(f"/api/projects/{sampled_project.pk}", body, content_type="application/json")
    assert put.status_code == 200 and put.json()["human_sample_per_run"] == 3
    assert sampled.count() == 9
