"""One definition per figure: a verdict's score, run tokens/s, cost and mean rating, each
counted here by hand from the database rows, and every place that shows it agrees: the
leaderboard, the statistics (page and API), the run's progress, the dataset matrix and the
exports."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from annotate.comparisons.leaderboard import breakdown
from annotate.comparisons.pairs import compare_questions
from annotate.exports.rows import rows
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.figures import DONE as DONE_OUTPUTS
from inference.models import Generation, GenerationStatus, ModelConfig, Run, RunStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db
DONE, FAILED = GenerationStatus.DONE, GenerationStatus.FAILED
# The export's two paths: PostgreSQL's only there (CI runs both databases).
SQL_PATHS = (False, True) if connection.vendor == "postgresql" else (False,)


@pytest.fixture(autouse=True)
def _fresh_figures():
    cache.clear()  # the statistics are cached per version of the data


def finished_run(owner, dataset, name: str) -> Run:
    """A finished run of `name` over the dataset, every output done on one machine."""
    config = ModelConfig.objects.create(name=name, backend="mlx", model="/m", owner=owner)
    run = Run.objects.create(
        dataset=dataset,
        model_config=config,
        params=config.params(),
        status=RunStatus.COMPLETED,
        total=dataset.items.count(),
        created_by=owner,
        finished_at=timezone.now(),
    )
    Generation.objects.bulk_create(
        Generation(run=run, item=item, status=DONE, output=f"{name} {item.index}", machine="box")
        for item in dataset.items.order_by("index")
    )
    return run


def label(task, person, answers: dict, state=AnnotationState.SUBMITTED) -> Annotation:
    return Annotation.objects.create(
        task=task, annotator=person, state=state, answers=answers, submitted_at=timezone.now()
    )


def stats_row(client, config_id: int) -> dict:
    [row] = [r for r in client.get("/api/stats").json() if r["config_id"] == config_id]
    return row


def test_a_vote_without_a_verdict_counts_nowhere(owner, owner_client, annotator, annotator2):
    dataset = make_dataset(owner, 4)
    runs = [finished_run(owner, dataset, name) for name in ("small", "large")]
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner, overlap=2)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    verdicts = iter(["left", "right", "tie", "both bad", None, "left", "sideways", "left"])
    for task in Task.objects.filter(project=project).order_by("pk"):
        for person in (annotator, annotator2):
            verdict = next(verdicts)
            label(task, person, {"verdict": verdict} if verdict else {"reason": "no verdict"})

    # By hand: a win 1, a loss 0, a tie or both bad half; no verdict, no vote.
    points = {"left": (1, 0), "right": (0, 1), "tie": (0.5, 0.5), "both bad": (0.5, 0.5)}
    won, games = Counter(), Counter()
    by_value: dict = defaultdict(lambda: [0.0, 0])
    votes = Annotation.objects.select_related(
        "task__generation__run__model_config", "task__generation_b__run__model_config"
    )
    for vote in votes:
        if vote.answers.get("verdict") not in points:
            continue
        sides = (vote.task.generation, vote.task.generation_b)
        for generation, point in zip(sides, points[vote.answers["verdict"]], strict=True):
            config = generation.run.model_config
            won[config.pk] += point
            games[config.pk] += 1
            tally = by_value[(str(generation.item.metadata["n"]), config.name)]
            tally[0] += point
            tally[1] += 1
    assert sum(games.values()) == 2 * 6  # two of the eight votes have no verdict

    board = owner_client.get(f"/api/projects/{project.pk}/leaderboard").json()
    assert board["votes"] == 6
    for model in board["models"]:
        config_id = model["config_id"]
        assert model["games"] == games[config_id]
        assert model["win_rate"] == pytest.approx(won[config_id] / games[config_id])
        assert stats_row(owner_client, config_id)["win_rate"] == pytest.approx(
            won[config_id] / games[config_id]
        )
    groups = breakdown(project, "n")
    shown = {(value, name): (rate, n) for value, g in groups.items() for name, rate, n in g}
    assert shown == {key: (pytest.approx(points / n), n) for key, (points, n) in by_value.items()}


def test_run_tokens_per_s_counts_done_outputs_only(owner, owner_client):
    run = finished_run(owner, make_dataset(owner, 3), "local")
    start = timezone.now()
    gens = list(run.generations.order_by("item__index"))
    measured = [(DONE, 100, 0, 4), (DONE, 50, 1, 6), (FAILED, 999, -10, 100)]
    for g, (status, tokens, begin, end) in zip(gens, measured, strict=True):
        g.status, g.output_tokens = status, tokens
        g.started_at = start + timedelta(seconds=begin)
        g.finished_at = start + timedelta(seconds=end)
        g.save()

    done = [g for g in Generation.objects.filter(run=run) if g.status == DONE]
    span = max(g.finished_at for g in done) - min(g.started_at for g in done)
    by_hand = sum(g.output_tokens for g in done) / span.total_seconds()
    assert by_hand == pytest.approx(25.0)

    progress = owner_client.get(f"/api/runs/{run.pk}").json()["progress"]
    assert progress["tokens_per_s"] == pytest.approx(by_hand)
    assert stats_row(owner_client, run.model_config_id)["throughput_tps"] == pytest.approx(by_hand)
    page = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert f'data-figure="tps">{by_hand:.1f}<' in page


def test_cost_is_what_done_outputs_recorded(owner, owner_client):
    run = finished_run(owner, make_dataset(owner, 4), "api")
    costs = [(DONE, "0.001"), (DONE, "0.002"), (DONE, "0.003"), (FAILED, "0.5")]
    for g, (status, cost) in zip(run.generations.order_by("item__index"), costs, strict=True):
        g.status, g.cost_usd = status, Decimal(cost)
        g.save()

    done = [g for g in Generation.objects.filter(run=run) if g.status == DONE]
    total = sum(g.cost_usd for g in done)
    assert total == Decimal("0.006")

    row = stats_row(owner_client, run.model_config_id)
    assert row["total_cost_usd"] == pytest.approx(float(total))
    assert row["cost_per_query_usd"] == pytest.approx(float(total) / len(done))
    page = owner_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'data-figure="cost">$0.006<' in page  # as the statistics page writes it
    for sql in SQL_PATHS:
        exported = [r["measurements"]["cost_usd"] for r in rows({"run": run.pk}, sql=sql)]
        assert sum(exported) == pytest.approx(float(total))


def test_mean_rating_comes_from_labeling_projects_only(
    owner, owner_client, annotator, annotator2, reviewer
):
    dataset = make_dataset(owner, 2)
    local, other = (finished_run(owner, dataset, name) for name in ("local", "other"))
    quality = Project.objects.create(name="Quality", owner=owner, questions=DEFAULT_QUESTIONS)
    quality.runs.add(local)
    sync_tasks(quality)
    first, second = Task.objects.filter(project=quality).order_by("generation__item__index")
    label(first, annotator, {"quality": 4, "correct": "pass"})
    label(first, annotator2, {"quality": 5, "correct": "pass"})
    label(first, reviewer, {"correct": "fail"})  # rates nothing
    label(second, annotator, {"quality": 2, "correct": "fail"})
    label(second, annotator2, {"quality": 1}, state=AnnotationState.HELD)  # not submitted
    # A comparison's side ratings rate a side, not an output on its own: they count nowhere.
    arena = Project.objects.create(
        name="Arena", kind=ProjectKind.COMPARE, owner=owner, side_ratings=True
    )
    arena.questions = compare_questions(arena)
    arena.save()
    arena.runs.add(local, other)
    sync_tasks(arena)
    for task in Task.objects.filter(project=arena):
        label(task, annotator, {"verdict": "tie", "left_rating": 1, "right_rating": 1})

    # By hand: the "quality" answers of submitted labels in labeling projects.
    ratings = defaultdict(list)
    for note in Annotation.objects.select_related("task__project"):
        if (
            note.state == AnnotationState.SUBMITTED
            and note.task.project.kind == ProjectKind.LABEL
            and "quality" in note.answers
        ):
            ratings[note.task.generation_id].append(note.answers["quality"])
    means = {gen_id: sum(v) / len(v) for gen_id, v in ratings.items()}
    assert sorted(means.values()) == [2.0, 4.5]

    for sql in SQL_PATHS:
        exported = {r["id"]: r["mean_rating"] for r in rows({"run": local.pk}, sql=sql)}
        assert exported == means
    matrix = owner_client.get(f"/datasets/{dataset.pk}/matrix/").content.decode()
    assert sorted(re.findall(r"★ ([0-9.]+)", matrix)) == sorted(f"{m:.1f}" for m in means.values())
    pooled = [value for values in ratings.values() for value in values]
    row = stats_row(owner_client, local.model_config_id)
    assert row["mean_rating"] == pytest.approx(sum(pooled) / len(pooled))
    assert row["rating_n"] == len(pooled)
    assert stats_row(owner_client, other.model_config_id)["mean_rating"] is None


def test_the_figures_count_done_outputs_by_their_status():
    # inference/figures.py names the status itself (inference/models.py imports it).
    assert Q(status=GenerationStatus.DONE) == DONE_OUTPUTS


def test_a_routed_runs_quality_counts_under_the_leg_that_served_each_output(
    owner, owner_client, annotator
):
    """Issue 18: a hybrid run's ratings, passes and wins go to the configuration that served
    each output, as its speed and cost do, never to the routed configuration."""
    dataset = make_dataset(owner, 6)
    local = ModelConfig.objects.create(name="local", backend="mlx", model="/m", owner=owner)
    api = ModelConfig.objects.create(name="api", backend="anthropic", model="c", owner=owner)
    hybrid = ModelConfig.objects.create(
        name="hybrid",
        backend="mlx",
        model="-",
        owner=owner,
        route_primary=local,
        route_fallback=api,
        route_share=0.5,
    )
    routed = finished_run(owner, dataset, "routed")
    Run.objects.filter(pk=routed.pk).update(model_config=hybrid, params=hybrid.params())
    for n, generation in enumerate(routed.generations.order_by("item__index")):
        generation.served_by = api if n % 3 == 0 else local  # items 0 and 3 by the API
        generation.save(update_fields=["served_by"])
    other = finished_run(owner, dataset, "other")

    quality = Project.objects.create(name="Quality", owner=owner, questions=DEFAULT_QUESTIONS)
    quality.runs.add(routed)
    sync_tasks(quality)
    for index, task in enumerate(Task.objects.filter(project=quality)):
        label(
            task, annotator, {"quality": 1 + index % 5, "correct": "pass" if index % 2 else "fail"}
        )
    arena = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner)
    arena.questions = compare_questions(arena)
    arena.save()
    arena.runs.add(routed, other)
    sync_tasks(arena)
    verdicts = iter(["left", "right", "tie", "left", "right", "left"])
    for task in Task.objects.filter(project=arena).order_by("pk"):
        label(task, annotator, {"verdict": next(verdicts)})

    # By hand, from the rows: each output's serving configuration, else its run's.
    def served(generation) -> int:
        return generation.served_by_id or generation.run.model_config_id

    ratings, passes, wins = defaultdict(list), defaultdict(list), defaultdict(list)
    points = {"left": 1.0, "right": 0.0, "tie": 0.5}
    for note in Annotation.objects.select_related(
        "task__project", "task__generation__run", "task__generation_b__run"
    ):
        if note.task.project.kind == ProjectKind.LABEL:
            ratings[served(note.task.generation)].append(note.answers["quality"])
            passes[served(note.task.generation)].append(note.answers["correct"] == "pass")
        else:
            score = points[note.answers["verdict"]]
            wins[served(note.task.generation)].append(score)
            wins[served(note.task.generation_b)].append(1 - score)
    assert set(ratings) == {local.pk, api.pk} and len(ratings[api.pk]) == 2
    assert hybrid.pk not in wins and {local.pk, api.pk} <= set(wins)

    rows = {r["config_id"]: r for r in owner_client.get("/api/stats").json()}
    assert hybrid.pk not in rows
    for config_id in (local.pk, api.pk, other.model_config_id):
        row = rows[config_id]
        expect = ratings.get(config_id)
        assert row["mean_rating"] == (pytest.approx(sum(expect) / len(expect)) if expect else None)
        assert row["rating_n"] == len(expect or [])
        said = passes.get(config_id)
        assert row["pass_rate"] == (pytest.approx(sum(said) / len(said)) if said else None)
        games = wins[config_id]
        assert row["win_rate"] == pytest.approx(sum(games) / len(games))
