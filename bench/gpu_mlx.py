"""Raw mlx-lm against the app's MLX backend on a randomly initialised model, on any mlx device.

Usage: python bench/gpu_mlx.py [--quick] [--shape tiny|7b] [--bits 0|4|8] [--prompts 8]
                               [--max-tokens 128] [--batch-size 8] [--repeat 2] [--out FILE]

Made for mlx's CUDA build on a Linux GPU machine (hubs out of reach there), and runs the same
on the CPU build or Apple silicon. No Django, no database: the app's `MLXBackend` is driven
directly, its `claim` handing out the prompts and its `emit` collecting the results.

1. Build the model (bench/_random_model.py) in a temporary folder: shape, bits, seed 0.
2. Prompts: the first --prompts of annotate/demo/coding_prompts.jsonl, rendered through the
   chat template by the app's `render_chat`; every sequence runs to --max-tokens (the model
   cannot emit its end-of-sequence id).
3. Warm both up (one short prompt each), then --repeat interleaved rounds of:
   - single, raw: `mlx_lm.stream_generate` on the first prompt; its own prompt_tps,
     generation_tps (decode tokens/s) and peak_memory;
   - single, app: `MLXBackend.generate` with batch_size 1 on that prompt; the result's
     prefill tokens/s (prompt tokens / time to first token), decode tokens/s and peak memory;
   - batch, raw: `mlx_lm.batch_generate` (BatchGenerator, completion and prefill batch =
     --batch-size); output tokens / wall time; its prompt_tps, generation_tps, peak_memory;
   - batch, app: `MLXBackend.generate` with batch_size --batch-size; output tokens / wall time,
     and the median sequence's decode tokens/s (what a Generation records).
   Each figure is the best round (the fastest; the peak memory of that round). The warm-up
   runs both batch sizes once: mlx's CUDA build compiles kernels for each new shape.
4. Print one JSON line: both sides, app/raw ratios, device, versions, commit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _random_model import build_random_model  # noqa: E402

PROMPTS_FILE = ROOT / "annotate" / "demo" / "coding_prompts.jsonl"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shape, 4 prompts, 16 tokens")
    parser.add_argument("--shape", default="tiny", choices=["tiny", "7b"])
    parser.add_argument("--bits", type=int, default=0, choices=[0, 4, 8])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the JSON line to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.shape, args.prompts, args.max_tokens, args.batch_size, args.repeat = (
            "tiny",
            4,
            16,
            4,
            1,
        )
    return args


def load_prompts(tokenizer, count: int) -> list[list[int]]:
    from inference.prompts import render_chat

    lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()[:count]
    return [
        render_chat(tokenizer, [{"role": "user", "content": json.loads(x)["prompt"]}])
        for x in lines
    ]


def raw_single(model, tokenizer, prompt: list[int], max_tokens: int) -> dict:
    import mlx.core as mx
    from mlx_lm import stream_generate

    mx.reset_peak_memory()
    *_, last = stream_generate(model, tokenizer, prompt, max_tokens=max_tokens)
    return {
        "output_tokens": last.generation_tokens,
        "prefill_tps": round(last.prompt_tps, 1),
        "decode_tps": round(last.generation_tps, 2),
        "peak_memory_mb": round(last.peak_memory * 1000, 1),
    }


def raw_batch(model, tokenizer, prompts, max_tokens: int, batch_size: int) -> dict:
    import mlx.core as mx
    from mlx_lm import batch_generate

    mx.reset_peak_memory()
    started = time.perf_counter()
    response = batch_generate(
        model,
        tokenizer,
        prompts,
        max_tokens=max_tokens,
        completion_batch_size=batch_size,
        prefill_batch_size=batch_size,
        return_token_ids=True,
    )
    wall = time.perf_counter() - started
    tokens = sum(len(ids) for ids in response.token_ids)
    stats = response.stats
    return {
        "output_tokens": tokens,
        "wall_s": round(wall, 3),
        "throughput_tps": round(tokens / wall, 2),
        "prefill_tps": round(stats.prompt_tps, 1),
        "decode_tps": round(stats.generation_tps, 2),
        "peak_memory_mb": round(stats.peak_memory * 1000, 1),
    }


def app_run(backend, messages: list[list[dict]], max_tokens: int, batch_size: int) -> dict:
    from inference.backends.base import GenerationRequest
    from inference.measurement import decode_tps

    pending = [GenerationRequest(key=i, messages=m) for i, m in enumerate(messages)]
    results = []

    def claim(n: int):
        taken = pending[:n]
        del pending[:n]
        return taken

    params = {"max_tokens": max_tokens, "batch_size": batch_size, "temperature": 0.0, "seed": 0}
    started = time.perf_counter()
    backend.generate(params, claim, results.append, lambda: False)
    wall = time.perf_counter() - started
    failed = [r for r in results if r.error or r.cancelled]
    if failed or len(results) != len(messages):
        raise RuntimeError(f"app: {len(results)} results, failed: {failed[:1]}")
    tokens = sum(r.output_tokens for r in results)
    figures = {
        "output_tokens": tokens,
        "wall_s": round(wall, 3),
        "throughput_tps": round(tokens / wall, 2),
        "peak_memory_mb": round(max(r.peak_memory_mb or 0 for r in results), 1),
    }
    if len(results) == 1:  # one sequence: comparable with stream_generate's own figures
        only = results[0]
        ttft = only.timing.ttft_s
        figures["prefill_tps"] = round(only.prompt_tokens / ttft, 1) if ttft else None
        figures["decode_tps"] = round(decode_tps(only.output_tokens, only.timing) or 0, 2)
    else:  # what each sequence saw (the Generation's decode_tps); the batch's is throughput
        each = sorted(decode_tps(r.output_tokens, r.timing) or 0 for r in results)
        figures["median_sequence_decode_tps"] = round(each[len(each) // 2], 2)
    return figures


def best(rounds: list[dict], key: str) -> dict:
    return max(rounds, key=lambda r: r[key] or 0)


def ratio(app: dict, raw: dict, key: str) -> float | None:
    return round(app[key] / raw[key], 3) if app.get(key) and raw.get(key) else None


def environment() -> dict:
    import mlx.core as mx
    import mlx_lm

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    gpu = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        gpu = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    return {
        "device": str(mx.default_device()),
        "cuda": bool(getattr(mx, "cuda", None) and mx.cuda.is_available()),
        "gpu": gpu or None,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "mlx": mx.__version__,
        "mlx_lm": mlx_lm.__version__,
        "commit": commit or None,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    from mlx_lm import load

    from inference.backends.mlx import MLXBackend

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = build_random_model(Path(tmp) / "model", args.shape, args.bits)
        build_s = time.perf_counter() - started
        model, tokenizer = load(str(path))
        backend = MLXBackend({"model": str(path)})
        backend.check()
        prompts = load_prompts(tokenizer, args.prompts)
        lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()[: args.prompts]
        messages = [[{"role": "user", "content": json.loads(x)["prompt"]}] for x in lines]
        # warm-up: kernels compiled / loaded, allocator primed; not timed
        raw_single(model, tokenizer, prompts[0], 8)
        app_run(backend, messages[:1], 8, 1)
        raw_batch(model, tokenizer, prompts, 8, args.batch_size)
        app_run(backend, messages, 8, args.batch_size)
        rounds: dict[str, list[dict]] = {k: [] for k in ("raw1", "app1", "raw", "app")}
        for _ in range(args.repeat):
            rounds["raw1"].append(raw_single(model, tokenizer, prompts[0], args.max_tokens))
            rounds["app1"].append(app_run(backend, messages[:1], args.max_tokens, 1))
            rounds["raw"].append(
                raw_batch(model, tokenizer, prompts, args.max_tokens, args.batch_size)
            )
            rounds["app"].append(app_run(backend, messages, args.max_tokens, args.batch_size))
    single_raw, single_app = best(rounds["raw1"], "decode_tps"), best(rounds["app1"], "decode_tps")
    batch_raw, batch_app = (
        best(rounds["raw"], "throughput_tps"),
        best(rounds["app"], "throughput_tps"),
    )
    expected = args.prompts * args.max_tokens
    if batch_raw["output_tokens"] != expected or batch_app["output_tokens"] != expected:
        raise RuntimeError(f"output tokens differ from {expected}: {batch_raw}, {batch_app}")
    figures = {
        "bench": "gpu_mlx",
        "shape": args.shape,
        "bits": args.bits,
        "build_s": round(build_s, 1),
        "prompts": args.prompts,
        "prompt_tokens": [len(p) for p in prompts],
        "max_tokens": args.max_tokens,
        "batch_size": args.batch_size,
        "single": {
            "raw": single_raw,
            "app": single_app,
            "app_decode_vs_raw": ratio(single_app, single_raw, "decode_tps"),
            "app_prefill_vs_raw": ratio(single_app, single_raw, "prefill_tps"),
        },
        "batch": {
            "raw": batch_raw,
            "app": batch_app,
            "app_vs_raw": ratio(batch_app, batch_raw, "throughput_tps"),
            "app_peak_memory_vs_raw": ratio(batch_app, batch_raw, "peak_memory_mb"),
        },
        "rounds": rounds,
        **environment(),
    }
    line = json.dumps(figures)
    print(line, flush=True)
    if args.out:
        args.out.write_text(line + "\n", encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
