"""bench/generation.py's report: the table, the goals and the last line's figures."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from typing import TYPE_CHECKING, Any

from environment import ROOT

from inference.measurement import machine

if TYPE_CHECKING:
    from _generation_parts import Part
    from generation import Bench

GOAL_APP_VS_RAW = 0.9
GOAL_BATCHED_VS_SERIAL = 3.0
LABELS = {
    "raw": "(a) raw mlx_lm.batch_generate",
    "app": "(b) app: create_run -> Celery worker",
    "serial": "(c) app, one at a time",
    "raw_serial": "(a1) raw mlx_lm, one at a time",
}


def print_table(best: dict[str, Part], bench: Bench) -> None:
    print(
        f"\n{bench.prompts} prompts x {bench.max_tokens} tokens, temperature "
        f"{bench.temperature}, top_p {bench.top_p}, seed {bench.seed}; best of {bench.repeat}"
    )
    header = f"{'part':<40}{'batch':>6}{'out tokens':>12}{'wall s':>9}{'tok/s':>9}"
    header += f"{'dispatch s':>12}{'gen span s':>12}"
    print(header)
    print("-" * len(header))
    for key, p in best.items():
        row = f"{LABELS[key]:<40}{p.batch_size:>6}{p.output_tokens:>12}{p.wall_s:>9.2f}"
        row += f"{p.tps:>9.1f}"
        for name in ("dispatch_s", "generation_span_s"):
            value = p.extra.get(name)
            row += f"{value:>12.2f}" if value is not None else f"{'':>12}"
        print(row)


def goal_line(name: str, value: float, goal: float) -> str:
    return f"{name} = {value:.3f}  (goal >= {goal}: {'met' if value >= goal else 'NOT met'})"


def summary(rounds: dict[str, list[Part]], bench: Bench, warm_s: float) -> dict[str, Any]:
    best = {k: min(parts, key=lambda p: p.wall_s) for k, parts in rounds.items()}
    expected = bench.prompts * bench.max_tokens
    app_keys = ("app", "serial")
    return {
        "app_vs_raw": round(best["app"].tps / best["raw"].tps, 4),
        "batched_vs_serial": round(best["app"].tps / best["serial"].tps, 4),
        "raw_batched_vs_serial": round(best["raw"].tps / best["raw_serial"].tps, 4),
        **{f"{k}_tps": round(p.tps, 1) for k, p in best.items()},
        # The app's tokens/s from its first generation's start to its last one's finish.
        "app_generation_tps": round(expected / best["app"].extra["generation_span_s"], 1),
        "batch_size": bench.batch_size,
        "prompts": bench.prompts,
        "max_tokens": bench.max_tokens,
        "output_tokens": {k: p.output_tokens for k, p in best.items()},
        "equal_lengths": all(p.output_tokens == expected for ps in rounds.values() for p in ps),
        "finish_reasons": {k: best[k].extra["finish_reasons"] for k in app_keys},
        "wall_s": {k: round(p.wall_s, 3) for k, p in best.items()},
        "dispatch_s": {k: round(best[k].extra["dispatch_s"], 3) for k in app_keys},
        "generation_span_s": {k: round(best[k].extra["generation_span_s"], 3) for k in app_keys},
        "tasks": {k: best[k].extra["tasks"] for k in app_keys},
        "all_tps": {k: [round(p.tps, 1) for p in ps] for k, ps in rounds.items()},
        "repeat": bench.repeat,
        "worker_warmup_s": round(warm_s, 3),
        "sampler": {"temperature": bench.temperature, "top_p": bench.top_p, "seed": bench.seed},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def context() -> dict[str, Any]:
    """Where the figures come from: the machine, the versions, the commit."""
    import django  # the versions only
    import mlx.core as mx  # heavy and optional: loaded by the bench already
    import mlx_lm

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip()

    return {
        "device": f"{machine()}, {os.cpu_count()} CPUs, mlx {mx.default_device()}",
        "versions": {
            "python": platform.python_version(),
            "mlx": mx.__version__,
            "mlx_lm": mlx_lm.__version__,
            "django": django.__version__,
        },
        "commit": git("rev-parse", "--short", "HEAD") + (" (dirty)" if git("status", "-s") else ""),
    }


def print_latency(latency: dict[str, Any]) -> None:
    print("\nOne prompt alone: time to first token (ms) and decode tokens/s, medians")
    header = f"{'prompt tokens':<15}{'part':<10}{'ttft ms':>10}{'decode tok/s':>14}"
    print(header)
    print("-" * len(header))
    for n, parts in latency["ttft_ms"].items():
        for part, ttft in parts.items():
            tps = latency["decode_tps"][n][part]
            print(f"{latency['latency_prompt_tokens'][n]:<15}{part:<10}{ttft:>10.3f}{tps:>14.1f}")
    for key in (
        "app_ttft_vs_raw",
        "app_decode_vs_raw",
        "batchgen_ttft_vs_raw",
        "prefill_tps",
        "peak_memory_mb",
        "app_prefill_vs_raw",
        "app_peak_memory_vs_raw",
    ):
        print(f"{key} = {latency[key]}")


def report(
    rounds: dict[str, list[Part]], bench: Bench, warm_s: float, latency: dict[str, Any]
) -> None:
    result = summary(rounds, bench, warm_s) | latency | context()
    print_table({k: min(ps, key=lambda p: p.wall_s) for k, ps in rounds.items()}, bench)
    print()
    print(goal_line("app_vs_raw", result["app_vs_raw"], GOAL_APP_VS_RAW))
    print(goal_line("batched_vs_serial", result["batched_vs_serial"], GOAL_BATCHED_VS_SERIAL))
    print(f"(mlx_lm alone, batch {bench.batch_size} vs 1: {result['raw_batched_vs_serial']:.3f})")
    if not result["equal_lengths"]:
        print(f"WARNING: not every part produced {bench.prompts * bench.max_tokens} tokens")
    print_latency(latency)
    print(json.dumps(result))
