"""bench/generation.py's parts: (a) raw mlx-lm in this process, (b) and (c) the app through
create_run and a real worker, measured in interleaved rounds (imported after django.setup())."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _generation_report import LABELS
from common import wait_finished
from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Min, Sum
from django.utils import timezone
from environment import start_worker

from annotate.datasets.importing import import_dataset
from inference.actions import create_run
from inference.models import Generation, ModelConfig, Run
from inference.prompts import build_messages, render_chat

if TYPE_CHECKING:
    from generation import Bench

POLL_S = 0.1


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


# --- (a) raw mlx-lm -----------------------------------------------------------------------------


class RawMLX:
    """mlx_lm itself, in this process: the model loaded once, the prompts rendered as the
    app renders them, warmed up before anything is timed."""

    def __init__(self, model_path: Path, texts: list[str], bench: Bench) -> None:
        # mlx-lm, heavy and optional, loads only once the worker has started.
        from mlx_lm import load

        self.bench, self.model_path = bench, model_path
        self.model, self.tokenizer = load(str(model_path))
        self.tokenizer.eos_token_ids = set()
        self.prompts = [
            render_chat(self.tokenizer, build_messages([{"role": "user", "content": t}]))
            for t in texts
        ]
        self.generate(self.prompts[:2], bench.batch_size, 4)

    def generate(self, prompts: list[list[int]], batch_size: int, max_tokens: int):
        import mlx.core as mx  # heavy and optional: loaded with the model, as above
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


def tasks_done(log: Path) -> int:
    """Tasks the worker has finished so far, from its log."""
    return log.read_text(errors="replace").count(" succeeded in ")


# --- (b), (c) the app ---------------------------------------------------------------------------


def make_dataset(owner, texts: list[str], name: str):
    lines = "".join(json.dumps({"prompt": t}) + "\n" for t in texts)
    return import_dataset(io.BytesIO(lines.encode()), "bench.jsonl", name, owner)


def make_config(owner, bench: Bench, model_path: Path, batch_size: int, max_tokens: int, name):
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
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.log = log
        # A superuser: create_run is for those who manage models.
        self.owner, _ = get_user_model().objects.update_or_create(
            username="bench", defaults={"is_superuser": True}
        )
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
        config = self.configs[key]
        tasks_before = tasks_done(self.log)
        created_at = timezone.now()
        run = create_run(self.owner, dataset.pk, config.pk)
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


def measure(model_path: Path, texts: list[str], bench: Bench, log: Path, then=None):
    """Start the worker, warm both sides up, measure the rounds, call then(raw, app) if given
    (more measurements with the same worker and model), stop the worker."""
    app = App(model_path, texts, bench, log)
    worker = start_worker("bench", log, "mlx")
    try:
        warm_s = app.warm_up()
        # MLX is imported here only after the worker process has started.
        raw = RawMLX(model_path, texts, bench)
        rounds = measure_rounds(raw, app, bench)
        return rounds, warm_s, then(raw, app) if then else None
    finally:
        worker.stop()
