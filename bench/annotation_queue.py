"""The labeling queue under load: how long "next item" and "submit" take on the server while
annotators work at once, and whether any task goes to too many people or gets passed over.

Usage: python bench/annotation_queue.py [--quick] [--generations 100000] [--annotators 20]
           [--overlap 2] [--rounds 100] [--view-rounds 25] [--think-ms 0] [--done 0]
           [--http] [--http-annotators 200] [--http-workers 4] [--http-seconds 20] [--app-dir .]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_queue,
created if missing. The bench's tables in it are emptied at start, so its name must contain
"bench". Phases, all on one project:

- serial: one annotator alone calls `annotation_queue.next_task` then `submit`: the latency
  without contention;
- queue: --annotators threads, each with its own database connection, call `next_task` then
  `submit` (every other annotator `skip`s a fifth of the time) --rounds times, back to back
  unless --think-ms. Each call is timed around the function alone: server time, no HTTP.
  Its thread CPU time is kept too, to tell the work apart from waiting (row locks, commits,
  the GIL, the machine's other load);
- views: the same through the real views with `django.test.Client`, in-process, one client
  and one `force_login` per annotator thread: GET /projects/<pk>/next/ (302 to the task), GET
  the task page, POST the answers (302) or POST .../skip/, each timed around `client.get` /
  `client.post` (middleware, session, view, template);
- with --http, instead of views: the REST API of a real gunicorn (production settings, -w 4,
  the app in --app-dir, the repository by default) under --annotators back to back
  (http_labels_per_s), then under --http-annotators with think time at half that rate, open
  loop (http_next_p95_ms, http_submit_p95_ms); see _annotation_queue_http.py.

Then, from the annotations themselves (every count should be 0):
- over_assigned: tasks whose `claimed` or `submitted` counter, or whose count of held plus
  submitted annotations, exceeds the overlap k;
- doubled: (task, annotator) pairs with more than one annotation (the unique constraint forbids
  them; counted anyway);
- counter_drift: tasks whose `claimed` differs from their held + submitted annotations, whose
  `submitted` differs from their submitted annotations, or whose `is_full` is not claimed >= k;
- skipped: when every annotator has stopped (no hold left), each asks once more, one after
  the other; they must get the first task (in the queue's order: a blind project's random
  numbers, else ids) with fewer than k held or submitted annotations
  that they have not seen, computed in SQL just before the call. skipped = how many did not.
  (gaps, for information: tasks below the highest one handed out still short of k before those
  asks; skips and SKIP LOCKED leave some, and the asks must fill them lowest first.)

How:
1. Create the database if missing, django.setup() (then DEBUG off, as in production: no query
   log, no template debug), migrate, truncate the tables the bench fills, delete its users.
2. Build, timed apart from the goal: 21 users, a dataset of N items with one sample each
   (N = --generations), a model configuration, a COMPLETED run with N DONE generations (short
   outputs), inserted by INSERT ... SELECT FROM generate_series; a project over the run with
   overlap k, the default questions and the annotators as members; its N tasks made by the
   app's `sync_tasks`; with --done F, the first F x N tasks already labeled k times by the
   annotators in turn (a project under way: "next" must get past them); VACUUM ANALYZE.
3. Warm up (one untimed round each way, counting the SQL statements of each call), run the
   phases, then the checks.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: p95 of next and submit under 50 ms in the queue phase, every check 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ensure_database, is_postgres, setup_django  # noqa: E402
from pg import reset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_queue"


@dataclass(frozen=True)
class Bench:
    generations: int
    annotators: int
    overlap: int
    rounds: int
    view_rounds: int
    serial_rounds: int
    skip_rate: float
    think_ms: float
    done: float
    seed: int
    http: bool = False
    http_annotators: int = 200
    http_workers: int = 4
    http_seconds: float = 20
    app_dir: str = "."


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k generations, fewer rounds")
    parser.add_argument("--generations", type=int, help="default 100000, 10000 quick")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=2, help="the project's k")
    parser.add_argument("--rounds", type=int, help="next items per annotator (100, 40 quick)")
    parser.add_argument("--view-rounds", type=int, help="same through the views (25, 10 quick)")
    parser.add_argument("--serial-rounds", type=int, help="one annotator alone (100, 30 quick)")
    parser.add_argument("--skip-rate", type=float, default=0.2, help="of odd annotators")
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause between calls")
    parser.add_argument(
        "--done", type=float, default=0, help="fraction of tasks labeled before the phases"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--http", action="store_true", help="gunicorn and the API, not views")
    parser.add_argument("--http-annotators", type=int, default=200, help="at half the rate")
    parser.add_argument("--http-workers", type=int, default=4, help="gunicorn -w")
    parser.add_argument("--http-seconds", type=float, help="each HTTP phase (20, 8 quick)")
    parser.add_argument("--app-dir", default=str(ROOT), help="the app gunicorn serves")
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    quick = args.quick
    return Bench(
        generations=args.generations or (10_000 if quick else 100_000),
        annotators=args.annotators,
        overlap=args.overlap,
        rounds=args.rounds or (40 if quick else 100),
        view_rounds=args.view_rounds or (10 if quick else 25),
        serial_rounds=args.serial_rounds or (30 if quick else 100),
        skip_rate=args.skip_rate,
        think_ms=args.think_ms,
        done=args.done,
        seed=args.seed,
        http=args.http,
        http_annotators=args.http_annotators,
        http_workers=args.http_workers,
        http_seconds=args.http_seconds or (8 if quick else 20),
        app_dir=args.app_dir,
    )


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not is_postgres(url):
        raise SystemExit(f"This bench needs PostgreSQL; DATABASE_URL is {url!r}")
    ensure_database(url)
    setup_django(url)
    # The bench's pieces import the app's models: only after django.setup().
    import _annotation_queue_build as data
    import _annotation_queue_checks as checks
    import _annotation_queue_load as load

    reset(data.PREFIX)
    start = time.perf_counter()
    project_id, user_ids, steps = data.build(bench)
    build_s = time.perf_counter() - start
    print(f"build: {build_s:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
    statements = load.warm_up(project_id, user_ids[0])
    print("SQL statements a call: " + ", ".join(f"{k} {v}" for k, v in statements.items()))
    alone = {"project_id": project_id, "user_ids": user_ids[:1], "think_s": 0}
    everyone = {"project_id": project_id, "user_ids": user_ids, "think_s": bench.think_ms / 1000}
    directly, views = load.annotate_directly, load.annotate_through_views
    phases = {
        "serial": load.run_phase("serial", directly, bench, alone, bench.serial_rounds),
        "queue": load.run_phase("queue", directly, bench, everyone, bench.rounds),
    }
    if bench.http:
        import _annotation_queue_http as over_http

        log = Path(os.environ.get("TMPDIR", "/tmp")) / "annotation_queue_gunicorn.log"
        phases.update(over_http.measure(project_id, data.PREFIX, bench, log))
    else:
        phases["views"] = load.run_phase("views", views, bench, everyone, bench.view_rounds)
    for phase in phases.values():
        checks.print_phase(phase)
    found = checks.check(project_id, user_ids, bench.overlap)
    print("\nchecks: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    extra = {"build_s": round(build_s, 1), "statements": statements}
    result = checks.summary(bench, phases, found, extra)
    checks.print_goals(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
