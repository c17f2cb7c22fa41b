"""OpenAI-compatible chat completions through the official `openai` SDK: OpenAI itself, vLLM,
llama.cpp's server, Ollama, mlx_lm.server. Streamed, with usage reported in the stream."""

from __future__ import annotations

from functools import cached_property

import httpx2

from inference.backends.base import BackendError, GenerationRequest, GenerationResult
from inference.backends.egress import DEFAULT_URLS
from inference.backends.hosted import HostedBackend, sampling
from inference.backends.retry import Failure, parse_retry_after, status_retryable
from inference.env import envsecret
from inference.measurement import Timing

OPENAI_URL = DEFAULT_URLS["openai"]


def _sdk():
    """The openai SDK, imported on first use."""
    import openai  # lazy: the SDK takes ~0.4 s to import; only api-queue workers use it

    return openai


class OpenAICompatBackend(HostedBackend):
    name = "openai"
    default_key_env = "OPENAI_API_KEY"

    @property
    def base_url(self) -> str:
        return self.params.get("base_url") or OPENAI_URL

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
        timing = Timing()
        timing.start()
        stream = self.client.chat.completions.create(
            model=params["model"],
            messages=request.messages,
            max_tokens=int(params["max_tokens"]),
            stream=True,
            stream_options={"include_usage": True},
            **sampling(params, temperature="temperature", top_p="top_p", stop="stop", seed="seed"),
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
        return _result(request.key, "".join(parts), finish, usage, timing)


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
