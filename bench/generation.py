"""Generation throughput on the demo MLX model: raw mlx-lm batching against the app.

Usage: python bench/generation.py [--quick] [--prompts 64] [--max-tokens N] [--batch-size 8]
                                  [--repeat 2]

Measures, with the same prompts (rendered through the chat template by
`inference.prompts.render_chat`), max_tokens, sampler (temperature, top_p) and seed:

- (a) raw: `mlx_lm.batch_generate` in this process, completion and prefill batch = batch size;
- (b) app: a dataset of the prompts, `create_run` with a ModelConfig(batch_size=batch size),
  processed by a real `celery -A annotate worker -Q mlx --pool solo` process; wall time from
  just before `create_run` to the run's `finished_at`, which the worker stamps as it marks the
  run completed (this process polls for it every 0.1 s);
- (c) app, one at a time: the same with ModelConfig(batch_size=1);
- (a1) raw, one at a time: (a) with batch size 1, the ceiling of what batching can buy here.

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
5. Print a table and, as the last line, the figures as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import copy_without_eos, demo_model_path, wait_finished  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_FILE = ROOT / "annotate" / "demo" / "coding_prompts.jsonl"
GOAL_APP_VS_RAW = 0.9
GOAL_BATCHED_VS_SERIAL = 3.0
POLL_S = 0.1
LABELS = {
    "raw": "(a) raw mlx_lm.batch_generate",
    "app": "(b) app: create_run -> Celery worker",
    "serial": "(c) app, one at a time",
    "raw_serial": "(a1) raw mlx_lm, one at a time",
}


@dataclass(frozen=True)
class Bench:
    prompts: int
    max_tokens: int
    batch_size: int
    temperature: float
    top_p: float
    seed: int
    repeat: int


@dataclass
class Part:
    key: str
    batch_size: int
    output_tokens: int
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tps(self) -> float:
        return self.output_tokens / self.wall_s


# --- Arguments, prompts and the model -----------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 tokens a prompt (~1 minute)")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, help="default 256, or 32 with --quick")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best one counts")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
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
    )


def prompt_texts(n: int) -> list[str]:
    """n distinct prompts: the demo coding prompts, cycled and numbered."""
    base = [json.loads(line)["prompt"] for line in PROMPTS_FILE.read_text().splitlines() if line]
    return [f"{base[i % len(base)]} Call it solution_{i}." for i in range(n)]


# --- (a) raw mlx-lm -----------------------------------------------------------------------------


class RawMLX:
    """mlx_lm itself, in this process: the model loaded once, the prompts rendered as the
    app renders them, warmed up before anything is timed."""

    def __init__(self, model_path: Path, texts: list[str], bench: Bench) -> None:
        from mlx_lm import load

        from inference.prompts import build_messages, render_chat

        self.bench = bench
        self.model, self.tokenizer = load(str(model_path))
        self.tokenizer.eos_token_ids = set()
        self.prompts = [
            render_chat(self.tokenizer, build_messages([{"role": "user", "content": t}]))
            for t in texts
        ]
        self.generate(self.prompts[:2], bench.batch_size, 4)

    def generate(self, prompts: list[list[int]], batch_size: int, max_tokens: int):
        import mlx.core as mx
        from mlx_lm import batch_generate
        from mlx_lm.sample_utils import make_sampler

        # Seeded and sampled as MLXBackend.generate does.
        mx.random.seed(self.bench.seed)
        sampler = make_sampler(temp=self.bench.temperature, top_p=self.bench.top_p)
        return batch_generate(
            self.model,
            self.tokenizer,
            prompts,
            max_tokens=max_tokens,
            sampler=sampler,
            completion_batch_size=batch_size,
            prefill_batch_size=batch_size,
            return_token_ids=True,
        )

    def measure(self, key: str, batch_size: int) -> Part:
        start = time.perf_counter()
        response = self.generate(self.prompts, batch_size, self.bench.max_tokens)
        wall = time.perf_counter() - start
        lengths = [len(ids) for ids in response.token_ids]
        return Part(key, batch_size, sum(lengths), wall, {"lengths": sorted(set(lengths))})


# --- Django and the worker ----------------------------------------------------------------------


def setup_django(var_dir: Path, model_path: Path) -> None:
    """Point the settings at var_dir (SQLite and the filesystem broker unless DATABASE_URL /
    CELERY_BROKER_URL say otherwise) before Django reads them; the worker inherits them."""
    os.environ["ANNOTATE_VAR_DIR"] = str(var_dir)
    os.environ["MLX_MODEL"] = str(model_path)
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def tasks_done(log: Path) -> int:
    """Tasks the worker has finished so far, from its log."""
    return log.read_text(errors="replace").count(" succeeded in ")


# --- (b), (c) the app ---------------------------------------------------------------------------


def make_dataset(owner, texts: list[str], name: str):
    from annotate.datasets.importing import import_dataset

    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, bench: Bench, model_path: Path, batch_size: int, max_tokens: int, name):
    from inference.models import ModelConfig

    return ModelConfig.objects.create(
        name=name,
        backend="mlx",
        model=str(model_path),
        temperature=bench.temperature,
        top_p=bench.top_p,
        max_tokens=max_tokens,
        seed=bench.seed,
        batch_size=batch_size,
        owner=owner,
    )


def run_stats(run_id: int, created_at) -> dict[str, Any]:
    """What the database says: tokens, finish reasons, wall time, the wait before the worker
    started, and the span from the first generation's start to the last one's finish."""
    from django.db.models import Count, Max, Min, Sum

    from inference.models import Generation, Run

    run = Run.objects.get(pk=run_id)
    gens = Generation.objects.filter(run=run)
    agg = gens.aggregate(tokens=Sum("output_tokens"), first=Min("started_at"))
    agg |= gens.aggregate(last=Max("finished_at"))
    return {
        "status": run.status,
        "output_tokens": agg["tokens"] or 0,
        "finish_reasons": dict(gens.values_list("finish_reason").annotate(n=Count("pk"))),
        "wall_s": (run.finished_at - created_at).total_seconds(),
        "dispatch_s": (run.started_at - created_at).total_seconds(),
        "generation_span_s": (agg["last"] - agg["first"]).total_seconds(),
    }


class App:
    """The app: a dataset of the prompts, one ModelConfig per part, a real worker."""

    def __init__(self, model_path: Path, texts: list[str], bench: Bench, log: Path) -> None:
        from django.contrib.auth import get_user_model

        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.log = log
        self.owner, _ = get_user_model().objects.get_or_create(username="bench")
        self.dataset = make_dataset(self.owner, texts, f"bench {len(texts)} prompts {stamp}")
        self.warm_dataset = make_dataset(self.owner, texts[:2], f"bench warm-up {stamp}")
        config = self._config_maker(bench, model_path, stamp)
        self.configs = {
            "warm": config("warm", bench.batch_size, 4),
            "app": config("b", bench.batch_size, bench.max_tokens),
            "serial": config("s", 1, bench.max_tokens),
        }

    def _config_maker(self, bench: Bench, model_path: Path, stamp: str):
        def make(tag: str, batch_size: int, max_tokens: int):
            name = f"bench-{tag}{batch_size}-{stamp}"
            return make_config(self.owner, bench, model_path, batch_size, max_tokens, name)

        return make

    def warm_up(self) -> float:
        """A tiny run: the worker loads the model on its first task. Returns its wall time."""
        return self._run(self.warm_dataset, "warm").wall_s

    def measure(self, key: str) -> Part:
        return self._run(self.dataset, key)

    def _run(self, dataset, key: str) -> Part:
        from django.utils import timezone

        from inference.actions import create_run

        config = self.configs[key]
        tasks_before = tasks_done(self.log)
        created_at = timezone.now()
        run = create_run(dataset, config, self.owner)
        status = wait_finished(run.pk, timeout=900, poll_s=POLL_S)
        stats = run_stats(run.pk, created_at)
        if status != "completed":
            raise RuntimeError(f"run {run.pk} ended {status}:\n{self.log.read_text()[-3000:]}")
        stats["tasks"] = tasks_done(self.log) - tasks_before
        tokens, wall = stats.pop("output_tokens"), stats.pop("wall_s")
        return Part(key, config.batch_size, tokens, wall, stats)


# --- Measuring ----------------------------------------------------------------------------------


def measure_rounds(raw: RawMLX, app: App, bench: Bench) -> dict[str, list[Part]]:
    """bench.repeat rounds of (a), (b), (c), (a1), interleaved so that a busy spell of the
    machine does not land on one part only."""
    rounds: dict[str, list[Part]] = {key: [] for key in LABELS}
    for i in range(bench.repeat):
        for key in LABELS:
            if key.startswith("raw"):
                part = raw.measure(key, bench.batch_size if key == "raw" else 1)
            else:
                part = app.measure(key)
            rounds[key].append(part)
            print(f"  round {i + 1}: {LABELS[key]:<40} {part.tps:8.1f} tok/s", flush=True)
    return rounds


def measure(model_path: Path, texts: list[str], bench: Bench, log: Path):
    """Start the worker, warm both sides up, measure the rounds, stop the worker."""
    from tests.support.processes import celery_worker

    app = App(model_path, texts, bench, log)
    worker = celery_worker("bench", log, "mlx")
    try:
        warm_s = app.warm_up()
        # MLX is imported here only after the worker process has started.
        raw = RawMLX(model_path, texts, bench)
        return measure_rounds(raw, app, bench), warm_s
    finally:
        worker.stop()


# --- Report -------------------------------------------------------------------------------------


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


def report(rounds: dict[str, list[Part]], bench: Bench, warm_s: float) -> None:
    result = summary(rounds, bench, warm_s)
    print_table({k: min(ps, key=lambda p: p.wall_s) for k, ps in rounds.items()}, bench)
    print()
    print(goal_line("app_vs_raw", result["app_vs_raw"], GOAL_APP_VS_RAW))
    print(goal_line("batched_vs_serial", result["batched_vs_serial"], GOAL_BATCHED_VS_SERIAL))
    print(f"(mlx_lm alone, batch {bench.batch_size} vs 1: {result['raw_batched_vs_serial']:.3f})")
    if not result["equal_lengths"]:
        print(f"WARNING: not every part produced {bench.prompts * bench.max_tokens} tokens")
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    args = parse_args(argv)
    bench = bench_from_args(args)
    tmp = Path(tempfile.mkdtemp(prefix="annotate-bench-"))
    try:
        model_path = copy_without_eos(demo_model_path(), tmp / "models" / "bench-demo")
        setup_django(tmp, model_path)
        print(f"Benchmarking on {model_path} (worker log: {tmp / 'worker.log'})", flush=True)
        rounds, warm_s = measure(model_path, prompt_texts(bench.prompts), bench, tmp / "worker.log")
        report(rounds, bench, warm_s)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
