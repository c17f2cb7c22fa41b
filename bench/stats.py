"""The speed & cost statistics at scale: how fast /stats/, /stats.csv and /api/stats answer,
and model_stats() alone, over a million measured generations in PostgreSQL.

Usage: python bench/stats.py [--quick] [--generations 1000000] [--models 10] [--repeat 5]
           [--rebuild] [--seed 1]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_stats,
created if missing. The bench's tables in it are emptied when it builds, so its name must
contain "bench".

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate.
2. Reuse the data when its marker (the bench dataset's description: version, generations,
   models, seed) and the count of DONE generations match; otherwise truncate and build,
   timed apart (build_s):
   - --models configurations: MLX models on local machines (the first on two machines,
     its runs alternating), and Anthropic and OpenAI models at their seeded list prices;
   - a dataset of ITEMS prompts, and per model as many COMPLETED runs over it as its share
     of the generations needs, spread over the last 90 days, older runs on older versions;
   - --generations DONE generations and FAILED_SHARE more FAILED ones, by COPY, with seeded
     measurements: prompt tokens lognormal per item, output tokens lognormal per model, time
     to first token lognormal plus prefill, decode tokens/s lognormal around the model's
     (machine's) speed, latency = ttft + (tokens - 1) / tps; start and finish times of
     `concurrency` requests in flight; cost from the price table (hosted) or the machine's
     hourly price times latency / concurrency (local); an output of ~4 characters a token;
   - quality: a rating project (1-5 and pass/fail) over LABEL_SHARE of the generations and
     a comparison project of COMPARE_SHARE pairs, one submitted annotation each, by COPY;
   then VACUUM ANALYZE.
3. Measure, as a superuser through django.test.Client, Django's cache emptied first: each
   URL's first GET in the process (cold: Python and the database's caches as the build or
   an earlier process left them), then one warm-up GET and the median of --repeat: /stats/,
   /stats/ with a projection query string, /stats.csv and /api/stats; model_stats() called
   directly; and /stats/ just after the writes of a worker recording a result of a running
   run (the newest run made running for it, restored after; the median of
   AFTER_WRITE_ROUNDS): what the figures cost while runs are going. The first page of a
   process with the rollups missing (annotate/stats/rollups.py; the bench's runs are made by
   COPY, as an upgrade finds them) rolls every run up once: page_cold_s then includes that.
4. Diagnose: the SQL statements each URL sends with their summed time (CaptureQueriesContext),
   the page's parts timed apart (model_stats, each chart, the projection), and EXPLAIN
   (ANALYZE, BUFFERS) of the slowest statements of the page.
5. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: stats_page_s, stats_api_s and page_after_write_s < 0.5 (seconds). The machine's other
load counts: compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats_profiles import AFTER_WRITE_ROUNDS, ITEMS, PREFIX, Bench  # noqa: E402
from environment import ensure_database, setup_django  # noqa: E402
from pg import reset  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_stats"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k generations")
    parser.add_argument("--generations", type=int, help="DONE generations (default 1000000)")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5, help="warm requests per URL")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="build even if the data is there")
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    generations = args.generations or (100_000 if args.quick else 1_000_000)
    if args.models < 2 or generations < args.models * ITEMS:
        raise SystemExit(f"need --models >= 2 and --generations >= models x {ITEMS}")
    return Bench(generations, args.models, args.repeat, args.seed, args.rebuild)


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    ensure_database(url)
    setup_django(url)
    # The bench's pieces import the app's models: only after django.setup().
    from _stats_build import build, existing_data
    from _stats_measure import (
        diagnose,
        measure,
        measure_after_write,
        print_goals,
        print_report,
        summary,
    )

    user_id = None if bench.rebuild else existing_data(bench)
    seconds: dict[str, float] = {}
    if user_id is None:
        print(f"Building {bench.generations} generations ...", flush=True)
        reset(PREFIX)
        user_id, seconds = build(bench)
    figures = measure(user_id, bench.repeat)
    figures |= measure_after_write(user_id, AFTER_WRITE_ROUNDS)
    diag = diagnose(user_id, bench.repeat)
    print_report(bench, seconds, figures, diag)
    print_goals(figures)
    print(json.dumps(summary(bench, seconds, figures, diag)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
