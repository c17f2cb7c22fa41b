"""OpenAI-compatible chat completions through the official `openai` SDK: OpenAI itself, vLLM,
llama.cpp's server, Ollama, mlx_lm.server. Streamed, with usage reported in the stream.

What each server takes (request_options):
- The token limit goes as `max_completion_tokens` to OpenAI's own API (where `max_tokens` is
  deprecated) and to any server for a reasoning model's name (a proxy passes it on), and as
  `max_tokens` to the others: vLLM, llama.cpp, Ollama and mlx_lm.server all read it, not all
  of them read the newer name.
- OpenAI's reasoning models (the o-series: o1, o3, o4-mini...; the gpt-5 family) answer 400
  to `max_tokens`, `stop`, `top_p` and any `temperature` but 1. They get no sampling
  parameter: a run whose configuration sets temperature or top_p to anything but 1 fails at
  start with a message saying so (check_params), rather than run with a setting its records
  would claim; stop sequences are applied here, to the text received (the tokens generated
  past one are still counted and paid for).
- A run with a response schema sends `response_format` (json_schema, strict): OpenAI requires
  then that every object says `additionalProperties: false` and lists all its properties in
  `required`, and answers 400 "Invalid schema for response_format ..." otherwise (the item
  fails with that message). A server that refuses `response_format` itself (400 or 422 naming
  it) gets the schema as instructions in the prompt instead, from then on, and the run's params
  record why (`response_schema_via`, see schema_via).
  A server that ignores it without a word (mlx_lm.server 0.32 reads no `response_format`)
  cannot be told apart: its free text is left to the reader's strict parser.
"""

from __future__ import annotations

import re
from functools import cached_property
from urllib.parse import urlsplit

import httpx2

from inference.backends.base import (
    BackendError,
    GenerationRequest,
    GenerationResult,
    stop_strings,
)
from inference.backends.egress import DEFAULT_URLS
from inference.backends.hosted import HostedBackend, sampling
from inference.backends.retry import Failure, parse_retry_after, status_retryable
from inference.env import envsecret
from inference.measurement import Timing
from inference.prompts import truncate_at_stop
from inference.structured import SCHEMA_NAME, response_schema, with_schema_instructions

OPENAI_URL = DEFAULT_URLS["openai"]
OPENAI_HOST = urlsplit(OPENAI_URL).hostname
# OpenAI's reasoning models, by name (a router's "openai/" prefix allowed): o1, o3-mini,
# o4-mini-2025-04-16, gpt-5, gpt-5-mini, gpt-5.1...
REASONING_MODEL = re.compile(r"(?:.*/)?(?:o[1-9]\d*|gpt-5)(?:[-.].*)?")


def is_reasoning_model(model: str) -> bool:
    return REASONING_MODEL.fullmatch(model) is not None


def request_options(params: dict, base_url: str) -> dict:
    """The token limit and sampling arguments of a request, as the server takes them (see the
    module docstring)."""
    reasoning = is_reasoning_model(params["model"])
    official = urlsplit(base_url).hostname == OPENAI_HOST
    limit = "max_completion_tokens" if reasoning or official else "max_tokens"
    if reasoning:
        return {limit: int(params["max_tokens"]), **sampling(params, seed="seed")}
    sampled = sampling(params, temperature="temperature", top_p="top_p", stop="stop", seed="seed")
    return {limit: int(params["max_tokens"]), **sampled}


def _sdk():
    """The openai SDK, imported on first use."""
    import openai  # lazy: the SDK takes ~0.4 s to import; only api-queue workers use it

    return openai


class OpenAICompatBackend(HostedBackend):
    name = "openai"
    default_key_env = "OPENAI_API_KEY"

    # Why the server refused response_format, once it has: the schema then goes in the prompt.
    response_format_refused: str = ""

    @property
    def base_url(self) -> str:
        return self.params.get("base_url") or OPENAI_URL

    def schema_via(self, params: dict) -> str:
        if self.response_format_refused:
            return f"prompt (the server refused response_format: {self.response_format_refused})"
        return "json_schema"

    def api_key(self) -> str:
        # Local servers (vLLM, llama.cpp, mlx_lm.server) take any key; OpenAI needs a real one.
        if self.key_env and self.base_url != OPENAI_URL and not envsecret(self.key_env):
            return "not-needed"
        return super().api_key()

    @cached_property
    def client(self):
        openai = _sdk()
        return openai.OpenAI(
            api_key=self.api_key(),
            base_url=self.base_url,
            max_retries=0,
            timeout=self.timeout_s(),
        )

    def version(self) -> str:
        openai = _sdk()
        return f"openai {openai.__version__} → {self.base_url}"

    def check(self) -> None:
        openai = _sdk()
        client = self.client  # a key the operator does not allow fails here, nothing sent
        try:
            client.models.list()
        except openai.AuthenticationError as exc:
            raise BackendError(
                f"{self.base_url} refused the key in {self.key_label}: {_message(exc)}"
            ) from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"Cannot reach {self.base_url}: {exc}") from None
        except Exception:  # noqa: BLE001
            pass  # a server without a usable /models (mlx_lm.server): the requests will tell

    def check_params(self, params: dict) -> None:
        if not is_reasoning_model(params["model"]):
            return
        refused = [
            f"{name} {params[name]:g}"
            for name in ("temperature", "top_p")
            if params.get(name) is not None and params[name] != 1
        ]
        if refused:
            raise BackendError(
                f"{params['model']} takes no {' and no '.join(refused)}: OpenAI's reasoning "
                "models (o-series, gpt-5) accept only the default (1). Leave temperature and "
                "top_p empty in the model configuration."
            )

    def classify(self, exc: BaseException) -> Failure | None:
        openai = _sdk()
        if isinstance(exc, openai.APIStatusError):
            return Failure(
                f"{exc.status_code}: {_message(exc)}",
                status_retryable(exc.status_code),
                parse_retry_after(exc.response.headers),
            )
        if isinstance(exc, openai.APIConnectionError | httpx2.HTTPError | IncompleteStream):
            return Failure(f"connection failed: {exc}", retryable=True)
        if isinstance(exc, openai.APIError):  # an error event in the middle of a stream
            return Failure(f"error in the stream: {exc.message}", retryable=True)
        return None

    def complete(self, params: dict, request: GenerationRequest) -> GenerationResult:
        schema = response_schema(params)
        if schema and not self.response_format_refused:
            openai = _sdk()
            try:
                return self._stream(params, request, request.messages, response_format(schema))
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                if not refuses_response_format(exc):
                    raise
                self.response_format_refused = f"{exc.status_code}: {_message(exc)}"
        messages = with_schema_instructions(request.messages, schema)
        return self._stream(params, request, messages, {})

    def _stream(
        self, params: dict, request: GenerationRequest, messages: list[dict], extra: dict
    ) -> GenerationResult:
        timing = Timing()
        timing.start()
        stream = self.client.chat.completions.create(
            model=params["model"],
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **request_options(params, self.base_url),
            **extra,
        )
        parts: list[str] = []
        finish, usage = "", None
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.delta and choice.delta.content:
                    timing.token()
                    parts.append(choice.delta.content)
                finish = choice.finish_reason or finish
        if not finish:
            raise IncompleteStream("the stream ended before a finish reason")
        text = "".join(parts)
        if is_reasoning_model(params["model"]):  # it was sent no stop sequences
            text, stopped = truncate_at_stop(text, stop_strings(params))
            finish = "stop" if stopped else finish
        return _result(request.key, text, finish, usage, timing)


def response_format(schema: dict) -> dict:
    """The request's `response_format` for a response schema: strict, so the server
    constrains decoding to it."""
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True},
        }
    }


def refuses_response_format(exc) -> bool:
    """A server that does not take `response_format` (400 or 422 naming it), as opposed to
    one that finds the schema itself invalid ("Invalid schema for response_format ...")."""
    message = _message(exc).lower()
    named = "response_format" in message or "json_schema" in message
    return exc.status_code in (400, 422) and named and "invalid schema" not in message


class IncompleteStream(Exception):
    pass


def _message(exc) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return (error.get("message") if isinstance(error, dict) else None) or exc.message


def _result(key: int, text: str, finish: str, usage, timing: Timing) -> GenerationResult:
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return GenerationResult(
        key=key,
        output=text,
        finish_reason=finish,
        prompt_tokens=usage.prompt_tokens if usage else None,
        output_tokens=usage.completion_tokens if usage else None,
        cache_read_tokens=(details.cached_tokens or 0) if details else None,
        timing=timing,
    )
