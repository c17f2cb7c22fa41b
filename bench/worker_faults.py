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
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _worker_faults_outcome import LEASE_ENV, report  # noqa: E402
from environment import ensure_database, is_postgres, setup_django  # noqa: E402


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-faults-"))
    try:
        if is_postgres(url := os.environ.get("DATABASE_URL", "")):
            ensure_database(url)
        # SQLite and the filesystem broker in tmp unless DATABASE_URL / CELERY_BROKER_URL say
        # otherwise; the workers inherit the settings and the short leases.
        setup_django(var_dir=tmp, env=LEASE_ENV)
        # The bench's pieces import the app's models: only after django.setup().
        from _worker_faults_checks import install_write_log, remove_write_log
        from _worker_faults_runs import measure

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
