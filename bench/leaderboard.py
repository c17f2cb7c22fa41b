"""The comparison leaderboard at scale: how long the Bradley-Terry fit with its bootstrap takes
on 100k votes, how fast the results page is served (cold, cached, and just after a new vote),
how fast the comparison labeling page is, and whether the ratings find the known strengths.

Usage: python bench/leaderboard.py [--quick] [--comparisons 100000] [--models 10]
           [--rounds 1000] [--annotators 20] [--pairs-per-item 5] [--repeat 5]

Needs PostgreSQL: DATABASE_URL, or postgres://postgres@127.0.0.1:5432/annotate_bench_leaderboard,
created if missing. The bench's tables in it are emptied at start, so its name must contain
"bench".

How:
1. Create the database if missing, django.setup() (then DEBUG off: no query log), migrate,
   truncate the tables the bench fills, delete its users.
2. Build, timed apart (build_s): --models configurations with known ratings (evenly spaced,
   850..1150 on the Elo-like scale of annotate/leaderboard.py, shuffled over the models), a
   dataset of N = comparisons / pairs-per-item items, one COMPLETED run per model with a DONE
   generation per item (INSERT ... SELECT FROM generate_series), a compare project over the
   runs, and --comparisons tasks: pairs-per-item distinct model pairs per item, each model
   pair alternating sides from a random start. Each task has one submitted annotation by one
   of --annotators members, its verdict drawn from the Bradley-Terry model of the true
   strengths with ties: "tie" 8% and "both bad" 4% of the time, and otherwise "left" with the
   probability that makes a tie's half win unbiased (P(left) + ties / 2 = the BT probability).
   Tasks and annotations go in by COPY. Then VACUUM ANALYZE.
3. Measure:
   - leaderboard_s = load_votes_s + compute_s: `compute(load_votes(project), rounds)` after
     cache.clear(), each part timed on its own; the median of three;
   - page_cold_s: GET /projects/<pk>/results/ through django.test.Client as a superuser with
     an empty cache; page_s: the median of --repeat more GETs (the ratings cached);
   - page_after_vote_s: --vote-rounds times, one annotator takes a new task (GET .../next/),
     opens it and POSTs a verdict, then the superuser GETs the results page: the median;
   - vote_to_board_s: with a real worker ("api" queue) running, --fresh-votes times, the
     annotator votes through the views and the superuser polls the results page until it
     shows the new vote count: the seconds from the vote's POST, p50 and p95 (p95: the
     nearest rank); vote_to_intervals_s: until the page no longer says "Updating" (the
     worker's bootstrap stored, as a worker-only design would first show the vote);
     points_s: the point estimates a stale page counts (load_votes + compute without rounds);
   - label_page_s: the median of those GETs of the comparison labeling page
     (/projects/<pk>/tasks/<number>/, two outputs and a word diff) by the annotator;
   - spearman: Spearman's rho between the estimated and the true ratings; coverage: how many
     true ratings lie inside their bootstrap 95% interval (about 95% of models expected);
   - diagnostics: EXPLAIN ANALYZE of load_votes' query, the SQL statements each page sends
     (the slowest, timed),
     and what a cheaper cache key (count and max(submitted_at) of submitted annotations)
     would cost per request.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
Goals: leaderboard_s < 5, page_s < 0.2, page_after_vote_s < 0.2 and vote_to_board_s (p95) < 2
(seconds). The page always
uses the view's 1000 rounds; --rounds sets only the direct measurement. The machine's other
load counts: compare runs at similar loadavg_1m.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ensure_database, setup_django  # noqa: E402
from pg import reset  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/annotate_bench_leaderboard"


@dataclass(frozen=True)
class Bench:
    comparisons: int
    models: int
    rounds: int
    annotators: int
    pairs_per_item: int
    repeat: int
    vote_rounds: int
    fresh_votes: int
    seed: int

    @property
    def items(self) -> int:
        return math.ceil(self.comparisons / self.pairs_per_item)


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k comparisons, 3 vote rounds")
    parser.add_argument("--comparisons", type=int, help="default 100000, 20000 quick")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (direct)")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--pairs-per-item", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="warm page loads")
    parser.add_argument("--vote-rounds", type=int, help="vote then load (5, 3 quick)")
    parser.add_argument(
        "--fresh-votes", type=int, help="votes timed to the page, with a worker (20, 10 quick)"
    )
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    pairs = args.models * (args.models - 1) // 2
    # one pair per item is left out, for the votes the bench adds
    if args.models < 3 or not 1 <= args.pairs_per_item < pairs:
        raise SystemExit(f"--pairs-per-item must be 1..{pairs - 1} with {args.models} models")
    return Bench(
        comparisons=args.comparisons or (20_000 if args.quick else 100_000),
        models=args.models,
        rounds=args.rounds,
        annotators=args.annotators,
        pairs_per_item=args.pairs_per_item,
        repeat=args.repeat,
        vote_rounds=args.vote_rounds or (3 if args.quick else 5),
        fresh_votes=args.fresh_votes or (10 if args.quick else 20),
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    bench = bench_from_args(parse_args(argv))
    url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    ensure_database(url)
    setup_django(url)
    # The bench's pieces import the app's models: only after django.setup().
    import _leaderboard_build as data
    import _leaderboard_measure as m

    reset(data.PREFIX)
    print(f"Building {bench.comparisons} comparisons ...", flush=True)
    built = data.build(bench)
    board, figures = m.measure_leaderboard(built.project_id, bench.rounds)
    quality = m.accuracy(board, built)
    figures |= m.measure_results_page(built, bench.repeat)
    figures |= m.measure_votes(built, built.spare_pairs[: bench.vote_rounds])
    figures |= m.measure_points(built.project_id, bench.repeat)
    figures |= m.measure_freshness(built, built.spare_pairs[bench.vote_rounds :])
    diag = m.diagnose(built, bench.repeat)
    figures["cheap_key_s"] = diag["cheap_key_s"]
    m.print_report(bench, built, figures, quality, diag)
    m.print_goals(figures)
    print(json.dumps(m.summary(bench, built, figures, quality, diag)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
