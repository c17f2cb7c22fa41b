"""Local generation with Hugging Face transformers on PyTorch's CPU build: the baseline row
(a bf16 7B model runs at 0.1-1 tokens/s on a CPU). One request at a time, no batching.

Optional: torch is not in requirements.txt; `pip install -r requirements-transformers.txt`
on the workers that run it. torch and transformers are imported inside the methods, so the web
process never imports them. The model is loaded once per worker process (get_backend keeps this
instance). It runs on the `mlx` queue: that is the queue of local hardware (a solo worker, one
process per machine, work in its main thread), so a transformers run and an MLX run never share
a machine's cores. The main thread claims, times and emits; only model.generate runs in a
helper thread, streaming tokens back.
"""

from __future__ import annotations

import threading
import time
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
from inference.measurement import Timing
from inference.prompts import render_chat
from inference.structured import response_schema, with_schema_instructions

DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_DTYPE = "float32"  # bfloat16 is what big checkpoints ship in; float32 is exact on a CPU
INSTALL_HINT = "pip install -r requirements-transformers.txt"


class TransformersBackend(Backend):
    name = "transformers"
    queue: ClassVar[str] = "mlx"
    is_local = True

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        self._model = None
        self._tokenizer = None

    @classmethod
    def cache_key(cls, params: dict) -> tuple:
        return (params["model"], params.get("dtype") or DEFAULT_DTYPE)

    def check(self) -> None:
        self._load()

    def _load(self):
        if self._model is None:
            path = self.params["model"]
            dtype = self.params.get("dtype") or DEFAULT_DTYPE
            if dtype not in DTYPES:
                raise BackendError(f"Unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}.")
            if path.startswith(("/", ".")) and not (Path(path) / "config.json").exists():
                raise BackendError(
                    f"No transformers model at {path}: a folder with config.json, weights and "
                    "a tokenizer (the demo model from `python manage.py build_demo_model` works), "
                    "or a hub id such as Qwen/Qwen2.5-Coder-7B-Instruct."
                )
            try:
                import torch  # lazy: PyTorch is optional and slow to import
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise BackendError(
                    f"The transformers backend needs PyTorch on this worker ({exc}): {INSTALL_HINT}"
                ) from exc

            try:
                tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
            except Exception as exc:  # transformers raises several types for a bad path or repo
                raise BackendError(f"Could not load transformers model {path}: {exc}") from exc
            model.generation_config = _token_ids_only(model.generation_config, tokenizer)
            self._model, self._tokenizer = model.eval(), tokenizer
        return self._model, self._tokenizer

    def version(self) -> str:
        import torch  # lazy: PyTorch is optional and slow to import
        import transformers

        torch_version = torch.__version__.split("+")[0]  # "2.13.0+cpu"
        dtype = self.params.get("dtype") or DEFAULT_DTYPE
        return f"transformers {transformers.__version__}, torch {torch_version} (cpu, {dtype})"

    def generate(self, params: dict, claim: Claim, emit: Emit, should_stop: ShouldStop) -> None:
        """Generate one request at a time until claim() gives no more.

        1. Seed torch's generator once (params["seed"]), as the MLX backend seeds once per task.
        2. Claim one request, render it through the chat template, generate it streaming
           (_generate_one); emit its result.
        3. Call should_stop() at every token (it also renews the lease: one request of a big
           model can take longer than a lease); if the run was cancelled, stop the request in
           flight, emit it as cancelled, and claim no more.
        """
        import torch  # lazy: PyTorch is optional and slow to import

        self._load()
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        while not should_stop():
            requests = claim(1)
            if not requests:
                return
            [request] = requests
            result = self._generate_one(params, request, should_stop)
            emit(result)
            if result.cancelled:
                return

    def _generate_one(
        self, params: dict, request: GenerationRequest, should_stop: ShouldStop
    ) -> GenerationResult:
        """model.generate in a background thread, streaming into this one, where each token is
        timed and should_stop() is asked."""
        import torch  # lazy: PyTorch is optional and slow to import
        from transformers import StoppingCriteria, TextIteratorStreamer

        model, tokenizer = self._model, self._tokenizer
        messages = with_schema_instructions(request.messages, response_schema(params))
        prompt = render_chat(tokenizer, messages)
        cancel = threading.Event()

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool)

        # TextIteratorStreamer queues one text (often "") per new token, end-of-sequence
        # included, then, at the end, the rest of the text: item i arrives with token i. Each
        # item's time is kept; _result times the output tokens only.
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True)
        kwargs = self._generate_kwargs(params, tokenizer)
        timing = Timing()
        stamps: list[float] = []
        done: dict = {}

        def run() -> None:
            try:
                done["ids"] = model.generate(
                    torch.tensor([prompt]),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                    streamer=streamer,
                    stopping_criteria=[Cancelled()],
                    **kwargs,
                )
            except BaseException as exc:  # re-raised in the calling thread
                done["error"] = exc
                streamer.end()  # wake the loop below

        thread = threading.Thread(target=run, name=f"generate-{request.key}", daemon=True)
        timing.start()
        thread.start()
        cancelled = False
        try:
            for _ in streamer:
                stamps.append(time.perf_counter())
                if not cancelled and should_stop():
                    cancelled = True
                    cancel.set()
        finally:
            cancel.set()  # also when this loop fails: the thread must end
            thread.join()
        if "error" in done:
            raise done["error"]
        if cancelled:
            return GenerationResult(key=request.key, cancelled=True)
        ids = done["ids"][0, len(prompt) :].tolist()
        return self._result(params, request, prompt, ids, timing, stamps)

    def _generate_kwargs(self, params: dict, tokenizer) -> dict:
        """Sampling as the MLX backend does it: temperature 0 or empty is greedy; top_p empty or
        0 means none."""
        temperature = params.get("temperature") or 0.0
        kwargs = dict(
            max_new_tokens=int(params["max_tokens"]),
            do_sample=temperature > 0,
            temperature=temperature or None,
            top_p=(params.get("top_p") or 1.0) if temperature > 0 else None,
            top_k=0 if temperature > 0 else None,  # 0: none; transformers would apply 50
        )
        if stops := stop_strings(params):
            kwargs.update(stop_strings=stops, tokenizer=tokenizer)
        return kwargs

    def _result(
        self,
        params: dict,
        request: GenerationRequest,
        prompt: list[int],
        ids: list[int],
        timing: Timing,
        stamps: list[float],
    ) -> GenerationResult:
        """Output tokens are counted from the generated ids, without the end-of-sequence token,
        and timed by the streamer's items that brought them (stamps), the request's end by
        its last item."""
        eos = self._model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        ended = bool(ids) and ids[-1] in eos
        tokens = ids[:-1] if ended else ids
        for stamp in stamps[: len(tokens)]:
            timing.token(stamp)
        if stamps:
            timing.end(stamps[-1])
        finish = "stop" if ended else "length"
        decode = self._tokenizer.decode
        return decoded_result(request, tokens, decode, params, finish, len(prompt), timing, 1)


def _token_ids_only(config, tokenizer):
    """The checkpoint's generation config without its sampling defaults (Qwen's top_k 20,
    repetition_penalty 1.05): a run samples only as its params say, as with the MLX backend."""
    from transformers import GenerationConfig  # lazy: PyTorch is optional and slow to import

    eos = config.eos_token_id
    first_eos = eos[0] if isinstance(eos, list) else eos
    pad = next((t for t in (config.pad_token_id, tokenizer.pad_token_id) if t is not None), None)
    return GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=eos,
        pad_token_id=first_eos if pad is None else pad,
    )
