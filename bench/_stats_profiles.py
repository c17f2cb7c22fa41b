"""bench/stats.py's synthetic world: the models measured (profiles), their prices and
machines, and the bench's sizes. No Django: the entry module reads it before setting up."""

from __future__ import annotations

import json
from dataclasses import dataclass

PREFIX = "bench-stats"
DATA_VERSION = 2  # bump when the generated data changes: stored data is then rebuilt
GOALS = {"stats_page_s": 0.5, "stats_api_s": 0.5, "page_after_write_s": 0.5}
ITEMS = 2000  # prompts in the dataset: one run covers them all
FAILED_SHARE = 0.005  # FAILED generations beside the DONE ones
LABEL_SHARE = 0.01  # DONE generations rated in the label project
COMPARE_SHARE = 0.005  # comparisons, as a share of the DONE generations
ANNOTATORS = 5
CHARS_PER_TOKEN = 4
MAX_TOKENS = 1024
DAYS = 90
PROJECTION = "queries=10000&input_tokens=500&output_tokens=300&per_day=on"
URLS = {
    "stats_page": "/stats/",
    "stats_projection": f"/stats/?{PROJECTION}",
    "stats_csv": "/stats.csv",
    "stats_api": "/api/stats",
}
AFTER_WRITE_ROUNDS = 3
EXPLAIN_OVER_S = 0.05  # statements of the page slower than this are explained


@dataclass(frozen=True)
class Profile:
    """A model as measured: medians of its lognormal distributions."""

    name: str
    backend: str
    model: str
    machines: tuple[str, ...]  # the runs alternate between them
    ttft_s: float
    decode_tps: float
    output_tokens: float
    quality: float  # mean rating 1-5
    hourly_usd: str = "0"
    concurrency: tuple[int, ...] = (8,)  # per run, in turn
    versions: tuple[str, ...] = ()  # older runs first


STUDIO_1, STUDIO_2 = "studio-1 (Apple M2 Ultra)", "studio-2 (Apple M4 Max)"
WORKER = "worker-1 (x86_64 Linux)"
MLX = ("mlx-lm 0.26.3, mlx 0.28.0", "mlx-lm 0.28.2, mlx 0.29.1")
ANTHROPIC = ("anthropic 0.64.0", "anthropic 0.69.0")
OPENAI = ("openai 1.99.9 → https://api.openai.com/v1", "openai 2.3.0 → https://api.openai.com/v1")
# fmt: off
PROFILES = (
    # name, backend, model, machines, ttft_s, decode_tps, output_tokens, quality, hourly_usd,
    # concurrency, versions
    Profile("qwen3-8b", "mlx", "mlx-community/Qwen3-8B-4bit", (STUDIO_1, STUDIO_2),
            0.22, 38, 260, 3.4, "1.20", (8, 8, 4), MLX),
    Profile("llama-3.2-3b", "mlx", "mlx-community/Llama-3.2-3B-Instruct-4bit", (STUDIO_1,),
            0.12, 85, 220, 2.9, "1.20", (8, 16), MLX),
    Profile("gemma-3-12b", "mlx", "mlx-community/gemma-3-12b-it-4bit", (STUDIO_2,),
            0.35, 26, 300, 3.6, "0.80", (8,), MLX),
    Profile("mistral-small-24b", "mlx", "mlx-community/Mistral-Small-24B-Instruct-2501-4bit",
            (STUDIO_1,), 0.6, 14, 280, 3.7, "1.20", (4,), MLX),
    Profile("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", (WORKER,),
            0.9, 70, 340, 4.4, "0", (16, 32), ANTHROPIC),
    Profile("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", (WORKER,),
            0.5, 140, 300, 4.0, "0", (16, 32), ANTHROPIC),
    Profile("claude-opus-4-1", "anthropic", "claude-opus-4-1", (WORKER,),
            1.6, 40, 380, 4.6, "0", (8,), ANTHROPIC),
    Profile("gpt-4.1-mini", "openai", "gpt-4.1-mini", (WORKER,),
            0.45, 90, 250, 3.9, "0", (16,), OPENAI),
    Profile("gpt-4.1", "openai", "gpt-4.1", (WORKER,),
            0.7, 60, 320, 4.3, "0", (16, 8), OPENAI),
    Profile("gpt-4o-mini", "openai", "gpt-4o-mini", (WORKER,),
            0.4, 80, 240, 3.6, "0", (32,), OPENAI),
)
# fmt: on


@dataclass(frozen=True)
class Bench:
    generations: int
    models: int
    repeat: int
    seed: int
    rebuild: bool

    @property
    def failed(self) -> int:
        return round(self.generations * FAILED_SHARE)

    @property
    def marker(self) -> str:
        return json.dumps(
            {
                "bench": "stats",
                "version": DATA_VERSION,
                "generations": self.generations,
                "models": self.models,
                "seed": self.seed,
            },
            sort_keys=True,
        )
