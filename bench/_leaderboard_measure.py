"""bench/leaderboard.py's measurements (the leaderboard, the results page, votes through the
views), diagnostics and report (imported after django.setup())."""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _leaderboard_build import VERDICTS, Built
from common import timed
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max
from django.test import Client
from django.test.utils import CaptureQueriesContext
from environment import start_worker
from scipy.stats import spearmanr

from annotate.comparisons.leaderboard import compute, load_votes
from annotate.labeling.models import Annotation, AnnotationState, Project, Task

if TYPE_CHECKING:
    from leaderboard import Bench

GOALS = {"leaderboard_s": 5.0, "page_s": 0.2, "page_after_vote_s": 0.2, "vote_to_board_s": 2.0}


# --- Measurements -------------------------------------------------------------------------------


def measure_leaderboard(project_id: int, rounds: int, repeat: int = 3) -> tuple[Any, dict]:
    """compute(load_votes(project), rounds) with an empty cache, each part timed; the run
    with the median total of `repeat` (the machine's other load makes single runs noisy)."""
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
    client = client_for(built.superuser_id)
    url = f"/projects/{built.project_id}/results/"
    get(client, url)  # first request of the process: imports, URL resolving, templates
    cache.clear()
    cold = get(client, url)
    warm = [get(client, url) for _ in range(repeat)]
    return {"page_cold_s": cold, "page_s": statistics.median(warm), "page_warm_all": warm}


def add_open_tasks(project_id: int, pairs: list[tuple[int, int]]) -> None:
    """New comparison tasks, open for the next annotator to ask."""
    Task.objects.bulk_create(
        Task(project_id=project_id, generation_id=a, generation_b_id=b) for a, b in pairs
    )


def measure_votes(built: Built, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """Per pair: an annotator takes the next task, opens it (timed: the labeling page) and
    votes through the views; then the superuser loads the results page (timed)."""
    add_open_tasks(built.project_id, pairs)
    annotator = client_for(built.annotator_ids[0])
    reviewer = client_for(built.superuser_id)
    results_url = f"/projects/{built.project_id}/results/"
    get(reviewer, results_url)  # the current votes cached, as after a first visit
    label, after = [], []
    for round_index in range(len(pairs)):
        task_url = next_task_url(annotator, built.project_id)
        label.append(get(annotator, task_url))
        vote(annotator, task_url, round_index)
        after.append(get(reviewer, results_url))
    return {
        "label_page_s": statistics.median(label),
        "page_after_vote_s": statistics.median(after),
        "label_all": label,
        "after_vote_all": after,
    }


def next_task_url(annotator, project_id: int) -> str:
    response = annotator.get(f"/projects/{project_id}/next/")
    if response.status_code != 302 or "/tasks/" not in response["Location"]:
        raise RuntimeError(f"next: HTTP {response.status_code}, no task to vote on")
    return response["Location"]


def vote(annotator, task_url: str, index: int) -> None:
    body = {"verdict": VERDICTS[index % len(VERDICTS)], "time_spent_s": "5"}
    response = annotator.post(task_url, body)
    if response.status_code != 302:
        raise RuntimeError(f"POST {task_url}: HTTP {response.status_code}")


def measure_points(project_id: int, repeat: int) -> dict[str, float]:
    """What a stale results page counts: the votes and their point estimates, no bootstrap."""
    project = Project.objects.get(pk=project_id)
    runs = [timed(compute, timed(load_votes, project)[0], rounds=0)[1] for _ in range(repeat)]
    return {"points_fit_s": statistics.median(runs)}


def measure_freshness(built: Built, pairs: list[tuple[int, int]]) -> dict[str, Any]:
    """With a worker: per pair, a vote through the views, then the results page polled until
    it shows the new count (vote_to_board), then until it no longer says "Updating"
    (vote_to_intervals: the worker's bootstrap stored)."""
    add_open_tasks(built.project_id, pairs)
    annotator, reviewer = client_for(built.annotator_ids[0]), client_for(built.superuser_id)
    url = f"/projects/{built.project_id}/results/"
    with tempfile.TemporaryDirectory() as folder:
        worker = start_worker("bench-board", Path(folder) / "worker.log", "api")
        try:
            until(reviewer, url, lambda html: "Updating" not in html)  # earlier votes counted
            to_board, to_intervals = [], []
            for index in range(len(pairs)):
                task_url = next_task_url(annotator, built.project_id)
                count = Project.objects.get(pk=built.project_id).board["votes"] + 1
                start = time.perf_counter()
                vote(annotator, task_url, index)
                until(reviewer, url, lambda html, n=count: f"from {n} votes." in html)
                to_board.append(time.perf_counter() - start)
                until(reviewer, url, lambda html: "Updating" not in html)
                to_intervals.append(time.perf_counter() - start)
        finally:
            worker.stop()
    return {
        "vote_to_board_s": percentile(to_board, 95),
        "vote_to_board_p50_s": percentile(to_board, 50),
        "vote_to_intervals_s": percentile(to_intervals, 95),
        "vote_to_intervals_p50_s": percentile(to_intervals, 50),
        "vote_to_board_all": to_board,
        "vote_to_intervals_all": to_intervals,
    }


def until(client, url: str, shows, timeout: float = 60) -> float:
    """Seconds until a GET of url shows what `shows` looks for (polled every 20 ms)."""
    start = time.perf_counter()
    while not shows(client.get(url).content.decode()):
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{url}: not shown after {timeout} s")
        time.sleep(0.02)
    return time.perf_counter() - start


def percentile(values: list[float], q: int) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def accuracy(board, built: Built) -> dict[str, Any]:
    """Spearman's rho of estimated against true ratings; true ratings inside the intervals."""
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
    project = Project.objects.get(pk=project_id)
    with CaptureQueriesContext(connection) as queries:
        load_votes(project)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[-1]["sql"])
        return [row[0] for row in cursor.fetchall()]


def cheap_key_s(project_id: int, repeat: int) -> float:
    """Median seconds of the query a cheaper cache key would need: the count and the latest
    submitted_at of the project's submitted annotations."""
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
    """The number (its name in URLs) of the annotator's last task in the project."""
    return (
        Annotation.objects.filter(annotator_id=annotator_id, task__project_id=project_id)
        .select_related("task")
        .latest("pk")
        .task.number
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
        ("points_fit_s", "point estimates (no bootstrap)"),
        ("vote_to_board_p50_s", "vote to page count, p50"),
        ("vote_to_board_s", "vote to page count, p95"),
        ("vote_to_intervals_p50_s", "vote to worker's intervals, p50"),
        ("vote_to_intervals_s", "vote to worker's intervals, p95"),
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
    print("  vote to page count: " + ", ".join(f"{s:.3f}" for s in figures["vote_to_board_all"]))
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
