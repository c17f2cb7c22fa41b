"""bench/stats.py's measurements through the test client, the diagnostics (statements,
EXPLAIN, the page's parts) and the report (imported after django.setup())."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

from _stats_profiles import EXPLAIN_OVER_S, GOALS, URLS, Bench
from common import timed
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate.stats import charts, speed
from annotate.stats.figures import model_stats
from annotate.stats.projection import Workload, compare
from inference.models import Generation, GenerationStatus, Run, RunStatus

# --- Measurements -------------------------------------------------------------------------------


def client_for(user_id: int):
    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return client


def get(client, url: str) -> float:
    """Seconds to GET url, which must answer 200."""
    response, seconds = timed(client.get, url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
    return seconds


def repeated(call: Callable[[], Any], repeat: int) -> tuple[float, float, list[float]]:
    """(first, median of repeat after one warm-up, the repeats)."""
    first = timed(call)[1]
    call()
    times = [timed(call)[1] for _ in range(repeat)]
    return first, statistics.median(times), times


def measure(user_id: int, repeat: int) -> dict[str, Any]:
    """Each URL cold (its first GET), then warm; the page first: page_cold_s is the
    process's first request. Then model_stats() called directly."""
    cache.clear()  # whatever the app may cache starts empty, as after a deployment
    client = client_for(user_id)
    figures: dict[str, Any] = {}
    for name, url in URLS.items():
        cold, median, times = repeated(lambda url=url: get(client, url), repeat)
        figures |= {f"{name}_s": median, f"{name}_cold_s": cold, f"{name}_all": times}
    cold, median, times = repeated(model_stats, repeat)
    figures |= {"model_stats_s": median, "model_stats_cold_s": cold, "model_stats_all": times}
    figures["page_cold_s"] = figures["stats_page_cold_s"]
    return figures


def record_result(run_id: int) -> None:
    """The database writes of a worker recording a result of a running run: the generation
    (its values kept, so the figures do not drift) and its run's activity time."""
    latest = Generation.objects.filter(run_id=run_id, status=GenerationStatus.DONE).latest("pk")
    Generation.objects.filter(pk=latest.pk).update(finished_at=F("finished_at"))
    Run.objects.filter(pk=run_id).update(last_activity_at=timezone.now())


def measure_after_write(user_id: int, rounds: int) -> dict[str, Any]:
    """The page just after a worker wrote a result, rounds times: what a cache of the
    figures would cost while runs are going. The newest run is made running for it (its
    generations then count live, as a running run's do), and finished again after."""
    client = client_for(user_id)
    run = Run.objects.latest("pk")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, finished_at=None)
    times = []
    try:
        for _ in range(rounds):
            record_result(run.pk)
            times.append(get(client, URLS["stats_page"]))
    finally:
        Run.objects.filter(pk=run.pk).update(status=run.status, finished_at=run.finished_at)
    return {"page_after_write_s": statistics.median(times), "page_after_write_all": times}


# --- Diagnostics --------------------------------------------------------------------------------


def captured(call: Callable[[], Any]) -> list[dict]:
    """The SQL statements call sends, each with its seconds."""
    with CaptureQueriesContext(connection) as queries:
        call()
    return [{"sql": q["sql"], "s": float(q["time"])} for q in queries.captured_queries]


def statements(user_id: int) -> dict[str, dict[str, float]]:
    """Per URL: SQL statements sent and their summed seconds."""
    client = client_for(user_id)
    out = {}
    for name, url in URLS.items():
        queries = captured(lambda url=url: get(client, url))
        out[name] = {"count": len(queries), "sql_s": sum(q["s"] for q in queries)}
    return out


def page_parts(repeat: int) -> dict[str, float]:
    """The page's parts on their own (medians): the statistics, each chart, the projection."""
    stats = model_stats()
    workload = Workload(queries=10000, input_tokens=500, output_tokens=300, per_day=True)
    end_to_end, throughput = speed.end_to_end_tps(stats), speed.throughput_by_in_flight(stats)
    parts = {
        "model_stats": model_stats,
        "end_to_end_tps": lambda: speed.end_to_end_tps(stats),
        "throughput_by_in_flight": lambda: speed.throughput_by_in_flight(stats),
        "latency_points": lambda: charts.latency_points(stats),
        "chart_data": lambda: charts.chart_data(
            stats, end_to_end, throughput, charts.tradeoffs(stats)
        ),
        "projection": lambda: compare(stats, workload),
    }
    return {name: repeated(call, repeat)[1] for name, call in parts.items()}


def slowest(user_id: int, limit: int = 4) -> list[dict]:
    """The page's slowest statements (one of each shape: the scatter sends one per model)."""
    client = client_for(user_id)
    queries = sorted(captured(lambda: get(client, URLS["stats_page"])), key=lambda q: -q["s"])
    seen, out = set(), []
    for q in queries:
        shape = q["sql"][:120]
        if q["s"] >= EXPLAIN_OVER_S and shape not in seen:
            seen.add(shape)
            out.append(q)
    return out[:limit]


def explain(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [row[0] for row in cursor.fetchall()]


def table_sizes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_table_size('annotate_generation')),"
            " pg_size_pretty(pg_indexes_size('annotate_generation'))"
        )
        heap, indexes = cursor.fetchone()
    return {"generation_table": heap, "generation_indexes": indexes}


def diagnose(user_id: int, repeat: int) -> dict[str, Any]:
    slow = slowest(user_id)
    return {
        "statements": statements(user_id),
        "parts": page_parts(repeat),
        "slow": [{**q, "plan": explain(q["sql"])} for q in slow],
        "sizes": table_sizes(),
    }


# --- Report -------------------------------------------------------------------------------------


LABELS = {
    "stats_page": "GET /stats/",
    "stats_projection": "GET /stats/?queries=... (projection)",
    "stats_csv": "GET /stats.csv",
    "stats_api": "GET /api/stats",
    "model_stats": "model_stats() alone",
    "page_after_write": "GET /stats/ after a result is written",
}


def print_report(bench: Bench, seconds: dict, figures: dict, diag: dict) -> None:
    built = "built" if seconds else "reused (marker and size match)"
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items() if k != "build")
    print(
        f"\n{bench.generations} DONE generations of {bench.models} models; data {built}"
        + (f" in {seconds['build']:.1f} s ({parts})" if seconds else "")
    )
    sizes = diag["sizes"]
    print(
        f"  annotate_generation: {sizes['generation_table']}, indexes {sizes['generation_indexes']}"
    )
    print(f"\n  {'measure':<40}{'cold':>8}{'median':>8}{'stmts':>7}{'sql s':>8}  goal")
    for name, label in LABELS.items():
        goal = f"< {GOALS[f'{name}_s']}" if f"{name}_s" in GOALS else ""
        sql = diag["statements"].get(name, {})
        count, sql_s = sql.get("count", ""), sql.get("sql_s")
        cold = figures.get(f"{name}_cold_s")
        print(
            f"  {label:<40}{'' if cold is None else f'{cold:.3f}':>8}{figures[f'{name}_s']:>8.3f}"
            f"{count:>7}{'' if sql_s is None else f'{sql_s:.3f}':>8}  {goal}"
        )
    print("\n  the page's parts alone (median seconds):")
    for name, value in diag["parts"].items():
        print(f"    {name:<20}{value:>8.3f}")
    for q in diag["slow"]:
        print(f"\n  {q['s']:.3f} s: {q['sql'][:600]}")
        print("\n".join(f"    {line}" for line in q["plan"]))


def print_goals(figures: dict) -> None:
    print()
    for name, goal in GOALS.items():
        verdict = "met" if figures[name] < goal else "MISSED"
        print(f"  goal {name} < {goal} s: {verdict} ({figures[name]:.3f} s)")


def summary(bench: Bench, seconds: dict, figures: dict, diag: dict) -> dict:
    rounded = {k: round(v, 4) for k, v in figures.items() if isinstance(v, float)}
    return {
        **rounded,
        "generations": bench.generations,
        "models": bench.models,
        "build_s": round(seconds["build"], 2) if seconds else None,
        "reused": not seconds,
        "page_statements": diag["statements"]["stats_page"]["count"],
        "parts_s": {k: round(v, 4) for k, v in diag["parts"].items()},
        "goals_met": {name: figures[name] < goal for name, goal in GOALS.items()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
