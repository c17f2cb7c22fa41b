"""bench/worker_faults.py's outcomes: what a run came to (lost, doubled, who did the work, the
kill), the table, the goals and the last line's figures. No Django."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from worker_faults import Bench

NAME_PREFIX = "bench-faults-"
# Short leases, so that a dead worker's items come back within seconds.
LEASE_ENV = {"GENERATION_LEASE_S": "5", "RUN_STALL_S": "6", "TASK_TIME_BUDGET_S": "10"}
LEASE_LOST = "lease lost, another worker got there first"
RANG = "watchdog: rang stalled runs"
RECEIVED, SUCCEEDED = "] received", "] succeeded in"


@dataclass(frozen=True)
class Kill:
    worker: str
    at: float  # wall clock (time.time())
    after_s: float  # since create_run
    done: int
    in_flight: frozenset[int]


@dataclass
class Watch:
    """What the polls saw while a run lasted."""

    polls: int = 0
    both_busy: int = 0
    kill: Kill | None = None
    died: dict[str, str] = field(default_factory=dict)  # worker -> why, not killed by us


@dataclass
class Outcome:
    key: str
    status: str
    finished: bool
    wall_s: float
    lost: int
    doubled_rows: int
    doubled_writes: int
    writes: int
    retried: int
    retried_outside: int
    in_flight_not_retried: int
    by_worker: dict[str, int]
    tasks: dict[str, int]
    both_busy: float
    lease_lost: int
    rings: int
    kill: Kill | None = None
    takeover_s: float | None = None
    died: dict[str, str] = field(default_factory=dict)

    @property
    def doubled(self) -> int:
        return self.doubled_rows + self.doubled_writes


def short(worker: str) -> str:
    """bench-faults-w1@host -> w1."""
    return worker.split("@")[0].removeprefix(NAME_PREFIX)


# --- Report -------------------------------------------------------------------------------------


def print_table(clean: Outcome, fault: Outcome, bench: Bench, warm_s: float) -> None:
    leases = ", ".join(f"{k}={v}" for k, v in LEASE_ENV.items())
    print(
        f"\n{bench.items} items x {bench.max_tokens} tokens, batch_size {bench.batch_size}, "
        f"{bench.workers} workers (celery -A annotate worker -Q mlx --pool solo); "
        f"{database()} + {broker()}; warm-up {warm_s:.1f} s (not timed); "
        f"load {os.getloadavg()[0]:.2f}\nBench leases: {leases} (app defaults 120, 60, 60)\n"
    )
    head = ("status", "wall s", "lost", "doubled", "writes", "retried", "both busy", "done by")
    print(f"{'run':<7}" + "".join(f"{h:>11}" for h in head[:-1]) + f"  {head[-1]}")
    for o in (clean, fault):
        cells = (o.status, f"{o.wall_s:.1f}", o.lost, o.doubled, o.writes, o.retried)
        line = "".join(f"{c:>11}" for c in (*cells, f"{o.both_busy:.0%}"))
        print(f"{o.key:<7}{line}  {o.by_worker}")
    for o in (clean, fault):
        print(
            f"  {o.key}: tasks taken {o.tasks}, watchdog rings {o.rings}, "
            f"lease-lost warnings {o.lease_lost}"
        )
        for name, why in o.died.items():
            print(f"  {o.key}: worker {name} DIED (not killed by the bench): {why}")
    print_kill(fault)


def print_kill(fault: Outcome) -> None:
    kill = fault.kill
    if kill is None:
        print("  fault: no worker was killed (the run ended first)")
        return
    takeover = "-" if fault.takeover_s is None else f"{fault.takeover_s:.1f} s"
    print(
        f"  fault: SIGKILL {short(kill.worker)} {kill.after_s:.1f} s in, at {kill.done} done, "
        f"{len(kill.in_flight)} in flight; takeover after {takeover}; retried outside those "
        f"{fault.retried_outside}; in flight but not retried once {fault.in_flight_not_retried}"
    )


def goals(clean: Outcome, fault: Outcome, workers: int) -> list[tuple[str, bool]]:
    return [
        ("lost 0 (both runs completed, every item DONE)", clean.lost + fault.lost == 0),
        ("doubled 0 (no second row, no result written twice)", clean.doubled + fault.doubled == 0),
        ("no worker died but the one the bench killed", not clean.died and not fault.died),
        (f"clean run: all {workers} workers did work", len(clean.by_worker) == workers),
        (
            "fault run: retried == the items in flight at the kill, each exactly once more",
            fault.kill is not None
            and fault.retried_outside == 0
            and fault.in_flight_not_retried == 0,
        ),
    ]


def database() -> str:
    return os.environ.get("DATABASE_URL", "sqlite").split(":")[0]


def broker() -> str:
    return os.environ.get("CELERY_BROKER_URL", "filesystem://").split(":")[0]


def outcome_json(o: Outcome) -> dict[str, Any]:
    kill = o.kill
    return {
        "status": o.status,
        "finished": o.finished,
        "wall_s": round(o.wall_s, 2),
        "lost": o.lost,
        "doubled_rows": o.doubled_rows,
        "doubled_writes": o.doubled_writes,
        "writes": o.writes,
        "retried": o.retried,
        "retried_outside_in_flight": o.retried_outside,
        "by_worker": o.by_worker,
        "tasks": o.tasks,
        "both_busy": round(o.both_busy, 3),
        "lease_lost_warnings": o.lease_lost,
        "watchdog_rings": o.rings,
        "killed": short(kill.worker) if kill else None,
        "kill_after_s": round(kill.after_s, 2) if kill else None,
        "done_at_kill": kill.done if kill else None,
        "takeover_s": None if o.takeover_s is None else round(o.takeover_s, 2),
        "died": o.died,
    }


def summary(clean: Outcome, fault: Outcome, bench: Bench) -> dict[str, Any]:
    in_flight = len(fault.kill.in_flight) if fault.kill else 0
    completed = clean.finished and fault.finished
    return {
        "lost": clean.lost + fault.lost,
        "doubled": clean.doubled + fault.doubled,
        "fault_vs_clean": round(fault.wall_s / clean.wall_s, 3) if completed else None,
        "clean_s": round(clean.wall_s, 2),
        "fault_s": round(fault.wall_s, 2),
        "in_flight_at_kill": in_flight,
        "retried": fault.retried,
        "takeover_s": outcome_json(fault)["takeover_s"],
        # False: a run did not end (lost counts all its unfinished items; its time is the wait).
        "completed": completed,
        "workers_died": len(clean.died) + len(fault.died),
        "items": bench.items,
        "workers": bench.workers,
        "max_tokens": bench.max_tokens,
        "batch_size": bench.batch_size,
        "lease_s": bench.lease_s,
        "stall_s": int(LEASE_ENV["RUN_STALL_S"]),
        "task_budget_s": int(LEASE_ENV["TASK_TIME_BUDGET_S"]),
        "database": database(),
        "broker": broker(),
        # The machine is shared: compare runs only at a similar load.
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "runs": {"clean": outcome_json(clean), "fault": outcome_json(fault)},
    }


def report(clean: Outcome, fault: Outcome, bench: Bench, warm_s: float) -> None:
    print_table(clean, fault, bench, warm_s)
    print()
    for name, met in goals(clean, fault, bench.workers):
        print(f"{'met   ' if met else 'MISSED'}  {name}")
    print(json.dumps(summary(clean, fault, bench)), flush=True)
