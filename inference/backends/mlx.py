"""Local generation with mlx-lm, batched with BatchGenerator (continuous batching).

The model is loaded once per worker process (get_backend keeps this instance) and runs in the
worker's main thread: the `mlx` queue's worker uses `--pool solo`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from inference.backends.base import (
    Backend,
    BackendError,
    Claim,
    Emit,
    GenerationRequest,
    GenerationResult,
    ShouldStop,
    decoded_result,
    stop_strings,
)
from inference.backends.hub import folder_facts, resolve
from inference.measurement import Timing, memory_mb
from inference.prompts import render_chat
from inference.structured import response_schema, with_schema_instructions

# Seconds before a run whose last claim came back short is asked for more work again (work
# comes back when a dead worker's leases expire, or when someone retries failed items).
RECLAIM_S = 1.0
# The KV cache BatchGenerator keeps (mlx-lm 0.32): one full-length KVCache per sequence
# (max_kv_size None; a number would make it a RotatingKVCache of that many tokens), prompts
# processed prefill_step_size tokens at a time, not quantized.
KV_CACHE = {"kv_cache": "KVCache", "max_kv_size": None, "prefill_step_size": 2048, "kv_bits": None}


@dataclass
class _Sequence:
    request: GenerationRequest
    prompt_tokens: int
    concurrency: int
    timing: Timing
    tokens: list[int] = field(default_factory=list)


class MLXBackend(Backend):
    name = "mlx"
    queue: ClassVar[str] = "mlx"
    is_local = True

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        self._model = None
        self._tokenizer = None
        self.facts: dict = {}  # what the heartbeat tells of the loaded model (_load)

    def check(self) -> None:
        self._load()

    def _load(self):
        if self._model is None:
            name = self.params["model"]
            if name.startswith(("/", ".")) and not (Path(name) / "config.json").exists():
                raise BackendError(
                    f"No MLX model at {name}. Build the demo model with "
                    "`python manage.py build_demo_model`, or set MLX_MODEL to a model path or "
                    "hub id such as mlx-community/Qwen2.5-Coder-7B-Instruct-4bit."
                )
            started = time.perf_counter()
            # a repository: through the Hugging Face cache
            path, downloaded = resolve(name, self.on_status)
            resolved = time.perf_counter()
            if self.on_status:  # a 7B takes seconds to load: the run page says so
                self.on_status(f"Loading {name}")
            # lazy: workers must not import mlx before forking; the web never does
            from mlx_lm import load

            try:
                self._model, self._tokenizer = load(str(path))
            except Exception as exc:  # mlx_lm raises several types for a bad path or repo
                raise BackendError(f"Could not load MLX model {name}: {exc}") from exc
            self.facts = {
                "model": name,
                "path": str(path),
                # The first load in this worker process: "cold" when the files were just
                # downloaded (download_s), else read from disk (perhaps the OS's page cache).
                "load_s": round(time.perf_counter() - resolved, 4),
                "download_s": round(resolved - started, 4) if downloaded else None,
                "cold": downloaded,
                **folder_facts(path),
                **KV_CACHE,
                "loaded_at": time.time(),
                "last_used": None,
            }
        return self._model, self._tokenizer

    def version(self) -> str:
        # lazy: workers must not import mlx before forking; the web never does
        import mlx.core as mx
        import mlx_lm

        return f"mlx-lm {mlx_lm.__version__}, mlx {mx.__version__} ({mx.default_device()})"

    def generate(self, params: dict, claim: Claim, emit: Emit, should_stop: ShouldStop) -> None:
        """Generate with continuous batching: up to params["batch_size"] sequences at a time;
        as sequences finish, new requests are claimed into the freed slots.

        1. Claim requests for the free slots, render them through the chat template, insert.
           A claim is a database transaction: once one comes back short (the run has nothing
           more to give for now), ask again only after RECLAIM_S or when nothing is in flight,
           not between every two decode steps.
        2. Step the batch; time each sequence's output tokens (not its end-of-sequence).
        3. Emit each finished sequence; on should_stop(), drop what is in flight as cancelled.
        """
        # lazy: workers must not import mlx before forking; the web never does
        import mlx.core as mx
        from mlx_lm.generate import BatchGenerator
        from mlx_lm.sample_utils import make_sampler

        model, tokenizer = self._load()
        batch_size = self.in_flight(params)
        if params.get("seed") is not None:
            mx.random.seed(int(params["seed"]))
        # Each generation records the worker's peak memory over its batch (this call).
        mx.reset_peak_memory()
        self.facts["last_used"] = time.time()
        gen = BatchGenerator(
            model,
            max_tokens=int(params["max_tokens"]),
            max_kv_size=KV_CACHE["max_kv_size"],
            prefill_step_size=KV_CACHE["prefill_step_size"],
            stop_tokens=[[t] for t in tokenizer.eos_token_ids],
            completion_batch_size=batch_size,
            prefill_batch_size=batch_size,
            # One sampler for the whole batch: mlx-lm samples all rows in one call only when
            # they share it (per-request samplers cost ~11% once sequences finish unevenly).
            sampler=make_sampler(
                temp=params.get("temperature") or 0.0, top_p=params.get("top_p") or 0.0
            ),
        )
        active: dict[int, _Sequence] = {}
        short_at = None  # when a claim last came back short
        try:
            while True:
                if should_stop():
                    for seq in active.values():
                        emit(GenerationResult(key=seq.request.key, cancelled=True))
                    return
                free = batch_size - len(active)
                if free > 0 and (
                    not active or short_at is None or time.monotonic() - short_at >= RECLAIM_S
                ):
                    requests = claim(free)
                    short_at = time.monotonic() if len(requests) < free else None
                    self._insert(gen, tokenizer, params, requests, active)
                if not active:
                    return
                self._step(gen, tokenizer, params, active, emit)
        finally:
            gen.close()

    def _insert(self, gen, tokenizer, params, requests, active) -> None:
        if not requests:
            return
        schema = response_schema(params)
        prompts = [
            render_chat(tokenizer, with_schema_instructions(r.messages, schema)) for r in requests
        ]
        uids = gen.insert(prompts, max_tokens=[int(params["max_tokens"])] * len(prompts))
        in_flight = len(active) + len(requests)
        for uid, request, prompt in zip(uids, requests, prompts, strict=True):
            timing = Timing()
            timing.start()
            active[uid] = _Sequence(request, len(prompt), in_flight, timing)

    def _step(self, gen, tokenizer, params, active, emit: Emit) -> None:
        for response in gen.next_generated():
            seq = active[response.uid]
            if response.finish_reason == "stop":
                seq.timing.end()  # the end-of-sequence token: neither counted nor timed
            else:
                seq.timing.token()
                seq.tokens.append(response.token)
            finish = response.finish_reason
            if finish is None and self._hit_stop(tokenizer, params, seq):
                gen.remove([response.uid])
                finish = "stop"
            if finish is not None:
                del active[response.uid]
                emit(self._result(tokenizer, params, seq, finish))

    @staticmethod
    def _hit_stop(tokenizer, params, seq: _Sequence) -> bool:
        """A stop string in the newest tokens (stop strings need not align with tokens)."""
        stops = stop_strings(params)
        if not stops:
            return False
        tail = tokenizer.decode(seq.tokens[-16:])
        return any(s in tail for s in stops)

    def _result(self, tokenizer, params, seq: _Sequence, finish_reason: str) -> GenerationResult:
        result = decoded_result(
            seq.request,
            seq.tokens,
            tokenizer.decode,
            params,
            finish_reason,
            seq.prompt_tokens,
            seq.timing,
            seq.concurrency,
        )
        result.peak_memory_mb = memory_mb()  # since this batch began (generate)
        return result
