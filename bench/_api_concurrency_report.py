"""bench/api_concurrency.py's report: the table, the goals and the last line's figures."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from _api_concurrency_runs import Result

if TYPE_CHECKING:
    from api_concurrency import Bench

GOAL_TIME_VS_IDEAL = 1.25


# --- Report -------------------------------------------------------------------------------------


def print_table(results: list[Result], bench: Bench, warm_s: float) -> None:
    workers = f"--pool {bench.pool}" + (
        f" --concurrency {bench.worker_concurrency}" if bench.pool == "threads" else ""
    )
    print(
        f"\n{bench.requests} requests, {bench.latency:g} s to first byte, {bench.concurrency} in "
        f"flight, max_tokens {bench.max_tokens}; worker: celery -A annotate worker -Q api "
        f"{workers}; ideal {bench.ideal_s:.2f} s (whole waves: {bench.waves_s:.2f} s); warm-up "
        f"run {warm_s:.1f} s (not timed); fake server TCP_NODELAY "
        f"{'on' if bench.nodelay else 'off (--fake-nagle)'}; load {os.getloadavg()[0]:.2f}\n"
    )
    head = ("wall s", "x ideal", "lost", "doubled", "retries", "max inf", "mean inf", "tasks")
    _print_rows(head, results, _outcome_cells)
    print(
        "\nWhere the time goes (s): dispatch = create_run -> run running (broker pickup);"
        "\nstart-up -> first request at the server; requests = first in -> last answer out;"
        "\ntail -> run completed. Per request: server = time at the server; client = latency"
        "\nthe worker measured. x retry-ideal: against an ideal that pays for the retries.\n"
    )
    head = ("dispatch", "start-up", "requests", "tail", "server", "client", "cpu s", "x r-ideal")
    _print_rows(head, results, _time_cells)
    for r in results:
        print(f"  {r.label}: server answers {r.statuses}")


def _print_rows(head: tuple[str, ...], results: list[Result], cells) -> None:
    print(f"{'run':<40}" + "".join(f"{h:>10}" for h in head))
    for r in results:
        print(f"{r.label:<40}" + "".join(f"{c:>10}" for c in cells(r)))


def _outcome_cells(r: Result) -> tuple:
    counts = (r.lost, r.doubled, r.retries, r.max_in_flight)
    return (
        f"{r.wall_s:.2f}",
        f"{r.time_vs_ideal:.2f}",
        *counts,
        f"{r.mean_in_flight:.1f}",
        r.tasks,
    )


def _time_cells(r: Result) -> tuple:
    cpu = "-" if r.worker_cpu_s is None else f"{r.worker_cpu_s:.2f}"
    times = (r.dispatch_s, r.startup_s, r.requests_s, r.tail_s, r.server_s, r.client_s)
    return (*(f"{t:.3f}" for t in times), cpu, f"{r.time_vs_retry_ideal:.2f}")


def goals(results: list[Result]) -> list[tuple[str, bool]]:
    by_key = {r.key: r for r in results}
    clean = by_key["clean"]
    checks = [
        (
            f"clean run time_vs_ideal <= {GOAL_TIME_VS_IDEAL}",
            clean.time_vs_ideal <= GOAL_TIME_VS_IDEAL,
        )
    ]
    for r in results:
        ok = r.status == "completed" and r.lost == 0 and r.doubled == 0
        checks.append((f"{r.label}: completed, nothing lost or doubled", ok))
    return checks


def summary(results: list[Result], bench: Bench) -> dict[str, Any]:
    by_key = {r.key: r for r in results}
    clean, faulty = by_key["clean"], by_key["faulty"]
    return {
        "time_vs_ideal": round(clean.time_vs_ideal, 3),
        "lost": faulty.lost,
        "doubled": faulty.doubled,
        "faulty_time_vs_ideal": round(faulty.time_vs_ideal, 3),
        "retries": faulty.retries,
        "max_in_flight": clean.max_in_flight,
        "requests": bench.requests,
        "concurrency": bench.concurrency,
        "latency_s": bench.latency,
        "ideal_s": round(bench.ideal_s, 3),
        "waves_s": round(bench.waves_s, 3),
        "pool": bench.pool,
        "fake_nodelay": bench.nodelay,
        # The machine is shared: compare runs only at a similar load.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "database": os.environ.get("DATABASE_URL", "sqlite").split(":")[0],
        "broker": os.environ.get("CELERY_BROKER_URL", "filesystem://").split(":")[0],
        "runs": {
            r.key: {
                **_rounded(asdict(r)),
                "time_vs_ideal": round(r.time_vs_ideal, 3),
                "time_vs_retry_ideal": round(r.time_vs_retry_ideal, 3),
            }
            for r in results
        },
    }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}


def report(results: list[Result], bench: Bench, warm_s: float) -> None:
    print_table(results, bench, warm_s)
    print()
    for name, met in goals(results):
        print(f"{'met   ' if met else 'MISSED'}  {name}")
    print(json.dumps(summary(results, bench)), flush=True)
