"""bench/worker_faults.py's checks, from the database: the write log (a trigger that sees every
result written), items lost or doubled, who did the work, how long the takeover took
(imported after django.setup())."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from _worker_faults_outcome import LEASE_LOST, RANG, RECEIVED, Kill, Outcome, Watch, short
from _worker_faults_workers import Worker
from django.db import connection
from django.db.models import Count, Min

from annotate.datasets.models import Item
from inference.models import Generation, GenerationStatus, Run

if TYPE_CHECKING:
    pass


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
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_write_log() -> None:
    _execute(SQLITE_LOG if connection.vendor == "sqlite" else POSTGRES_LOG)


def remove_write_log() -> None:
    _execute(DROP_LOG if connection.vendor == "sqlite" else DROP_LOG_POSTGRES)


def logged_writes(run_id: int) -> tuple[int, int]:
    """(results written for the run, generations written more than once or by two workers)."""
    query = """
        SELECT w.generation_id, COUNT(*), COUNT(DISTINCT w.worker)
        FROM bench_generation_write w JOIN annotate_generation g ON g.id = w.generation_id
        WHERE g.run_id = %s GROUP BY w.generation_id"""
    with connection.cursor() as cursor:
        cursor.execute(query, [run_id])
        rows = cursor.fetchall()
    return sum(n for _, n, _ in rows), sum(1 for _, n, who in rows if n > 1 or who > 1)


# --- Checks -------------------------------------------------------------------------------------


def count_lost(run) -> int:
    """Items of the dataset without a DONE generation in the run."""
    done = Generation.objects.filter(run=run, status=GenerationStatus.DONE).values("item_id")
    return Item.objects.filter(dataset=run.dataset_id).exclude(pk__in=done).count()


def count_doubled_rows(run) -> int:
    return (
        Generation.objects.filter(run=run)
        .values("item_id", "sample_index")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def done_by_worker(run) -> dict[str, int]:
    rows = (
        run.generations.filter(status=GenerationStatus.DONE)
        .values("worker")
        .annotate(n=Count("pk"))
    )
    return {short(r["worker"]): r["n"] for r in rows.order_by("worker")}


def takeover_s(run, kill: Kill | None) -> float | None:
    """From the kill to the first of the dead worker's items claimed again."""
    if kill is None or not kill.in_flight:
        return None
    again = run.generations.filter(pk__in=kill.in_flight, attempts__gt=1)
    first = again.aggregate(t=Min("started_at"))["t"]
    return first.timestamp() - kill.at if first else None


def outcome(
    key: str, run_id: int, created: float, finished: bool, watch: Watch, workers: list[Worker]
) -> Outcome:
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
