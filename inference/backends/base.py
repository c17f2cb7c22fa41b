"""What every backend is: it pulls requests, generates, and hands back measured results.

A backend's `generate` asks `claim(n)` for up to n more requests whenever it has room (free
batch slots for MLX, free connections for APIs), calls `emit(result)` once per request, from
the calling thread, and stops claiming once `should_stop()` is true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from inference.measurement import Timing
from inference.prompts import truncate_at_stop


class BackendError(Exception):
    """A configuration problem that fails the whole run at start (missing model, bad key)."""


@dataclass
class GenerationRequest:
    key: int  # the Generation's primary key
    messages: list[dict]
    sample_index: int = 0


@dataclass
class GenerationResult:
    key: int
    output: str = ""
    finish_reason: str = ""
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    timing: Timing = field(default_factory=Timing)
    concurrency: int = 1
    # Local backends only (inference/measurement.py); None: not measured (hosted APIs).
    prefill_tps: float | None = None
    peak_memory_mb: float | None = None
    retries: int = 0
    error: str = ""
    cancelled: bool = False
    # Batch mode: the provider's batch this came from (its discount applies).
    batched: bool = False


def concurrency_of(params: dict) -> int | None:
    """The requests in flight a hosted run asks for. Runs (and their exports) made before
    `concurrency` had its own name kept it in `batch_size`."""
    return params.get("concurrency") or params.get("batch_size")


def stop_strings(params: dict) -> list[str]:
    """A run's stop strings, without empty ones."""
    return [s for s in params.get("stop") or [] if s]


def decoded_result(
    request: GenerationRequest,
    tokens: list[int],
    decode: Callable[[list[int]], str],
    params: dict,
    finish_reason: str,
    prompt_tokens: int,
    timing: Timing,
    concurrency: int,
) -> GenerationResult:
    """A local backend's result from its output tokens (without end-of-sequence): the text,
    cut at the first stop string (the finish reason is then "stop"), and its counts, with
    prefill tokens/s as mlx-lm's prompt_tps counts it: prompt tokens over the time to the first
    output token (which includes the first decode step)."""
    text, stopped = truncate_at_stop(decode(tokens), stop_strings(params))
    ttft = timing.ttft_s
    return GenerationResult(
        key=request.key,
        output=text,
        finish_reason="stop" if stopped else finish_reason,
        prompt_tokens=prompt_tokens,
        output_tokens=len(tokens),
        timing=timing,
        concurrency=concurrency,
        prefill_tps=prompt_tokens / ttft if ttft and prompt_tokens else None,
    )


Claim = Callable[[int], list[GenerationRequest]]
Emit = Callable[[GenerationResult], None]
ShouldStop = Callable[[], bool]


class Backend:
    name: ClassVar[str]
    queue: ClassVar[str]  # the Celery queue whose workers run this backend
    is_local: ClassVar[bool]
    generates: ClassVar[bool] = True  # False: outputs made elsewhere, never sent to a worker

    def __init__(self, params: dict) -> None:
        self.params = params
        # Set by the runner while it loads the backend: takes a short text ("Downloading
        # <model>: 1.2 of 4.3 GB") that the run page shows.
        self.on_status: Callable[[str], None] | None = None

    @classmethod
    def cache_key(cls, params: dict) -> tuple:
        """What identifies one loaded instance in a worker process (e.g. the model path)."""
        return (params["model"],)

    @classmethod
    def in_flight(cls, params: dict) -> int:
        """Generations worked on at once: a local backend's batch size."""
        return max(int(params.get("batch_size") or 1), 1)

    def check(self) -> None:
        """Raise BackendError if the run cannot start (model missing, key refused)."""

    def check_params(self, params: dict) -> None:
        """Raise BackendError if the model refuses one of this run's settings. `params` are the
        run's: an instance is shared by the runs of one model, made with the first one's."""

    def schema_via(self, params: dict) -> str:
        """How this backend honours a run's response schema (inference/structured.py): local
        models have no constrained decoding, so the schema goes into the prompt."""
        return "prompt"

    def version(self) -> str:
        raise NotImplementedError

    def generate(self, params: dict, claim: Claim, emit: Emit, should_stop: ShouldStop) -> None:
        raise NotImplementedError
