"""bench/generation.py's latency part: time to first token and decode tokens/s of one prompt
alone, raw mlx-lm against the app (imported after django.setup()).

For each prompt length (rendered through the chat template, as the app renders it):
- raw: `mlx_lm.stream_generate`, timed here with time.perf_counter() from the call to each
  token (the baseline);
- batchgen: a bare `BatchGenerator` loop configured as MLXBackend configures it (batch size,
  sampler), timed the same way: what batching itself costs, before anything of the app;
- app: a one-prompt run through `create_run` and the worker; the figures are the
  Generation's own `ttft_s` and `decode_tps`, as the app records and shows them.

Also, per part, what `mlx_lm.generate --verbose` prints: prefill tokens/s and peak memory.
raw: mlx-lm's own `prompt_tps` and `peak_memory` (GB, as MB here) of stream_generate's
response, with `mx.reset_peak_memory()` before each call; batchgen: prompt tokens over its
time to first token and `mx.get_peak_memory()` after the loop; app: the Generation's
`prefill_tps` and `peak_memory_mb` (its worker resets the peak per batch). `app_prefill_vs_raw`
and `app_peak_memory_vs_raw` are the ratios of the medians.

decode tokens/s is (tokens - 1) / (last token - first token) everywhere (every sequence runs to
max_tokens on the bench's copy of the model). Rounds are interleaved; each figure is the median
of its rounds, and the ratios are those of the medians.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _generation_parts import App, RawMLX, make_config, make_dataset, tasks_done
from common import wait_finished

from inference.actions import create_run
from inference.models import Generation
from inference.prompts import build_messages, render_chat

if TYPE_CHECKING:
    from generation import Bench

LENGTHS = (16, 512)
FILLER = "def parse(self, text):\n    return [line.split() for line in text.splitlines()]\n"


@dataclass
class Sample:
    ttft_s: float
    decode_tps: float | None
    prefill_tps: float | None = None
    peak_memory_mb: float | None = None


def from_stamps(start: float, stamps: list[float]) -> Sample:
    decode_s = stamps[-1] - stamps[0]
    tps = (len(stamps) - 1) / decode_s if len(stamps) > 1 and decode_s > 0 else None
    return Sample(stamps[0] - start, tps)


def _reset_peak() -> None:
    import mlx.core as mx  # heavy and optional: loaded with the model

    mx.reset_peak_memory()


def prompt_of(tokenizer, length: int) -> str:
    """A user message whose rendered prompt has about `length` tokens (the template's own
    tokens included)."""
    frame = len(render_chat(tokenizer, build_messages([{"role": "user", "content": ""}])))
    ids = tokenizer.encode(FILLER * (length // 4 + 8), add_special_tokens=False)
    return tokenizer.decode(ids[: max(length - frame, 1)])


class RawLatency:
    """mlx-lm alone: stream_generate, and a bare BatchGenerator loop."""

    def __init__(self, model, tokenizer, bench: Bench) -> None:
        self.model, self.tokenizer, self.bench = model, tokenizer, bench

    def _sampler(self):
        import mlx.core as mx  # heavy and optional: loaded with the model
        from mlx_lm.sample_utils import make_sampler

        mx.random.seed(self.bench.seed)
        return make_sampler(temp=self.bench.temperature, top_p=self.bench.top_p)

    def stream(self, prompt: list[int]) -> Sample:
        from mlx_lm import stream_generate  # heavy and optional: loaded with the model

        sampler = self._sampler()
        stamps: list[float] = []
        _reset_peak()
        start = time.perf_counter()
        for response in stream_generate(
            self.model, self.tokenizer, prompt, max_tokens=self.bench.max_tokens, sampler=sampler
        ):
            stamps.append(time.perf_counter())
            last = response
        sample = from_stamps(start, stamps)
        # mlx-lm's own figures, as `mlx_lm.generate --verbose` prints them (peak in GB).
        sample.prefill_tps = last.prompt_tps
        sample.peak_memory_mb = last.peak_memory * 1000
        return sample

    def batchgen(self, prompt: list[int]) -> Sample:
        from mlx_lm.generate import BatchGenerator  # heavy and optional: loaded with the model

        size = self.bench.batch_size
        gen = BatchGenerator(
            self.model,
            max_tokens=self.bench.max_tokens,
            completion_batch_size=size,
            prefill_batch_size=size,
            sampler=self._sampler(),
        )
        stamps: list[float] = []
        import mlx.core as mx  # heavy and optional: loaded with the model

        try:
            mx.reset_peak_memory()
            start = time.perf_counter()
            gen.insert([prompt], max_tokens=[self.bench.max_tokens])
            while len(stamps) < self.bench.max_tokens:
                for _ in gen.next_generated():
                    stamps.append(time.perf_counter())
            peak = mx.get_peak_memory() / 1e6
        finally:
            gen.close()
        sample = from_stamps(start, stamps)
        sample.prefill_tps = len(prompt) / sample.ttft_s
        sample.peak_memory_mb = peak
        return sample


class AppLatency:
    """One-prompt runs through create_run and the worker, one dataset per length."""

    def __init__(self, app: App, model_path: Path, bench: Bench, texts: dict[int, str]) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.owner, self.log = app.owner, app.log
        self.config = make_config(
            self.owner, bench, model_path, bench.batch_size, bench.max_tokens, f"bench-ttft-{stamp}"
        )
        self.datasets = {
            n: make_dataset(self.owner, [text], f"bench ttft {n} tokens {stamp}")
            for n, text in texts.items()
        }

    def measure(self, length: int) -> tuple[Sample, int]:
        tasks_before = tasks_done(self.log)
        run = create_run(self.owner, self.datasets[length].pk, self.config.pk)
        status = wait_finished(run.pk, timeout=120, poll_s=0.05)
        # The worker goes on after marking the run completed (acknowledging its task): the
        # raw parts, measured next, must not share the cores with it.
        deadline = time.monotonic() + 10
        while tasks_done(self.log) == tasks_before and time.monotonic() < deadline:
            time.sleep(0.02)
        [g] = Generation.objects.filter(run=run)
        if status != "completed" or g.ttft_s is None:
            raise RuntimeError(f"latency run {run.pk} ended {status}: {g.error}")
        return Sample(g.ttft_s, g.decode_tps, g.prefill_tps, g.peak_memory_mb), g.prompt_tokens


def measure_latency(raw_mlx: RawMLX, app_parts: App, bench: Bench) -> dict[str, Any]:
    """Interleaved rounds of raw, batchgen and app per prompt length; the medians."""
    model, tokenizer = raw_mlx.model, raw_mlx.tokenizer
    texts = {n: prompt_of(tokenizer, n) for n in LENGTHS}
    prompts = {
        n: render_chat(tokenizer, build_messages([{"role": "user", "content": t}]))
        for n, t in texts.items()
    }
    raw = RawLatency(model, tokenizer, bench)
    app = AppLatency(app_parts, raw_mlx.model_path, bench, texts)
    samples: dict[int, dict[str, list[Sample]]] = {n: {} for n in LENGTHS}
    for n in LENGTHS:  # warm-up, untimed: shapes of each length
        raw.stream(prompts[n]), raw.batchgen(prompts[n]), app.measure(n)
    parts = {
        "raw": lambda n: raw.stream(prompts[n]),
        "batchgen": lambda n: raw.batchgen(prompts[n]),
        "app": lambda n: app.measure(n)[0],
    }
    for i in range(bench.latency_repeat):
        # Each round in another order: none of the parts always follows the worker's work.
        order = list(parts)[i % 3 :] + list(parts)[: i % 3]
        for n in LENGTHS:
            for key in order:
                samples[n].setdefault(key, []).append(parts[key](n))
    app_prompt_tokens = {n: app.measure(n)[1] for n in LENGTHS}
    return latency_summary(samples, {n: len(p) for n, p in prompts.items()}, app_prompt_tokens)


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def latency_summary(samples, prompt_tokens: dict[int, int], app_prompt_tokens) -> dict[str, Any]:
    ttft, decode, prefill, memory = {}, {}, {}, {}
    for n, parts in samples.items():
        ttft[n] = {k: _median([s.ttft_s for s in v]) for k, v in parts.items()}
        decode[n] = {k: _median([s.decode_tps for s in v]) for k, v in parts.items()}
        prefill[n] = {k: _median([s.prefill_tps for s in v]) for k, v in parts.items()}
        memory[n] = {k: _median([s.peak_memory_mb for s in v]) for k, v in parts.items()}

    def ratio(table, part):
        return {str(n): round(t[part] / t["raw"], 3) for n, t in table.items()}

    return {
        "app_ttft_vs_raw": ratio(ttft, "app"),
        "app_decode_vs_raw": ratio(decode, "app"),
        "app_prefill_vs_raw": ratio(prefill, "app"),
        "app_peak_memory_vs_raw": ratio(memory, "app"),
        "batchgen_ttft_vs_raw": ratio(ttft, "batchgen"),
        "batchgen_decode_vs_raw": ratio(decode, "batchgen"),
        "ttft_ms": {str(n): {k: round(v * 1000, 3) for k, v in t.items()} for n, t in ttft.items()},
        "decode_tps": {str(n): {k: round(v, 1) for k, v in t.items()} for n, t in decode.items()},
        "prefill_tps": {str(n): {k: round(v, 1) for k, v in t.items()} for n, t in prefill.items()},
        "peak_memory_mb": {
            str(n): {k: round(v, 4) for k, v in t.items()} for n, t in memory.items()
        },
        "latency_prompt_tokens": {str(n): prompt_tokens[n] for n in prompt_tokens},
        "app_prompt_tokens": {str(n): app_prompt_tokens[n] for n in app_prompt_tokens},
        "latency_rounds": {
            str(n): {k: [round(s.ttft_s * 1000, 3) for s in v] for k, v in parts.items()}
            for n, parts in samples.items()
        },
    }
