"""Worker faults: one generation run shared by two `mlx` workers, clean and with one worker
SIGKILLed halfway; how much longer the run takes, and whether any item is lost or doubled.

Usage: python bench/worker_faults.py [--quick] [--items 2000] [--workers 2] [--max-tokens 16]
                                     [--batch-size 8] [--timeout 600] [--keep]

Measures, on the demo MLX model (a copy that never emits end-of-sequence, so every item costs
the same max_tokens), a dataset of --items prompts and a ModelConfig(batch_size 8, max_tokens
16) processed by --workers real `celery -A annotate worker -Q mlx --pool solo` processes:

- clean: `create_run`, nothing broken; wall time from just before `create_run` to the run's
  `finished_at`, which the worker stamps as it ends the run;
- fault: the same dataset again; when half the items are DONE, SIGKILL (the whole process
  group: no warm shutdown, nothing given back) the worker that holds the most leased items.
  No replacement starts: the survivors must finish, taking the dead worker's items over once
  their leases expire (their watchdog gives the leases back and rings the stalled run).

The workers run with short leases (GENERATION_LEASE_S=5, RUN_STALL_S=6, TASK_TIME_BUDGET_S=10;
the app's defaults are 120, 60, 60), so a takeover costs seconds, not minutes.

Checked for each run: lost = items without a DONE generation at the end (all of them if the
run does not end within --timeout); doubled = (run, item, sample) with more than one generation
row (the unique constraint forbids it: counted all the same) plus generations whose result was
written more than once. Writes are seen by a trigger the bench adds to the bench database: it
logs every running -> done/failed transition of a generation with the worker holding it.
retried = generations with attempts > 1; after the kill they should be exactly the items the
dead worker held (in flight at the kill), each with attempts == 2. Also: who did the work
(Generation.worker), tasks each worker took, how often two workers held leases at the same
time (both busy, from polls every 0.1 s), takeover = the kill to the first dead worker's item
claimed again, and the workers' "lease lost" warnings (a live worker's write refused). A
worker that exits on its own (not killed by the bench) is reported with its last CRITICAL log
line, and the bench stops waiting for a run when no worker is left.

`create_run` rings one doorbell per worker online on the run's queue, so the workers share
the run at once ("both busy" shows how much).

How:
1. Point the settings at a temporary ANNOTATE_VAR_DIR: SQLite and the filesystem broker,
   unless DATABASE_URL / CELERY_BROKER_URL are set (a PostgreSQL database whose name says
   "bench" is created if missing); migrate; add the write log; cancel active runs an earlier
   bench left; empty the `mlx` queue.
2. Copy the demo model without end-of-sequence; import the dataset.
3. Start the workers (all environment above, leases included); warm each one up with tiny
   runs until every worker has finished a task (it loads the model on its first one).
4. The clean run, then the fault run; stop the survivors.
5. Print a table, the goals met or missed (lost 0, doubled 0), and, last, one line of JSON.
   The exit status is 0 whether or not a goal is met.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import copy_without_eos, demo_model_path  # noqa: E402

from tests.support.processes import Service, worker_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_FILE = ROOT / "annotate" / "demo" / "coding_prompts.jsonl"
POLL_S = 0.1
NAME_PREFIX = "bench-faults-"
# Short leases, so that a dead worker's items come back within seconds.
LEASE_ENV = {"GENERATION_LEASE_S": "5", "RUN_STALL_S": "6", "TASK_TIME_BUDGET_S": "10"}
LEASE_LOST = "lease lost, another worker got there first"
RANG = "watchdog: rang stalled runs"
RECEIVED, SUCCEEDED = "] received", "] succeeded in"


@dataclass(frozen=True)
class Bench:
    items: int
    workers: int
    max_tokens: int
    batch_size: int
    timeout_s: float

    @property
    def lease_s(self) -> int:
        return int(LEASE_ENV["GENERATION_LEASE_S"])


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


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="400 items (about a minute)")
    parser.add_argument("--items", type=int, help="prompts in the dataset (default 2000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (at least 2)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a run may take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2: one is killed, the others must finish")
    return args


def bench_from_args(args: argparse.Namespace) -> Bench:
    items = args.items or (400 if args.quick else 2000)
    return Bench(items, args.workers, args.max_tokens, args.batch_size, args.timeout)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in url if it does not exist. The bench adds a
    trigger to it: its name must say bench."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(
            f"The bench adds a trigger to its database: its name must say bench: {name}"
        )
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(var_dir: Path) -> None:
    """Settings from the environment, which the workers inherit: var_dir, the short leases,
    DATABASE_URL / CELERY_BROKER_URL if set. Then migrate."""
    os.environ["ANNOTATE_VAR_DIR"] = str(var_dir)
    os.environ.update(LEASE_ENV)
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    # The filesystem broker's URL has no host; kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)


def cancel_stale_runs() -> int:
    """Active runs an earlier, crashed bench left in a shared database would be rung by the
    workers' watchdogs and compete with ours."""
    from inference.models import ACTIVE_RUN_STATUSES, Run, RunStatus

    stale = Run.objects.filter(
        status__in=ACTIVE_RUN_STATUSES, model_config__name__startswith=NAME_PREFIX
    )
    return stale.update(status=RunStatus.CANCELLED)


def purge_mlx_queue() -> int:
    """Doorbells an earlier bench left in the broker."""
    from django.conf import settings

    from annotate.celery import app

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return 0  # a fresh temporary folder
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_purge("mlx") or 0


# --- The write log: a trigger that sees every result written ------------------------------------

SQLITE_LOG = (
    "DROP TRIGGER IF EXISTS bench_generation_written",
    "CREATE TABLE IF NOT EXISTS bench_generation_write (generation_id bigint, worker text)",
    """CREATE TRIGGER bench_generation_written AFTER UPDATE OF status ON annotate_generation
    WHEN OLD.status = 'running' AND NEW.status IN ('done', 'failed')
    BEGIN INSERT INTO bench_generation_write VALUES (NEW.id, NEW.worker); END""",
)
POSTGRES_LOG = (
    "DROP TRIGGER IF EXISTS bench_generation_written ON annotate_generation",
    "CREATE TABLE IF NOT EXISTS bench_generation_write (generation_id bigint, worker text)",
    """CREATE OR REPLACE FUNCTION bench_log_generation_write() RETURNS trigger AS $$
    BEGIN INSERT INTO bench_generation_write VALUES (NEW.id, NEW.worker); RETURN NULL; END
    $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER bench_generation_written AFTER UPDATE OF status ON annotate_generation
    FOR EACH ROW WHEN (OLD.status = 'running' AND NEW.status IN ('done', 'failed'))
    EXECUTE FUNCTION bench_log_generation_write()""",
)
DROP_LOG = (
    "DROP TRIGGER IF EXISTS bench_generation_written",
    "DROP TABLE IF EXISTS bench_generation_write",
)
DROP_LOG_POSTGRES = (
    "DROP TRIGGER IF EXISTS bench_generation_written ON annotate_generation",
    "DROP FUNCTION IF EXISTS bench_log_generation_write()",
    "DROP TABLE IF EXISTS bench_generation_write",
)


def _execute(statements: tuple[str, ...]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_write_log() -> None:
    from django.db import connection

    _execute(SQLITE_LOG if connection.vendor == "sqlite" else POSTGRES_LOG)


def remove_write_log() -> None:
    from django.db import connection

    _execute(DROP_LOG if connection.vendor == "sqlite" else DROP_LOG_POSTGRES)


def logged_writes(run_id: int) -> tuple[int, int]:
    """(results written for the run, generations written more than once or by two workers)."""
    from django.db import connection

    query = """
        SELECT w.generation_id, COUNT(*), COUNT(DISTINCT w.worker)
        FROM bench_generation_write w JOIN annotate_generation g ON g.id = w.generation_id
        WHERE g.run_id = %s GROUP BY w.generation_id"""
    with connection.cursor() as cursor:
        cursor.execute(query, [run_id])
        rows = cursor.fetchall()
    return sum(n for _, n, _ in rows), sum(1 for _, n, who in rows if n > 1 or who > 1)


# --- The model and the data ---------------------------------------------------------------------


def prompt_texts(n: int) -> list[str]:
    base = [json.loads(line)["prompt"] for line in PROMPTS_FILE.read_text().splitlines() if line]
    return [f"{base[i % len(base)]} Call it solution_{i}." for i in range(n)]


def make_dataset(owner, texts: list[str], name: str):
    from annotate.datasets.importing import import_dataset

    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, model: Path, name: str, max_tokens: int, batch_size: int):
    from inference.models import ModelConfig

    return ModelConfig.objects.create(
        name=name,
        backend="mlx",
        model=str(model),
        temperature=0.8,
        top_p=0.95,
        max_tokens=max_tokens,
        seed=0,
        batch_size=batch_size,
        owner=owner,
    )


# --- The workers --------------------------------------------------------------------------------


class Worker(Service):
    """`celery -A annotate worker -Q mlx --pool solo`, with its log read as it goes."""

    def __init__(self, name: str, log: Path) -> None:
        super().__init__(worker_command(name), log)
        self.name = name
        self.offset = 0
        self.killed = False
        self.start()

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait_until(lambda: b" ready." in self.log.read_bytes(), timeout, f"worker {self.name}")

    def kill(self) -> None:
        self.killed = True
        super().kill()

    def mark(self) -> None:
        """Count log lines from here on."""
        self.offset = self.log.stat().st_size

    def busy(self) -> bool:
        """A task taken and not yet finished (the worker's log says so)."""
        return self.count(RECEIVED) > self.count(SUCCEEDED)

    def count(self, text: str) -> int:
        return self.text().count(text)

    def text(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def last_error(self) -> str:
        """The worker's last CRITICAL log line (why it exited), else its exit status."""
        lines = [line for line in self.text().splitlines() if " CRITICAL " in line]
        return lines[-1].split(" CRITICAL ", 1)[1] if lines else f"exit {self.proc.returncode}"


def start_workers(n: int, folder: Path) -> list[Worker]:
    """Started together, returned once every one logs " ready."."""
    workers = [Worker(f"{NAME_PREFIX}w{i + 1}", folder / f"w{i + 1}.log") for i in range(n)]
    try:
        for worker in workers:
            worker.wait_ready()
    except RuntimeError:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()


def short(worker: str) -> str:
    """bench-faults-w1@host -> w1."""
    return worker.split("@")[0].removeprefix(NAME_PREFIX)


# --- Runs ---------------------------------------------------------------------------------------


def wait_finished(run_ids: list[int], timeout: float) -> bool:
    from inference.models import ACTIVE_RUN_STATUSES, Run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Run.objects.filter(pk__in=run_ids, status__in=ACTIVE_RUN_STATUSES).exists():
            return True
        time.sleep(POLL_S)
    return False


def warm_up(workers: list[Worker], owner, model: Path, rounds: int = 4) -> float:
    """Tiny runs, one per worker at a time, until every worker has finished a task: each loads
    the model on its first one (its runs may be finished by a worker that is already warm).
    Not timed."""
    from inference.actions import create_run

    start = time.perf_counter()
    name = f"{NAME_PREFIX}warm-{time.strftime('%Y%m%d-%H%M%S')}"
    dataset = make_dataset(owner, prompt_texts(2), name)
    config = make_config(owner, model, name, 4, 2)
    for _ in range(rounds):
        wait_finished([create_run(dataset, config, owner).pk for _ in workers], 120)
        idle = time.monotonic() + 120
        while time.monotonic() < idle and any(w.busy() for w in workers):
            time.sleep(POLL_S)
        if all(w.count(SUCCEEDED) for w in workers):
            break
    warmed = [short(w.name) for w in workers if w.count(SUCCEEDED)]
    print(f"  warm-up: {warmed} finished a task, {time.perf_counter() - start:.1f} s", flush=True)
    return time.perf_counter() - start


def poll(run_id: int) -> tuple[int, dict[str, int]]:
    """(DONE generations, leased generations by worker)."""
    from django.db.models import Count

    from inference.models import Generation, GenerationStatus

    gens = Generation.objects.filter(run_id=run_id)
    done = gens.filter(status=GenerationStatus.DONE).count()
    leased = gens.filter(status=GenerationStatus.RUNNING).values("worker").annotate(n=Count("pk"))
    return done, {row["worker"]: row["n"] for row in leased}


def follow(
    run_id: int,
    created: float,
    timeout: float,
    workers: list[Worker],
    on_poll: Callable[[int, dict[str, int]], None],
) -> tuple[bool, Watch]:
    """Poll the run until it ends, the timeout, or no worker is left; on_poll sees every
    poll."""
    from inference.models import ACTIVE_RUN_STATUSES, Run

    watch = Watch()
    while time.time() - created < timeout:
        if not Run.objects.filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES).exists():
            return True, watch
        if not any(w.alive for w in workers):
            print("  no worker left alive: the run cannot end", flush=True)
            break
        done, leased = poll(run_id)
        watch.polls += 1
        watch.both_busy += len(leased) >= 2
        on_poll(done, leased)
        time.sleep(POLL_S)
    return False, watch


class Killer:
    """on_poll of the fault run: at half the items done, SIGKILL the worker holding the most
    leased items, and note which items it held."""

    def __init__(self, workers: list[Worker], run_id: int, items: int, created: float) -> None:
        self.workers = {w.name: w for w in workers}
        self.run_id, self.half, self.created = run_id, items // 2, created
        self.kill: Kill | None = None

    def __call__(self, done: int, leased: dict[str, int]) -> None:
        if self.kill is not None or done < self.half or not leased:
            return  # between two tasks nobody holds anything: wait for the next poll
        victim = max(leased, key=leased.__getitem__)
        self.workers[victim.split("@")[0]].kill()
        at = time.time()
        self.kill = Kill(victim, at, at - self.created, done, self.held_by(victim))
        print(f"  killed {short(victim)} at {done} done, {len(self.kill.in_flight)} in flight")

    def held_by(self, worker: str) -> frozenset[int]:
        from inference.models import Generation, GenerationStatus

        rows = Generation.objects.filter(
            run_id=self.run_id, status=GenerationStatus.RUNNING, worker=worker
        )
        return frozenset(rows.values_list("pk", flat=True))


def run_once(key: str, workers: list[Worker], dataset, config, owner, bench: Bench) -> Outcome:
    """One run of the dataset through the workers; the fault run kills one halfway."""
    from inference.actions import create_run

    for worker in workers:
        worker.mark()
    alive = [w for w in workers if w.alive]
    created = time.time()
    run = create_run(dataset, config, owner)  # one doorbell per worker online: they share it
    killer = Killer(workers, run.pk, bench.items, created) if key == "fault" else None
    finished, watch = follow(run.pk, created, bench.timeout_s, alive, killer or (lambda *_: None))
    watch.kill = killer.kill if killer else None
    watch.died = {short(w.name): w.last_error() for w in alive if not w.alive and not w.killed}
    return outcome(key, run.pk, created, finished, watch, workers)


# --- Checks -------------------------------------------------------------------------------------


def count_lost(run) -> int:
    """Items of the dataset without a DONE generation in the run."""
    from annotate.datasets.models import Item
    from inference.models import Generation, GenerationStatus

    done = Generation.objects.filter(run=run, status=GenerationStatus.DONE).values("item_id")
    return Item.objects.filter(dataset=run.dataset_id).exclude(pk__in=done).count()


def count_doubled_rows(run) -> int:
    from django.db.models import Count

    from inference.models import Generation

    return (
        Generation.objects.filter(run=run)
        .values("item_id", "sample_index")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def done_by_worker(run) -> dict[str, int]:
    from django.db.models import Count

    from inference.models import GenerationStatus

    rows = (
        run.generations.filter(status=GenerationStatus.DONE)
        .values("worker")
        .annotate(n=Count("pk"))
    )
    return {short(r["worker"]): r["n"] for r in rows.order_by("worker")}


def takeover_s(run, kill: Kill | None) -> float | None:
    """From the kill to the first of the dead worker's items claimed again."""
    from django.db.models import Min

    if kill is None or not kill.in_flight:
        return None
    again = run.generations.filter(pk__in=kill.in_flight, attempts__gt=1)
    first = again.aggregate(t=Min("started_at"))["t"]
    return first.timestamp() - kill.at if first else None


def outcome(
    key: str, run_id: int, created: float, finished: bool, watch: Watch, workers: list[Worker]
) -> Outcome:
    from inference.models import Run

    run = Run.objects.get(pk=run_id)
    retried = set(run.generations.filter(attempts__gt=1).values_list("pk", flat=True))
    twice = set(run.generations.filter(attempts=2).values_list("pk", flat=True))
    in_flight = watch.kill.in_flight if watch.kill else frozenset()
    end = run.finished_at.timestamp() if finished and run.finished_at else time.time()
    writes, doubled_writes = logged_writes(run_id)
    return Outcome(
        key=key,
        status=run.status,
        finished=finished,
        wall_s=end - created,
        lost=count_lost(run),
        doubled_rows=count_doubled_rows(run),
        doubled_writes=doubled_writes,
        writes=writes,
        retried=len(retried),
        retried_outside=len(retried - in_flight),
        in_flight_not_retried=len(in_flight - twice),
        by_worker=done_by_worker(run),
        tasks={short(w.name): w.count(RECEIVED) for w in workers},
        both_busy=watch.both_busy / max(watch.polls, 1),
        lease_lost=sum(w.count(LEASE_LOST) for w in workers),
        rings=sum(w.count(RANG) for w in workers),
        kill=watch.kill,
        takeover_s=takeover_s(run, watch.kill),
        died=watch.died,
    )


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


# --- Main ---------------------------------------------------------------------------------------


def prepare(bench: Bench, tmp: Path):
    """The bench's user, dataset and configuration, on a model that never stops early."""
    from django.contrib.auth import get_user_model

    model = copy_without_eos(demo_model_path(), tmp / "model")
    owner, _ = get_user_model().objects.get_or_create(username="bench-faults")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dataset = make_dataset(owner, prompt_texts(bench.items), f"{NAME_PREFIX}{stamp}")
    config = make_config(owner, model, f"{NAME_PREFIX}{stamp}", bench.max_tokens, bench.batch_size)
    return owner, model, dataset, config


def measure(bench: Bench, tmp: Path) -> tuple[Outcome, Outcome, float]:
    if stale := cancel_stale_runs():
        print(f"  cancelled {stale} active run(s) an earlier bench left", flush=True)
    if purged := purge_mlx_queue():
        print(f"  purged {purged} message(s) an earlier bench left in the mlx queue", flush=True)
    owner, model, dataset, config = prepare(bench, tmp)
    workers = start_workers(bench.workers, tmp)
    try:
        warm_s = warm_up(workers, owner, model)
        results = []
        for key in ("clean", "fault"):
            results.append(run_once(key, workers, dataset, config, owner, bench))
            print(f"  {key}: {results[-1].status} in {results[-1].wall_s:.1f} s", flush=True)
        return results[0], results[1], warm_s
    finally:
        stop_workers(workers)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-faults-"))
    try:
        setup_django(tmp)
        install_write_log()
        print(f"Worker faults on the mlx queue (worker logs in {tmp})", flush=True)
        try:
            clean, fault, warm_s = measure(bench, tmp)
        finally:
            remove_write_log()
        report(clean, fault, bench, warm_s)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
