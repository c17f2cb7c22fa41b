"""Anthropic's Messages API through the official SDK: streamed requests on the `api` queue, or
Message Batches (half price) for big runs.

A run with a response schema (inference/structured.py) offers one tool, "answer", whose
`input_schema` is the schema, and forces it with `tool_choice`; the output is the tool's input
as JSON text (streamed as input_json_delta, which times the first token), in both modes."""

from __future__ import annotations

import json
from functools import cached_property

import httpx2

from inference.backends.base import BackendError, GenerationRequest, GenerationResult
from inference.backends.egress import DEFAULT_URLS
from inference.backends.hosted import HostedBackend, sampling, split_system
from inference.backends.retry import Failure, parse_retry_after, status_retryable
from inference.measurement import Timing
from inference.structured import SCHEMA_NAME, response_schema

RETRYABLE_TYPES = {"overloaded_error", "rate_limit_error", "api_error", "timeout_error"}
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "stop"}


def _sdk():
    """The anthropic SDK, imported on first use."""
    import anthropic  # lazy: the SDK takes ~1 s to import; only api-queue workers use it

    return anthropic


class AnthropicBatches:
    """Message Batches for AnthropicBackend: submit, poll, read results, cancel."""

    def submit_batch(self, params: dict, requests: list[GenerationRequest]) -> str:
        batch = self.client.messages.batches.create(
            requests=[
                {"custom_id": str(r.key), "params": self.request_params(params, r.messages)}
                for r in requests
            ]
        )
        return batch.id

    def batch_status(self, batch_id: str) -> str:
        return self.client.messages.batches.retrieve(batch_id).processing_status

    def cancel_batch(self, batch_id: str) -> None:
        self.client.messages.batches.cancel(batch_id)

    def batch_results(self, batch_id: str, waited_s: float):
        """Results in any order, matched by custom_id. Latency is the batch's wall time: there
        is no first token to time."""
        for entry in self.client.messages.batches.results(batch_id):
            key = int(entry.custom_id)
            result = entry.result
            if result.type == "succeeded":
                out = message_result(key, result.message, Timing(0.0, None, waited_s))
            elif result.type == "errored":
                error = result.error.error
                out = GenerationResult(key=key, error=f"{error.type}: {error.message}")
            else:  # expired or canceled
                out = GenerationResult(key=key, error=f"The batch request was {result.type}.")
            out.batched = True
            yield out


class AnthropicBackend(AnthropicBatches, HostedBackend):
    name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"

    @cached_property
    def client(self):
        anthropic = _sdk()
        return anthropic.Anthropic(
            api_key=self.api_key(),
            base_url=self.params.get("base_url") or DEFAULT_URLS["anthropic"],
            max_retries=0,  # retries are ours (inference.backends.retry), mid-stream included
            timeout=self.timeout_s(),
        )

    def schema_via(self, params: dict) -> str:
        return "tool"

    def version(self) -> str:
        anthropic = _sdk()
        return f"anthropic {anthropic.__version__}"

    def check(self) -> None:
        """Fail the run before any item is used if the key is missing or refused."""
        anthropic = _sdk()
        client = self.client
        try:
            client.models.list(limit=1)
        except anthropic.AuthenticationError as exc:
            raise BackendError(
                f"Anthropic refused the key in {self.key_label}: {exc.api_message or exc.message}"
            ) from None
        except anthropic.PermissionDeniedError as exc:
            raise BackendError(
                f"The key in {self.key_label} may not use the API: {exc.api_message or exc.message}"
            ) from None
        except (anthropic.APIConnectionError, anthropic.APIStatusError):
            pass  # a blip or an endpoint this server lacks: the requests will tell

    def classify(self, exc: BaseException) -> Failure | None:
        anthropic = _sdk()
        if isinstance(exc, anthropic.APIStatusError):
            kind = exc.type or "error"
            retryable = status_retryable(exc.status_code) or kind in RETRYABLE_TYPES
            message = f"{exc.status_code} {kind}: {exc.api_message or exc.message}"
            return Failure(message, retryable, parse_retry_after(exc.response.headers))
        if isinstance(exc, anthropic.APIConnectionError | httpx2.HTTPError):
            return Failure(f"connection failed: {exc}", retryable=True)
        return None

    def request_params(self, params: dict, messages: list[dict]) -> dict:
        """The request's JSON body: what a batch request carries as its params."""
        system, turns = split_system(messages)
        return {
            "model": params["model"],
            "max_tokens": int(params["max_tokens"]),
            "messages": turns,
            **({"system": system} if system else {}),
            **sampling(params, temperature="temperature", top_p="top_p", stop="stop_sequences"),
            **answer_tool(response_schema(params)),
        }

    def complete(self, params: dict, request: GenerationRequest) -> GenerationResult:
        timing = Timing()
        timing.start()
        body = self.request_params(params, request.messages)
        # This SDK has no arguments for sampling any more (newer models refuse them); the API
        # still takes them for the models that do, so they go in the body as they are.
        sampling_body = {k: body.pop(k) for k in ("temperature", "top_p") if k in body}
        with self.client.messages.stream(**body, extra_body=sampling_body or None) as stream:
            for event in stream:
                if event.type == "content_block_delta" and _delta_text(event.delta):
                    timing.token()
            message = stream.get_final_message()
        return message_result(request.key, message, timing)


def answer_tool(schema: dict | None) -> dict:
    """The request's tools for a response schema: one tool, forced."""
    if not schema:
        return {}
    tool = {
        "name": SCHEMA_NAME,
        "description": "Give your answer. Its fields are the whole answer.",
        "input_schema": schema,
    }
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": SCHEMA_NAME}}


def _delta_text(delta) -> str:
    """The text a content block delta adds: words, or a piece of a tool's input JSON."""
    return getattr(delta, "text", None) or getattr(delta, "partial_json", None) or ""


def output_text(message) -> str:
    """A message's text; a tool call's input as JSON text (the answer to a response schema)."""
    parts = []
    for block in message.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "tool_use":
            parts.append(json.dumps(block.input, ensure_ascii=False))
    return "".join(parts)


def message_result(key: int, message, timing: Timing) -> GenerationResult:
    """A result from a final Message: its text and its usage, as the API reported them."""
    usage = message.usage
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    return GenerationResult(
        key=key,
        output=output_text(message),
        finish_reason=FINISH.get(message.stop_reason or "", message.stop_reason or ""),
        prompt_tokens=usage.input_tokens + cache_read + cache_write,
        output_tokens=usage.output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        timing=timing,
    )
