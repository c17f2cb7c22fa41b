"""The comparison leaderboard at scale: how long the Bradley-Terry fit with its bootstrap takes
on 100k votes, how fast the results page is served (cold, cached, and just after a new vote),
how fast the comparison labeling page is, and whether the ratings find the known strengths.

Usage: python bench/leaderboard.py [--quick] [--comparisons 100000] [--models 10]
           [--rounds 1000] [--annotators 20] [--pairs-per-item 5] [--repeat 5]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_leaderboard,
created if missing. The bench's tables in it are emptied at start, so its name must contain
"bench".

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate,
   truncate the tables the bench fills, delete its users.
2. Build, timed apart (build_s): --models configurations with known ratings (evenly spaced,
   850..1150 on the Elo-like scale of annotate/leaderboard.py, shuffled over the models), a
   dataset of N = comparisons / pairs-per-item items, one COMPLETED run per model with a DONE
   generation per item (INSERT ... SELECT FROM generate_series), a compare project over the
   runs, and --comparisons tasks: pairs-per-item distinct model pairs per item, each model
   pair alternating sides from a random start. Each task has one submitted annotation by one
   of --annotators members, its verdict drawn from the Bradley-Terry model of the true
   strengths with ties: "tie" 8% and "both bad" 4% of the time, and otherwise "left" with the
   probability that makes a tie's half win unbiased (P(left) + ties / 2 = the BT probability).
   Tasks and annotations go in by COPY. Then VACUUM ANALYZE.
3. Measure:
   - leaderboard_s = load_votes_s + compute_s: `compute(load_votes(project), rounds)` after
     cache.clear(), each part timed on its own; the median of three;
   - page_cold_s: GET /projects/<pk>/results/ through django.test.Client as a superuser with
     an empty cache; page_s: the median of --repeat more GETs (the ratings cached);
   - page_after_vote_s: --vote-rounds times, one annotator takes a new task (GET .../next/),
     opens it and POSTs a verdict, then the superuser GETs the results page: the median;
   - label_page_s: the median of those GETs of the comparison labeling page
     (/projects/<pk>/tasks/<task_pk>/, two outputs and a word diff) by the annotator;
   - spearman: Spearman's rho between the estimated and the true ratings; coverage: how many
     true ratings lie inside their bootstrap 95% interval (about 95% of models expected);
   - diagnostics: EXPLAIN ANALYZE of load_votes' query, the SQL statements each page sends
     (the slowest, timed),
     and what a cheaper cache key (count and max(submitted_at) of submitted annotations)
     would cost per request.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: leaderboard_s < 5, page_s < 0.2 and page_after_vote_s < 0.2 (seconds). The page always
uses the view's 1000 rounds; --rounds sets only the direct measurement. The machine's other
load counts: compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402
from pg import copy_rows, ensure_database, reset, setup_django, vacuum_analyze  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_leaderboard"
PREFIX = "bench-lb"
GOALS = {"leaderboard_s": 5.0, "page_s": 0.2, "page_after_vote_s": 0.2}
TIE, BOTH_BAD = 0.08, 0.04
VERDICTS = ("left", "right", "tie", "both bad")
CATEGORIES = ("math", "code", "writing", "facts")
# The tables the bench fills, emptied at start (and whatever references them, by CASCADE).


@dataclass(frozen=True)
class Bench:
    comparisons: int
    models: int
    rounds: int
    annotators: int
    pairs_per_item: int
    repeat: int
    vote_rounds: int
    seed: int

    @property
    def items(self) -> int:
        return math.ceil(self.comparisons / self.pairs_per_item)


@dataclass
class Built:
    project_id: int
    superuser_id: int
    annotator_ids: list[int]
    config_ids: list[int]  # model k's configuration
    true_ratings: np.ndarray  # model k's rating, mean 1000
    spare_pairs: list[tuple[int, int]]  # (left, right) generation ids no task uses yet
    seconds: dict[str, float]


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k comparisons, 3 vote rounds")
    parser.add_argument("--comparisons", type=int, help="default 100000, 20000 quick")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (direct)")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--pairs-per-item", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="warm page loads")
    parser.add_argument("--vote-rounds", type=int, help="vote then load (5, 3 quick)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    pairs = args.models * (args.models - 1) // 2
    # one pair per item is left out, for the votes the bench adds
    if args.models < 3 or not 1 <= args.pairs_per_item < pairs:
        raise SystemExit(f"--pairs-per-item must be 1..{pairs - 1} with {args.models} models")
    return Bench(
        comparisons=args.comparisons or (20_000 if args.quick else 100_000),
        models=args.models,
        rounds=args.rounds,
        annotators=args.annotators,
        pairs_per_item=args.pairs_per_item,
        repeat=args.repeat,
        vote_rounds=args.vote_rounds or (3 if args.quick else 5),
        seed=args.seed,
    )


# --- The synthetic votes ------------------------------------------------------------------------


def true_ratings(models: int, rng: np.random.Generator) -> np.ndarray:
    """Evenly spaced ratings, mean 1000, dealt to the models in a random order."""
    return rng.permutation(np.linspace(850, 1150, models))


def plan_pairs(bench: Bench, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """(item, left model, right model) per comparison: pairs_per_item distinct model pairs
    per item; each model pair alternates sides from a random start."""
    a, b = np.triu_indices(bench.models, k=1)
    choice = rng.random((bench.items, len(a))).argsort(axis=1)[:, : bench.pairs_per_item]
    pair = choice.ravel()[: bench.comparisons]
    item = np.repeat(np.arange(bench.items), bench.pairs_per_item)[: bench.comparisons]
    order = np.argsort(pair, kind="stable")
    starts = np.searchsorted(pair[order], pair[order])  # first position of each pair's run
    seen = np.empty_like(pair)
    seen[order] = np.arange(len(pair)) - starts  # earlier comparisons of the same pair
    flip = (seen + rng.integers(0, 2, len(a))[pair]) % 2 == 1
    left, right = np.where(flip, b[pair], a[pair]), np.where(flip, a[pair], b[pair])
    return item, left, right


def draw_verdicts(
    ratings: np.ndarray, left: np.ndarray, right: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Verdict indexes into VERDICTS: Bradley-Terry with ties counted as half a win each."""
    p_left = 1 / (1 + 10 ** ((ratings[right] - ratings[left]) / 400))
    ties = TIE + BOTH_BAD
    decisive_left = (p_left - ties / 2) / (1 - ties)
    u = rng.random(len(left))
    verdict = np.where(rng.random(len(left)) < decisive_left, 0, 1)
    verdict[u < ties] = 3
    verdict[u < TIE] = 2
    return verdict


# --- Building the data --------------------------------------------------------------------------


def make_users(annotators: int) -> tuple[Any, Any, list[Any]]:
    """(owner, superuser, annotators), without passwords (hashing is slow)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = [f"{PREFIX}-a{i:02d}" for i in range(annotators)] + [f"{PREFIX}-owner"]
    users = [User(username=name) for name in names]
    users.append(User(username=f"{PREFIX}-root", is_superuser=True, is_staff=True))
    for user in users:
        user.set_unusable_password()
    User.objects.bulk_create(users)
    by_name = {u.username: u for u in User.objects.filter(username__startswith=PREFIX)}
    return (
        by_name[f"{PREFIX}-owner"],
        by_name[f"{PREFIX}-root"],
        [by_name[n] for n in names[:annotators]],
    )


def make_runs(bench: Bench, owner, dataset) -> list[Any]:
    """One model configuration and one COMPLETED run of it per model."""
    from inference.models import ModelConfig, Run, RunStatus

    configs = ModelConfig.objects.bulk_create(
        ModelConfig(name=f"{PREFIX}-model-{k}", backend="openai", model=f"m{k}", owner=owner)
        for k in range(bench.models)
    )
    return Run.objects.bulk_create(
        Run(
            dataset=dataset,
            model_config=config,
            params=config.params(),
            status=RunStatus.COMPLETED,
            total=bench.items,
            created_by=owner,
        )
        for config in configs
    )


def insert_outputs(dataset_id: int, run_ids: list[int], items: int) -> None:
    """Items with ids 1..N (metadata: a category), and model k's generation of item i with id
    k * N + i + 1: a shared paragraph and a few words of the model's own, for the diff."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_item
                (id, dataset_id, index, external_id, messages, prompt, reference, metadata)
            SELECT i + 1, %s, i, '',
                   jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Prompt ' || i)),
                   'Prompt ' || i, '',
                   jsonb_build_object('category', (%s::text[])[1 + i %% %s])
            FROM generate_series(0, %s - 1) AS i
            """,
            [dataset_id, list(CATEGORIES), len(CATEGORIES), items],
        )
        cursor.execute(
            """
            INSERT INTO annotate_generation
                (id, run_id, item_id, sample_index, status, output, finish_reason,
                 prompt_tokens, output_tokens, latency_s, error, attempts, retries,
                 backend_version, machine, worker, started_at, finished_at)
            SELECT (r.k - 1) * %(n)s + i.id, r.run_id, i.id, 0, 'done',
                   'Answer to prompt ' || i.index || E'.\n\n'
                   || repeat('The reasoning goes step by step through the question. ', 6)
                   || 'Model ' || (r.k - 1) || ' concludes: ' || md5(i.id || '-' || r.k) || '.',
                   'stop', 12, 90, 0.5, '', 1, 0, '', '', '', now(), now()
            FROM unnest(%(runs)s::bigint[]) WITH ORDINALITY AS r(run_id, k)
            CROSS JOIN annotate_item i
            """,
            {"n": items, "runs": run_ids},
        )
    restart_ids("annotate_item", "annotate_generation")


def restart_ids(*tables: str) -> None:
    """Move the id sequences past rows inserted with explicit ids."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )


TASK_COLUMNS = ("id", "project_id", "generation_id", "generation_b_id", "claimed", "is_full")
ANNOTATION_COLUMNS = ("id", "task_id", "annotator_id", "state", "answers", "started_at")


def insert_votes(
    bench: Bench, project_id: int, annotator_ids: list[int], plan: dict[str, np.ndarray]
) -> None:
    """One full task per comparison (ids 1..C), each with one submitted annotation, by COPY."""
    n = bench.items
    left = (plan["left"] * n + plan["item"] + 1).tolist()
    right = (plan["right"] * n + plan["item"] + 1).tolist()
    copy_rows(
        "annotate_task",
        (*TASK_COLUMNS, "submitted"),
        ((t + 1, project_id, left[t], right[t], 1, True, 1) for t in range(bench.comparisons)),
    )
    rng = np.random.default_rng(bench.seed + 1)
    who = rng.integers(0, len(annotator_ids), bench.comparisons).tolist()
    ages = rng.uniform(0, 7 * 24 * 3600, bench.comparisons).tolist()
    answers = [json.dumps({"verdict": v}) for v in VERDICTS]
    verdicts = plan["verdict"].tolist()
    now = datetime.now(UTC)

    def row(t: int) -> tuple:
        submitted_at = now - timedelta(seconds=ages[t])
        started_at = submitted_at - timedelta(seconds=30)
        vote = answers[verdicts[t]]
        person = annotator_ids[who[t]]
        return (t + 1, t + 1, person, "submitted", vote, started_at, submitted_at, 30.0)

    copy_rows(
        "annotate_annotation",
        (*ANNOTATION_COLUMNS, "submitted_at", "time_spent_s"),
        (row(t) for t in range(bench.comparisons)),
    )
    restart_ids("annotate_task", "annotate_annotation")


def spare_pairs(bench: Bench, plan: dict[str, np.ndarray], count: int) -> list[tuple[int, int]]:
    """Generation pairs of the first items that no task shows, for the votes added later."""
    shown = zip(plan["item"].tolist(), plan["left"].tolist(), plan["right"].tolist(), strict=True)
    used = {(item, min(a, b), max(a, b)) for item, a, b in shown}
    pairs = list(zip(*(side.tolist() for side in np.triu_indices(bench.models, k=1)), strict=True))
    out: list[tuple[int, int]] = []
    for item in range(bench.items):
        for a, b in pairs:
            if (item, a, b) not in used:
                out.append((a * bench.items + item + 1, b * bench.items + item + 1))
            if len(out) == count:
                return out
    return out


def build(bench: Bench) -> Built:
    from annotate.comparisons.pairs import compare_questions
    from annotate.datasets.models import Dataset
    from annotate.labeling.models import Project, ProjectKind, ProjectMember

    start = time.perf_counter()
    rng = np.random.default_rng(bench.seed)
    ratings = true_ratings(bench.models, rng)
    item, left, right = plan_pairs(bench, rng)
    plan = {
        "item": item,
        "left": left,
        "right": right,
        "verdict": draw_verdicts(ratings, left, right, rng),
    }
    owner, root, annotators = make_users(bench.annotators)
    dataset = Dataset.objects.create(name=f"{PREFIX} dataset", owner=owner)
    runs = make_runs(bench, owner, dataset)
    insert_outputs(dataset.pk, [r.pk for r in runs], bench.items)
    seconds = {"outputs": time.perf_counter() - start}
    project = Project.objects.create(
        name=f"{PREFIX} project", kind=ProjectKind.COMPARE, overlap=1, owner=owner
    )
    project.questions = compare_questions(project)
    project.save(update_fields=("questions",))
    project.runs.set(runs)
    ProjectMember.objects.bulk_create(ProjectMember(project=project, user=u) for u in annotators)
    insert_votes(bench, project.pk, [u.pk for u in annotators], plan)
    seconds["votes"] = time.perf_counter() - start - seconds["outputs"]
    vacuum_analyze()
    seconds["build"] = time.perf_counter() - start
    return Built(
        project_id=project.pk,
        superuser_id=root.pk,
        annotator_ids=[u.pk for u in annotators],
        config_ids=[r.model_config_id for r in runs],
        true_ratings=ratings,
        spare_pairs=spare_pairs(bench, plan, bench.vote_rounds),
        seconds=seconds,
    )


# --- Measurements -------------------------------------------------------------------------------


def measure_leaderboard(project_id: int, rounds: int, repeat: int = 3) -> tuple[Any, dict]:
    """compute(load_votes(project), rounds) with an empty cache, each part timed; the run
    with the median total of `repeat` (the machine's other load makes single runs noisy)."""
    from django.core.cache import cache

    from annotate.comparisons.leaderboard import compute, load_votes
    from annotate.labeling.models import Project

    project = Project.objects.get(pk=project_id)
    runs = []
    for _ in range(repeat):
        cache.clear()
        votes, load_s = timed(load_votes, project)
        board, compute_s = timed(compute, votes, rounds=rounds)
        runs.append((load_s + compute_s, load_s, compute_s, board))
    total, load_s, compute_s, board = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
    return board, {"load_votes_s": load_s, "compute_s": compute_s, "leaderboard_s": total}


def client_for(user_id: int):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def get(client, url: str, status: int = 200) -> float:
    """Seconds to GET url, which must answer status."""
    response, seconds = timed(client.get, url)
    if response.status_code != status:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}, expected {status}")
    return seconds


def measure_results_page(built: Built, repeat: int) -> dict[str, Any]:
    """The results page with an empty cache, then --repeat times with the ratings cached."""
    from django.core.cache import cache

    client = client_for(built.superuser_id)
    url = f"/projects/{built.project_id}/results/"
    get(client, url)  # first request of the process: imports, URL resolving, templates
    cache.clear()
    cold = get(client, url)
    warm = [get(client, url) for _ in range(repeat)]
    return {"page_cold_s": cold, "page_s": statistics.median(warm), "page_warm_all": warm}


def add_open_tasks(project_id: int, pairs: list[tuple[int, int]]) -> None:
    """New comparison tasks, open for the next annotator to ask."""
    from annotate.labeling.models import Task

    Task.objects.bulk_create(
        Task(project_id=project_id, generation_id=a, generation_b_id=b) for a, b in pairs
    )


def measure_votes(built: Built) -> dict[str, Any]:
    """Per round: an annotator takes the next task, opens it (timed: the labeling page) and
    votes through the views; then the superuser loads the results page (timed)."""
    add_open_tasks(built.project_id, built.spare_pairs)
    annotator = client_for(built.annotator_ids[0])
    reviewer = client_for(built.superuser_id)
    results_url = f"/projects/{built.project_id}/results/"
    get(reviewer, results_url)  # the current votes cached, as after a first visit
    label, after = [], []
    for round_index in range(len(built.spare_pairs)):
        response = annotator.get(f"/projects/{built.project_id}/next/")
        if response.status_code != 302 or "/tasks/" not in response["Location"]:
            raise RuntimeError(f"next: HTTP {response.status_code}, no task to vote on")
        task_url = response["Location"]
        label.append(get(annotator, task_url))
        vote = {"verdict": VERDICTS[round_index % len(VERDICTS)], "time_spent_s": "5"}
        response = annotator.post(task_url, vote)
        if response.status_code != 302:
            raise RuntimeError(f"POST {task_url}: HTTP {response.status_code}")
        after.append(get(reviewer, results_url))
    return {
        "label_page_s": statistics.median(label),
        "page_after_vote_s": statistics.median(after),
        "label_all": label,
        "after_vote_all": after,
    }


def accuracy(board, built: Built) -> dict[str, Any]:
    """Spearman's rho of estimated against true ratings; true ratings inside the intervals."""
    from scipy.stats import spearmanr

    truth = dict(zip(built.config_ids, built.true_ratings.tolist(), strict=True))
    rows = sorted(board.rows, key=lambda r: truth[r.config_id])
    rho = spearmanr([r.rating for r in rows], [truth[r.config_id] for r in rows]).statistic
    inside = sum(r.rating_low <= truth[r.config_id] <= r.rating_high for r in rows)
    errors = [r.rating - truth[r.config_id] for r in rows]
    return {
        "spearman": float(rho),
        "coverage": f"{inside}/{len(rows)}",
        "max_abs_error": max(abs(e) for e in errors),
        "mean_half_width": statistics.mean((r.rating_high - r.rating_low) / 2 for r in rows),
        "rows": [(r, truth[r.config_id]) for r in board.rows],
    }


# --- Diagnostics --------------------------------------------------------------------------------


def statements(client, url: str) -> list[tuple[float, str]]:
    """(seconds, SQL) of each statement a GET of url sends, timed at the database driver."""
    from django.db import connection

    sent: list[tuple[float, str]] = []

    def timed_execute(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sent.append((time.perf_counter() - start, sql))

    with connection.execute_wrapper(timed_execute):
        client.get(url)
    return sent


def slowest(sent: list[tuple[float, str]], count: int = 3) -> list[str]:
    """The count slowest statements: milliseconds and the start of their FROM clause."""
    lines = []
    for seconds, sql in sorted(sent, reverse=True)[:count]:
        source = sql[sql.find(" FROM ") + 1 :][:90] if " FROM " in sql else sql[:90]
        lines.append(f"{1000 * seconds:7.1f} ms  {source}")
    return lines


def explain_load_votes(project_id: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the query load_votes sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotate.comparisons.leaderboard import load_votes
    from annotate.labeling.models import Project

    project = Project.objects.get(pk=project_id)
    with CaptureQueriesContext(connection) as queries:
        load_votes(project)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[-1]["sql"])
        return [row[0] for row in cursor.fetchall()]


def cheap_key_s(project_id: int, repeat: int) -> float:
    """Median seconds of the query a cheaper cache key would need: the count and the latest
    submitted_at of the project's submitted annotations."""
    from django.db.models import Count, Max

    from annotate.labeling.models import Annotation, AnnotationState

    submitted = Annotation.objects.filter(
        task__project_id=project_id, state=AnnotationState.SUBMITTED
    )
    return statistics.median(
        timed(submitted.aggregate, n=Count("pk"), last=Max("submitted_at"))[1]
        for _ in range(repeat)
    )


def diagnose(built: Built, repeat: int) -> dict[str, Any]:
    reviewer = client_for(built.superuser_id)
    annotator_id = built.annotator_ids[0]
    task_id = last_task_of(annotator_id, built.project_id)
    return {
        "plan": explain_load_votes(built.project_id),
        "page_sql": statements(reviewer, f"/projects/{built.project_id}/results/"),
        "label_sql": statements(
            client_for(annotator_id), f"/projects/{built.project_id}/tasks/{task_id}/"
        ),
        "cheap_key_s": cheap_key_s(built.project_id, repeat),
    }


def last_task_of(annotator_id: int, project_id: int) -> int:
    from annotate.labeling.models import Annotation

    return (
        Annotation.objects.filter(annotator_id=annotator_id, task__project_id=project_id)
        .latest("pk")
        .task_id
    )


# --- Report -------------------------------------------------------------------------------------


def print_report(bench: Bench, built: Built, figures: dict, quality: dict, diag: dict) -> None:
    print(
        f"\n{bench.comparisons} comparisons of {bench.models} models on {bench.items} items, "
        f"{bench.annotators} annotators; built in {built.seconds['build']:.1f} s "
        f"(outputs {built.seconds['outputs']:.1f} s, votes {built.seconds['votes']:.1f} s)"
    )
    print(f"\n  {'rank':>4}  {'model':<16}{'true':>7}{'rating':>8}{'95% interval':>16}{'games':>8}")
    for row, truth in quality["rows"]:
        interval = f"{row.rating_low:.0f}-{row.rating_high:.0f}"
        flag = "" if row.rating_low <= truth <= row.rating_high else "  outside"
        print(
            f"  {row.rank:>4}  {row.name:<16}{truth:>7.0f}{row.rating:>8.1f}{interval:>16}"
            f"{row.games:>8}{flag}"
        )
    print(
        f"\n  spearman {quality['spearman']:.3f}, coverage {quality['coverage']}, "
        f"max |error| {quality['max_abs_error']:.1f}, "
        f"mean half-width {quality['mean_half_width']:.1f}"
    )
    print(f"\n  {'measure':<34}{'seconds':>9}  goal")
    for name, label in (
        ("load_votes_s", "load_votes"),
        ("compute_s", f"compute ({bench.rounds} rounds)"),
        ("leaderboard_s", "leaderboard = both, cold"),
        ("page_cold_s", "results page, empty cache"),
        ("page_s", f"results page, cached (median {bench.repeat})"),
        ("page_after_vote_s", f"results page after a vote (med {bench.vote_rounds})"),
        ("label_page_s", "comparison labeling page"),
        ("cheap_key_s", "count+max(submitted_at) query"),
    ):
        goal = f"< {GOALS[name]}" if name in GOALS else ""
        print(f"  {label:<34}{figures[name]:>9.3f}  {goal}")
    for name, label in (("page_sql", "cached results page"), ("label_sql", "labeling page")):
        sent = diag[name]
        print(f"\n  {label}: {len(sent)} SQL statements, slowest:")
        for line in slowest(sent):
            print(f"    {line}")
    print("  warm page loads: " + ", ".join(f"{s:.3f}" for s in figures["page_warm_all"]))
    print("  page after each vote: " + ", ".join(f"{s:.3f}" for s in figures["after_vote_all"]))
    print("\n  EXPLAIN ANALYZE of load_votes' query:")
    for line in diag["plan"]:
        print(f"    {line}")


def print_goals(figures: dict) -> None:
    print()
    for name, goal in GOALS.items():
        verdict = "met" if figures[name] < goal else "MISSED"
        print(f"  goal {name} < {goal} s: {verdict} ({figures[name]:.3f} s)")


def summary(bench: Bench, built: Built, figures: dict, quality: dict, diag: dict) -> dict:
    rounded = {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}
    return {
        **rounded,
        "spearman": round(quality["spearman"], 4),
        "coverage": quality["coverage"],
        "max_abs_error": round(quality["max_abs_error"], 2),
        "comparisons": bench.comparisons,
        "models": bench.models,
        "rounds": bench.rounds,
        "items": bench.items,
        "annotators": bench.annotators,
        "build_s": round(built.seconds["build"], 2),
        "page_statements": len(diag["page_sql"]),
        "label_statements": len(diag["label_sql"]),
        "goals_met": {name: figures[name] < goal for name, goal in GOALS.items()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    ensure_database(url)
    setup_django(url)
    reset(PREFIX)
    print(f"Building {bench.comparisons} comparisons ...", flush=True)
    built = build(bench)
    board, figures = measure_leaderboard(built.project_id, bench.rounds)
    quality = accuracy(board, built)
    figures |= measure_results_page(built, bench.repeat)
    figures |= measure_votes(built)
    diag = diagnose(built, bench.repeat)
    figures["cheap_key_s"] = diag["cheap_key_s"]
    print_report(bench, built, figures, quality, diag)
    print_goals(figures)
    print(json.dumps(summary(bench, built, figures, quality, diag)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
