"""Generation throughput on the demo MLX model: raw mlx-lm batching against the app.

Usage: python bench/generation.py [--quick] [--prompts 64] [--max-tokens N] [--batch-size 8]
                                  [--repeat 2] [--latency-repeat 7] [--model random:small:4]

Measures, with the same prompts (rendered through the chat template by
`inference.prompts.render_chat`), max_tokens, sampler (temperature, top_p) and seed:

- (a) raw: `mlx_lm.batch_generate` in this process, completion and prefill batch = batch size;
- (b) app: a dataset of the prompts, `create_run` with a ModelConfig(batch_size=batch size),
  processed by a real `celery -A annotate worker -Q mlx --pool solo` process; wall time from
  just before `create_run` to the run's `finished_at`, which the worker stamps as it marks the
  run completed (this process polls for it every 0.1 s);
- (c) app, one at a time: the same with ModelConfig(batch_size=1);
- (a1) raw, one at a time: (a) with batch size 1, the ceiling of what batching can buy here;
- latency of one prompt alone, rendered to 16 and to 512 tokens (bench/_generation_latency.py):
  time to first token and decode tokens/s of raw `mlx_lm.stream_generate` (the baseline), of a
  bare `BatchGenerator` loop, and of the app (a one-prompt run; the Generation's recorded
  `ttft_s` and `decode_tps`): `app_ttft_vs_raw` and `app_decode_vs_raw` per prompt length;
  with what `mlx_lm.generate --verbose` prints, `prefill_tps` and `peak_memory_mb` per part
  (raw: mlx-lm's own `prompt_tps` and `peak_memory`), `app_prefill_vs_raw` and
  `app_peak_memory_vs_raw`.

Throughput = total output tokens / wall time. Every sequence must run to max_tokens so that each
part produces the same tokens: the benchmark uses a copy of the demo model whose configs declare
one end-of-sequence id, `vocab_size`, which the model cannot emit (its logits have vocab_size
rows); (a) also sets `tokenizer.eos_token_ids = set()`. Output tokens are reported and checked.

How:
1. Find the demo model (MLX_MODEL, else var/models/demo, built there if missing) and copy it,
   with the unreachable end-of-sequence id, into a temporary ANNOTATE_VAR_DIR.
2. Set up Django there (SQLite and the filesystem broker, unless DATABASE_URL or
   CELERY_BROKER_URL are set) and migrate.
3. Start the worker, wait for " ready." in its log and warm it up with a tiny run (it loads the
   model on its first task); load the model here and warm it up too. None of this is timed.
4. Repeat --repeat times, interleaved: (a), (b), (c), (a1). The machine is shared and noisy, so
   each part's figure is its best (shortest) repetition; all of them are in the JSON.
5. Then --latency-repeat interleaved rounds of the latency part; each figure is the median.
6. Print a table and, as the last line, the figures as JSON, with the device, the versions,
   the commit and the load average.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _generation_report import report  # noqa: E402
from common import copy_without_eos, demo_model_path  # noqa: E402
from environment import ROOT, setup_django  # noqa: E402

PROMPTS_FILE = ROOT / "annotate" / "demo" / "coding_prompts.jsonl"


@dataclass(frozen=True)
class Bench:
    prompts: int
    max_tokens: int
    batch_size: int
    temperature: float
    top_p: float
    seed: int
    repeat: int
    latency_repeat: int = 7


# --- Arguments, prompts and the model -----------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 tokens a prompt (~1 minute)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, help="default 256, or 32 with --quick")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best one counts")
    parser.add_argument(
        "--latency-repeat", type=int, default=7, help="rounds of one-prompt runs; the median"
    )
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--model",
        help="a model folder, or random:SHAPE[:BITS] (bench/_random_model.py, e.g. "
        "random:small:4); default: the demo model",
    )
    return parser.parse_args(argv)


def bench_from_args(args: argparse.Namespace) -> Bench:
    max_tokens = args.max_tokens or (32 if args.quick else 256)
    return Bench(
        args.prompts,
        max_tokens,
        args.batch_size,
        args.temperature,
        args.top_p,
        args.seed,
        max(args.repeat, 1),
        max(args.latency_repeat, 1),
    )


def prompt_texts(n: int) -> list[str]:
    """n distinct prompts: the demo coding prompts, cycled and numbered."""
    base = [json.loads(line)["prompt"] for line in PROMPTS_FILE.read_text().splitlines() if line]
    return [f"{base[i % len(base)]} Call it solution_{i}." for i in range(n)]


def bench_model(model: str | None, folder: Path) -> Path:
    """A copy of the model asked for whose sequences all run to max_tokens."""
    if model and model.startswith("random:"):
        from _random_model import build_random_model

        shape, _, bits = model.removeprefix("random:").partition(":")
        return build_random_model(folder / f"random-{shape}", shape, int(bits or 0))
    return copy_without_eos(Path(model) if model else demo_model_path(), folder / "bench-model")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-"))
    try:
        model_path = bench_model(args.model, tmp / "models")
        # SQLite and the filesystem broker in tmp unless DATABASE_URL / CELERY_BROKER_URL say
        # otherwise; the worker inherits the settings.
        setup_django(var_dir=tmp, env={"MLX_MODEL": str(model_path)})
        # The bench's parts import the app's models: only after django.setup().
        from _generation_latency import measure_latency
        from _generation_parts import measure

        print(f"Benchmarking on {model_path} (worker log: {tmp / 'worker.log'})", flush=True)
        rounds, warm_s, latency = measure(
            model_path,
            prompt_texts(bench.prompts),
            bench,
            tmp / "worker.log",
            then=lambda raw, app: measure_latency(raw, app, bench),
        )
        report(rounds, bench, warm_s, latency)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
