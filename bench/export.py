"""Exports and imports at scale: how fast `run_export` writes 100k labeled outputs as JSONL,
Parquet, CSV and SFT chat JSONL, how fast `import_dataset` reads a 100k-line JSONL file, and
how much memory each takes.

Usage: python bench/export.py [--quick] [--rows 100000] [--import-lines N] [--repeat N]
           [--profile] [--tracemalloc] [--rebuild] [--seed 1] [--labeled]

--labeled measures only the labeled-items exports, on a comparison project built once beside
the data (12k of the run's outputs in pairs, 10k of them voted on, one vote a pair): the
project's outputs as JSONL (the baseline), only its labeled ones (export_labeled_s, against
Label Studio's 0.65 s for ~10k labeled items: goal <= 0.065 s), and its votes as comparison
JSONL and Parquet; medians of --repeat interleaved rounds.

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_export,
created if missing (--rebuild drops and recreates it, so its name must contain "bench").

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate,
   delete what an interrupted earlier run left (imported datasets, export rows).
2. Reuse the data of this size when its marker (a dataset named for --rows and --seed, its
   description the data's version) exists; otherwise build it, timed apart (build_s), in one
   transaction so an interrupted build leaves nothing behind:
   - ROWS items (a system turn on a third of them, a reference on a fifth, metadata) and one
     DONE generation each of one OpenAI-backed run, by INSERT ... SELECT FROM generate_series:
     outputs of ~1 KB of mixed prose, code, quotes, newlines and non-ASCII text, and every
     measurement (tokens, ttft, latency, decode speed, cost, concurrency, machine);
   - a label project (the default questions, overlap 2) with one task per generation, and
     1 or 2 submitted labels per task (half each) by 10 annotators, answers such as
     {"quality": 4, "correct": "pass"}, now and then a comment or a correction; 5% of the
     tasks reviewed with final answers. Tasks and labels go in by COPY. Then VACUUM ANALYZE.
3. Measure, each operation in a fresh `python bench/export.py --child ...` process, so that
   peaks do not mix: the child sets Django up, imports the code under test, notes its RSS,
   then runs the operation and reports the wall time and its peak RSS (getrusage ru_maxrss):
   - `run_export(Export(owner, format, {"project": pk}))` for jsonl, parquet, csv and sft,
     every output of the project (no label filter drops any): rows/s = rows written / time;
   - `import_dataset()` of a JSONL file written beforehand (--import-lines lines of ~500
     bytes: prompts, chat messages and Alpaca records with ids and metadata) into a new
     dataset, deleted afterwards: lines/s.
   Each figure is the best of --repeat processes (shared machines are noisy); the peak is
   the largest. --tracemalloc adds a traced process per operation (the Python heap's peak);
   --profile a cProfile'd one, and prints its hot spots.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: export rows/s >= 50k (JSONL and Parquet), import lines/s >= 20k, and each process's
peak RSS under 300 MB (the peak of the whole process, Python and libraries included; the
growth over its RSS before the operation is reported beside it). The machine's other load
counts: compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _export_report import (  # noqa: E402
    figures_of,
    labeled_summary,
    print_goals,
    print_report,
    summary,
)
from environment import ensure_database, setup_django  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_export"


@dataclass(frozen=True)
class Bench:
    rows: int
    import_lines: int
    repeat: int
    seed: int
    profile: bool
    tracemalloc: bool
    rebuild: bool
    labeled: bool = False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k rows and lines, one round")
    parser.add_argument("--rows", type=int, help="labeled outputs exported: 100000, 20000 quick")
    parser.add_argument("--import-lines", type=int, help="JSONL lines imported: as --rows")
    parser.add_argument("--repeat", type=int, help="processes per operation: 2, 1 quick")
    parser.add_argument("--profile", action="store_true", help="cProfile each operation once")
    parser.add_argument("--tracemalloc", action="store_true", help="trace each operation once")
    parser.add_argument("--rebuild", action="store_true", help="drop the database, build anew")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--labeled", action="store_true", help="only the labeled-items and comparison exports"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON: one measured operation
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    rows = args.rows or (20_000 if args.quick else 100_000)
    return Bench(
        rows=rows,
        import_lines=args.import_lines or rows,
        repeat=args.repeat or (1 if args.quick else 2),
        seed=args.seed,
        profile=args.profile,
        tracemalloc=args.tracemalloc,
        rebuild=args.rebuild,
        labeled=args.labeled,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    child = json.loads(args.child) if args.child else None
    url = child["url"] if child else os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    if not child:
        ensure_database(url, recreate=args.rebuild)
    setup_django(url, migrate=not child)
    # The bench's pieces import the app's models: only after django.setup().
    from _export_build import prepare, prepare_duel
    from _export_measure import measure_all, measure_labeled, run_child

    if child:
        print(json.dumps(run_child(child)))
        return 0
    bench = bench_from_args(args)
    built = prepare(bench, url)
    if bench.labeled:
        duel = prepare_duel(built)
        with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
            reports = measure_labeled(bench, built.owner_id, duel, url, Path(folder))
        print(json.dumps(labeled_summary(bench, reports)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        results = measure_all(bench, built, url, Path(folder))
    print_report(bench, built, results)
    print_goals(figures_of(results))
    print(json.dumps(summary(bench, built, results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
