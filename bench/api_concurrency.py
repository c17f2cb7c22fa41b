"""Hosted-API runs through the whole app: how close they come to the ideal time, and whether
faults lose or double any item.

Usage: python bench/api_concurrency.py [--quick] [--requests 200] [--latency 0.3]
                                      [--concurrency 16] [--pool threads|solo] [--fake-nagle]

Measures, against `tests.support.fake_anthropic.FakeAnthropic` driven by the real `anthropic`
SDK (the server waits --latency seconds before its first byte, then streams a short answer with
no delay between tokens):

- clean: N distinct prompts, `create_run` with a ModelConfig(backend="anthropic",
  concurrency=--concurrency, max_tokens 16), processed by a real `celery -A annotate worker -Q
  api --pool threads --concurrency 4` process, as in production (`--pool solo` to compare).
  Wall time from just before `create_run` to the run's `finished_at`, which the worker stamps
  as it ends the run. ideal = N * latency / concurrency; time_vs_ideal = wall / ideal (goal
  <= 1.25). Whole requests come in waves, so even a perfect worker needs
  ceil(N / concurrency) * latency (3.9 s, not 3.75 s, for 200 at 16). The server's
  max_in_flight shows whether the backend reached `concurrency` requests at once;
- faulty: the same with 10% of requests refused with a 429 (retry-after --retry-after s);
- mixed: 429 10%, 500 and 529 2% each, dropped streams and error events in streams 1% each.

Every run is checked: lost = items without a DONE generation; doubled = prompts the server
answered completely more than once, plus (item, sample) pairs with more than one generation
row; retries = sum of Generation.retries. x retry-ideal: against an ideal that also pays for
every request the server saw and each retry's wait. Where the time goes, from the run's
timestamps and the server's ledger: dispatch (create_run to the run marked running: broker
pickup), start-up (to the first request at the server), requests (first in to last answer out;
mean in flight = request-seconds at the server / that span), tail (to the run completed); per
request, the time at the server and the latency the worker measured; the worker's CPU seconds.

The fake server's handler writes each SSE event as a small TCP segment; with Nagle's algorithm
on, the client's delayed ACK held each of a run of sequential requests ~45 ms (with 16 in flight
the difference was within the noise). Real API front ends set TCP_NODELAY, so the bench sets it
on its server (`--fake-nagle`: leave the fake as it is).

How:
1. Start the fake server; set ANTHROPIC_API_KEY; point the settings at a temporary
   ANNOTATE_VAR_DIR (SQLite and the filesystem broker, unless DATABASE_URL / CELERY_BROKER_URL
   are set); django.setup() and migrate.
2. Start the worker, wait for " ready." in its log, and warm it up with a tiny run (the SDK is
   imported and the client built on its first task). None of this is timed.
3. Run each scenario in turn on its own prompts, with the ledger reset before each.
4. Print a table, the goals met or missed, and, as the last line, the figures as JSON.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import setup_django  # noqa: E402

API_KEY = "sk-bench-local"


@dataclass(frozen=True)
class Bench:
    requests: int
    latency: float
    concurrency: int
    max_tokens: int
    retry_after: float
    pool: str
    worker_concurrency: int
    nodelay: bool

    @property
    def ideal_s(self) -> float:
        return self.requests * self.latency / self.concurrency

    @property
    def waves_s(self) -> float:
        """The floor for whole requests: ceil(requests / concurrency) latencies."""
        return -(-self.requests // self.concurrency) * self.latency


# --- Arguments and set-up -----------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="96 requests (under a minute)")
    parser.add_argument("--requests", type=int, help="prompts a run (default 200, 96 quick)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds to first byte")
    parser.add_argument("--concurrency", type=int, default=16, help="the config's concurrency")
    parser.add_argument("--max-tokens", type=int, default=16, help="answers are shorter")
    parser.add_argument("--retry-after", type=float, default=0.2, help="retry-after of a 429")
    parser.add_argument("--pool", choices=("threads", "solo"), default="threads")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="threads pool only")
    parser.add_argument(
        "--fake-nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the fake server (see the docstring)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    return Bench(
        requests=args.requests or (96 if args.quick else 200),
        latency=args.latency,
        concurrency=args.concurrency,
        max_tokens=args.max_tokens,
        retry_after=args.retry_after,
        pool=args.pool,
        worker_concurrency=args.worker_concurrency if args.pool == "threads" else 1,
        nodelay=not args.fake_nagle,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-api-"))
    try:
        # SQLite and the filesystem broker in tmp unless DATABASE_URL / CELERY_BROKER_URL say
        # otherwise; the worker inherits the settings.
        setup_django(var_dir=tmp, env={"ANTHROPIC_API_KEY": API_KEY})
        # The bench's pieces import the app's models: only after django.setup().
        from _api_concurrency_report import report
        from _api_concurrency_runs import measure

        print(f"Benchmarking the api queue (worker log: {tmp / 'worker.log'})", flush=True)
        results, warm_s = measure(bench, tmp / "worker.log")
        report(results, bench, warm_s)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
