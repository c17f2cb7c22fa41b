"""Import of outputs made elsewhere: how long `import_dataset` takes (server time, the action
called on a stream in memory) for N items with two answers each in the outputs layout
(annotate/datasets/outputs.py), against the plain import of the same prompts without
outputs, the baseline, measured in the same run.

Usage: python bench/import_outputs.py [--quick] [--repeat 3] [--pg]

How:
1. A temporary SQLite database (or with --pg, DATABASE_URL or
   postgres://postgres@127.0.0.1:5432/annotate_bench_import, created if missing), migrated
   once, and a manager.
2. Files built in memory, untimed: 10k and 50k lines `{"id", "prompt", "outputs": [two
   answers of ~300 characters with latency_s, ttft_s, tokens and cost_usd]}`, and the same
   prompts alone (`{"id", "prompt"}`).
3. Each import runs in a fresh `--child` process (so memory peaks do not mix), timed around
   the action alone (wall and the process's CPU time, which a loaded machine disturbs less),
   with the growth of its peak RSS (ru_maxrss) over the RSS before the call;
   each dataset is deleted afterwards, untimed. 10k: the median of --repeat, interleaved with
   the baseline; 50k: one of each.
4. A table, then the last line as JSON: import_10k_s, import_50k_s, baseline_10k_s,
   baseline_50k_s, outputs_vs_plain_10k, import_10k_cpu_s, baseline_10k_cpu_s,
   peak_growth_10k_mb, peak_growth_50k_mb, the goal (import_10k_s <= 0.16) met or not,
   device, versions, commit, loadavg_1m.
--quick: one round of each. The full run takes one to two minutes on a busy 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from environment import ROOT, ensure_database, setup_django  # noqa: E402

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/annotate_bench_import"
GOAL_10K_S = 0.16
ANSWER = "The answer, with a short reason and an example: " * 6


def lines(n: int, with_outputs: bool) -> bytes:
    out = []
    for i in range(n):
        row = {"id": f"q{i}", "prompt": f"Question {i}: what is {i} squared, and why?"}
        if with_outputs:
            row["outputs"] = [
                {
                    "model": model,
                    "output": f"{i * i}. {ANSWER}",
                    "latency_s": 1.5 + i % 7 / 10,
                    "ttft_s": 0.2,
                    "prompt_tokens": 14,
                    "output_tokens": 70,
                    "cost_usd": 0.00042,
                }
                for model in ("bench-model-a", "bench-model-b")
            ]
        out.append(json.dumps(row))
    return ("\n".join(out) + "\n").encode()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(kind: str, n: int) -> None:
    """One import, timed, in this process; prints its figures as JSON."""
    setup_django(migrate=False)
    from django.contrib.auth import get_user_model  # after setup_django: the app's models

    from annotate.datasets.actions import import_dataset

    data = lines(n, kind == "outputs")
    user = get_user_model().objects.get(username="bench-importer")
    before = rss_mb()
    start, cpu = time.perf_counter(), time.process_time()
    dataset = import_dataset(user, io.BytesIO(data), f"{kind}.jsonl", f"bench {kind} {n}")
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outputs = sum(r.generations.count() for r in dataset.runs.all())
    items = dataset.items.count()
    for run in dataset.runs.all():
        run.generations.all().delete()
        run.delete()
    dataset.delete()
    growth = max(peak - before, 0)
    print(
        json.dumps(
            {"s": took, "cpu_s": cpu, "growth_mb": growth, "items": items, "outputs": outputs}
        )
    )


def run_child(kind: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def context() -> dict:
    import django  # the versions only

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    dirty = " (dirty)" if git("status", "-s").strip() else ""
    from django.db import connection

    return {
        "device": f"{platform.machine()}, {os.cpu_count()} CPUs, {connection.vendor}",
        "versions": {"python": platform.python_version(), "django": django.__version__},
        "commit": git("rev-parse", "--short", "HEAD").strip() + dirty,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    folder = tempfile.mkdtemp(prefix="bench-import-")
    url = os.environ.get("DATABASE_URL", DEFAULT_PG) if args.pg else None
    if url:
        ensure_database(url)
    else:  # SQLite in the temporary folder, whatever the environment says
        os.environ.pop("DATABASE_URL", None)
    setup_django(url, var_dir=Path(folder))
    from django.contrib.auth import get_user_model  # after setup_django: the app's models
    from django.contrib.auth.models import Permission

    user, _ = get_user_model().objects.get_or_create(username="bench-importer")
    user.user_permissions.add(Permission.objects.get(codename="manage_generation"))
    repeat = 1 if args.quick else args.repeat
    rounds: dict[str, list[dict]] = {}
    for n, times in ((10_000, repeat), (50_000, 1)):
        for _ in range(times):
            for kind in ("plain", "outputs"):
                rounds.setdefault(f"{kind}_{n}", []).append(run_child(kind, n))
    figures = {key: statistics.median(r["s"] for r in rs) for key, rs in rounds.items()}
    cpu = {key: statistics.median(r["cpu_s"] for r in rs) for key, rs in rounds.items()}
    peaks = {key: max(r["growth_mb"] for r in rs) for key, rs in rounds.items()}
    print(f"{'import':<16}{'items':>8}{'outputs':>9}{'median s':>10}{'cpu s':>8}{'peak +MB':>10}")
    for key, rs in rounds.items():
        print(
            f"{key:<16}{rs[0]['items']:>8}{rs[0]['outputs']:>9}"
            f"{figures[key]:>10.3f}{cpu[key]:>8.3f}{peaks[key]:>10.1f}"
        )
    result = {
        "import_10k_s": round(figures["outputs_10000"], 4),
        "import_50k_s": round(figures["outputs_50000"], 4),
        "baseline_10k_s": round(figures["plain_10000"], 4),
        "baseline_50k_s": round(figures["plain_50000"], 4),
        "outputs_vs_plain_10k": round(figures["outputs_10000"] / figures["plain_10000"], 2),
        "import_10k_cpu_s": round(cpu["outputs_10000"], 4),
        "baseline_10k_cpu_s": round(cpu["plain_10000"], 4),
        "peak_growth_10k_mb": round(peaks["outputs_10000"], 1),
        "peak_growth_50k_mb": round(peaks["outputs_50000"], 1),
        "baseline_peak_growth_50k_mb": round(peaks["plain_50000"], 1),
        "goal_import_10k_met": figures["outputs_10000"] <= GOAL_10K_S,
        "repeat": repeat,
        **context(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
