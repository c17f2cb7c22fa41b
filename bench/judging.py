"""A hosted judge labelling a project's outputs through the whole app: how close it comes to the
ideal time, and whether any judgement is lost or doubled.

Usage: python bench/judging.py [--quick] [--outputs 1000] [--latency 0.3] [--concurrency 16]
                               [--worker-concurrency 4]

What it does (annotate/judges: start_judging, the generation machinery, the judge's receiver):
1. A label project over one completed run of --outputs outputs (imported in the outputs layout,
   `project_kind=label`), with two required questions (a 1-5 rating and pass/fail: a strict
   schema OpenAI takes whatever the schema builder does with optional questions).
2. A judge whose model configuration is OpenAI-compatible (gpt-4o-mini, concurrency
   --concurrency) pointed at `tests.support.fake_openai.FakeOpenAI`, which waits --latency
   seconds before its first byte and answers the `response_format` json_schema with a JSON
   object that fits it (TCP_NODELAY on, as real API front ends).
3. A real `celery -A annotate worker -Q api --pool threads` process, started and warmed up with
   a tiny run (untimed).
4. Timed: from just before `start_judging` (rendering the judge prompts into the hidden dataset
   included) until the judge run's labels are stored (the run's end, when the receiver parses
   the answers into JudgeLabels), polled every 50 ms.

Figures: ideal = outputs x latency / concurrency; time_vs_ideal = wall / ideal (goal <= 1.3);
lost = tasks of the project without a judge label (failed or refused answers included);
doubled = (judge run, task) pairs with more than one label, plus generation rows beyond one per
item, plus prompts the server answered completely more than once; judged_per_s = labels / wall.
Where the time went: start_judging_s (the judge prompts rendered, the run made), dispatch_s
(to the run marked running: broker pickup), generation_s (running to finished), labels_s (to
the last label stored). SQLite and the filesystem broker in a temporary folder unless
DATABASE_URL / CELERY_BROKER_URL are set (a PostgreSQL database's name must say "bench"; each
run makes its own project). --quick: 200 outputs, about 25 s with start-up (fixed costs weigh
more there). The last line is the figures as JSON, with the device, versions, commit and load
average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ensure_database, is_postgres, setup_django  # noqa: E402

API_KEY = "sk-bench-judge"
GOAL = 1.3


@dataclass(frozen=True)
class Bench:
    outputs: int
    latency: float
    concurrency: int
    worker_concurrency: int

    @property
    def ideal_s(self) -> float:
        return self.outputs * self.latency / self.concurrency


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 outputs (about 25 s)")
    parser.add_argument("--outputs", type=int, help="outputs to judge (default 1000, 200 quick)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds to first byte")
    parser.add_argument("--concurrency", type=int, default=16, help="the judge's concurrency")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="worker threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def context() -> dict:
    """Where the figures were measured: the machine, the versions, the commit, the load."""
    import platform
    import subprocess

    import django
    import openai
    from django.db import connection

    from inference.measurement import machine

    def git(*args: str) -> str:
        found = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return found.stdout.strip()

    return {
        "device": f"{machine()}, {os.cpu_count()} CPUs",
        "versions": {
            "python": platform.python_version(),
            "django": django.get_version(),
            "openai": openai.__version__,
            "database": connection.vendor,
        },
        "commit": git("rev-parse", "--short", "HEAD") + (" (dirty)" if git("status", "-s") else ""),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = Bench(
        outputs=args.outputs or (200 if args.quick else 1000),
        latency=args.latency,
        concurrency=args.concurrency,
        worker_concurrency=args.worker_concurrency,
    )
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-judging-"))
    try:
        url = os.environ.get("DATABASE_URL", "")
        if is_postgres(url):
            ensure_database(url)
        env = {
            "OPENAI_API_KEY": API_KEY,
            "HOSTED_KEY_VARIABLES": "OPENAI_API_KEY=http://127.0.0.1:*",
        }
        setup_django(var_dir=tmp, env=env)
        # The bench's pieces import the app's models: only after django.setup().
        from _judging_runs import measure

        print(f"Benchmarking a judge (worker log: {tmp / 'worker.log'})", flush=True)
        figures = measure(bench, tmp / "worker.log", API_KEY)
        met = "met" if figures["time_vs_ideal"] <= GOAL and not figures["lost"] else "MISSED"
        print(
            f"{figures['labels']} labels of {bench.outputs} outputs in {figures['wall_s']:.2f} s "
            f"(ideal {bench.ideal_s:.2f} s): time_vs_ideal {figures['time_vs_ideal']:.3f} "
            f"(goal <= {GOAL}: {met}), lost {figures['lost']}, doubled {figures['doubled']}, "
            f"{figures['judged_per_s']:.1f} judged/s; server max in flight "
            f"{figures['max_in_flight']}",
            flush=True,
        )
        print(json.dumps({**figures, **context()}))
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
