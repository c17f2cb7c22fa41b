"""What each measurement means. Every backend fills a Timing the same way.

- submitted: the request enters the backend (MLX: inserted into the batch; APIs: sent).
- time to first token (ttft_s): from submitted to the first output token reaching us (none
  for an empty output).
- latency (latency_s): from submitted to the end of the request (its last output token, or
  the end-of-sequence step after it), i.e. the whole request as a caller waits for it, prompt
  processing and queueing inside the batch included.
- decode tokens/s (decode_tps): output tokens after the first, divided by the time from the
  first output token to the last one: the streaming speed a reader sees. The end-of-sequence
  step is neither counted nor timed. Undefined below 2 tokens.
- output tokens: tokens the model produced, not counting the end-of-sequence token.
- concurrency: sequences (MLX batch) or requests (APIs) in flight beside this one. Per-sequence
  decode tokens/s inside a batch falls roughly as 1/batch, so compare like with like.
- run throughput (inference/figures.py, run_tokens_per_s): all output tokens of a run over the span
  from its first generation's start to its last one's finish: what batching buys.

- prefill tokens/s (prefill_tps, local backends): prompt tokens over the time to first token,
  as mlx-lm's `prompt_tps` (which also includes the first decode step). Hosted APIs report no
  prefill split: left empty.
- peak memory (peak_memory_mb, MLX): `mx.get_peak_memory()` of the worker process, reset at the
  start of each batch (MLXBackend.generate), read as each generation ends; MB = 10^6 bytes
  (mlx-lm prints GB = 10^9 bytes).

All times come from time.perf_counter() in the worker, never from the backend's own counters.
"""

from __future__ import annotations

import contextlib
import platform
import subprocess
import time
from dataclasses import dataclass
from functools import cache


@dataclass
class Timing:
    submitted: float | None = None
    first_token: float | None = None
    finished: float | None = None
    last_token: float | None = None

    def start(self) -> None:
        self.submitted = time.perf_counter()

    def token(self, now: float | None = None) -> None:
        """An output token (one that output_tokens counts) reached us, now or at `now`."""
        now = time.perf_counter() if now is None else now
        if self.first_token is None:
            self.first_token = now
        self.last_token = self.finished = now

    def end(self, now: float | None = None) -> None:
        """The request ended after its last output token (e.g. its end-of-sequence step)."""
        self.finished = time.perf_counter() if now is None else now

    @property
    def ttft_s(self) -> float | None:
        if self.submitted is None or self.first_token is None:
            return None
        return self.first_token - self.submitted

    @property
    def latency_s(self) -> float | None:
        if self.submitted is None or self.finished is None:
            return None
        return self.finished - self.submitted


def decode_tps(output_tokens: int | None, timing: Timing) -> float | None:
    if not output_tokens or output_tokens < 2 or timing.last_token is None:
        return None
    decode_s = timing.last_token - timing.first_token
    return (output_tokens - 1) / decode_s if decode_s > 0 else None


def memory_mb() -> float | None:
    """MLX's peak memory since its last reset, MB (10^6 bytes); None where MLX is not loaded."""
    import sys

    mx = sys.modules.get("mlx.core")  # never imports MLX: only a worker that loaded it asks
    return mx.get_peak_memory() / 1e6 if mx is not None else None


@cache
def machine() -> str:
    """The host and its chip, e.g. 'studio-3 (Apple M2 Max)' or 'ci-1 (x86_64 Linux)'."""
    chip = f"{platform.machine()} {platform.system()}"
    if platform.system() == "Darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            brand = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=2,
            ).stdout.strip()
            chip = brand or chip
    return f"{platform.node()} ({chip})"
