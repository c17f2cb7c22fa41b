"""A fake Anthropic API that the real `anthropic` SDK talks to unmodified (`base_url=server.url`).

What it speaks, on 127.0.0.1:
- `POST /v1/messages`, as JSON or, with `"stream": true`, as Server-Sent Events in the API's
  order: message_start (usage with output_tokens 1), content_block_start, ping,
  content_block_delta (text_delta, one word each), content_block_stop, message_delta
  (stop_reason end_turn | max_tokens | stop_sequence, stop_sequence, cumulative usage),
  message_stop. `max_tokens` and `stop_sequences` are honoured; `system`, `temperature`,
  `top_p`, `top_k` are checked (ranges 0..1) but change nothing. `tools` and `tool_choice` are
  checked as the API does (tests/support/fake_structured.py: a tool needs a name and an object
  `input_schema` that is a valid JSON schema; `tool_choice` {"type": "tool"} must name one of
  the tools); a forced tool is answered with a single `tool_use` block whose input fits its
  schema (streamed as `input_json_delta`, one word each; stop_reason tool_use), or, with
  `invalid_answers=True`, an input that does not (the error path).
- The Message Batches API: `POST /v1/messages/batches`, `GET /v1/messages/batches` (newest
  first, `limit`, `after_id`, `before_id`), `GET|DELETE /v1/messages/batches/{id}`,
  `POST .../{id}/cancel`, `GET .../{id}/results` (JSONL in a shuffled order). A batch ends
  `batch_delay` seconds after it was created; its requests' params are checked then, an invalid
  one giving an "errored" result, as the API does. A canceled batch ends at once, every request
  "canceled".
- The API's errors, `{"type": "error", "error": {"type", "message"}, "request_id"}` with a
  `request-id` header: 401 authentication_error (unless the `x-api-key` header, or the bearer
  token of `Authorization`, which is what the SDK (2.x) sends, equals `api_key`; a key in any
  other header, or without `Bearer`, is no key), 400 invalid_request_error (missing
  `anthropic-version`, missing `max_tokens`, a parameter the API does not know, bad params,
  with the API's message), 404
  not_found_error (unknown model or batch), and the faults' 429 rate_limit_error (with
  `retry-after`), 500 api_error, 529 overloaded_error, and an `error` event inside a stream.

What it fakes: the model, and usage. Answers and token counts come from `fake_text` (a token is
a word). `cache_read_tokens` and `cache_creation_tokens` are reported on top of
`input_tokens`, as if a prefix of that many tokens had been read from or written to the prompt
cache. Models in `no_sampling_models` reject `temperature`, `top_p` and `top_k` with a 400, as
some newer models do.

Bookkeeping: `ledger` (see `faults.Ledger`), `batches` (id -> Batch) and `batches_created`.

Standalone: `python -m tests.support.fake_anthropic --port 8081 --latency 0.3 --rate-429 0.1`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.fake_http import ApiError, Call, FakeServer, Route, bearer_token, main
from tests.support.fake_structured import (
    INVALID_ANSWER,
    answer_for,
    json_pieces,
    tool_schema_error,
)
from tests.support.fake_text import Completion, complete, count_words, last_user_text, text_of

DEFAULT_MODELS = (
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "claude-sonnet-4-6",
    "claude-sonnet-4",
    "claude-opus-4-5",
    "claude-opus-4-6",
    "claude-opus-4-1",
    "claude-3-5-haiku",
)
# The Messages API's request body (the SDK's `create` arguments; sampling goes in extra_body).
KNOWN_PARAMS = frozenset(
    """cache_control container diagnostics inference_geo max_tokens messages metadata model
    output_config output_format service_tier speed stop_sequences stream system temperature
    thinking tool_choice tools top_k top_p user_profile_id workspace_id""".split()  # noqa: SIM905
)
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
BATCH = r"/v1/messages/batches/(?P<id>[^/]+)"


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Batch:
    """A message batch: its JSONL result lines, in the order they will be served."""

    id: str
    results: list[dict[str, Any]]
    created_at: float  # time.time()
    ends_at: float
    cancel_initiated_at: float | None = None

    @property
    def custom_ids(self) -> list[str]:
        return [line["custom_id"] for line in self.results]

    def ended(self, now: float) -> bool:
        return now >= self.ends_at

    def status(self, now: float) -> str:
        if self.ended(now):
            return "ended"
        return "canceling" if self.cancel_initiated_at else "in_progress"

    def counts(self, now: float) -> dict[str, int]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if not self.ended(now):
            counts["processing"] = len(self.results)
            return counts
        for line in self.results:
            counts[line["result"]["type"]] += 1
        return counts

    def as_json(self, root_url: str) -> dict[str, Any]:
        now = time.time()
        ended = self.ended(now)
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status(now),
            "request_counts": self.counts(now),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.created_at + 24 * 3600),
            "ended_at": rfc3339(self.ends_at) if ended else None,
            "cancel_initiated_at": rfc3339(self.cancel_initiated_at),
            "archived_at": None,
            "results_url": f"{root_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }


class FakeAnthropic(FakeServer):
    """A fake Anthropic Messages and Message Batches API (see the module docstring).

    Arguments, besides FakeServer's (host, port, api_key, models, seed, filler_words, verbose
    and any `Faults` attribute): `batch_delay` (seconds until a batch ends),
    `cache_read_tokens`, `cache_creation_tokens`, `no_sampling_models`, `invalid_answers`. All
    are attributes that may be changed while the server runs.
    """

    request_id_header = "request-id"
    request_id_prefix = "req_"
    default_models = DEFAULT_MODELS
    overloaded_status = 529

    def __init__(
        self,
        *,
        batch_delay: float = 0.5,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
        no_sampling_models: Sequence[str] = (),
        invalid_answers: bool = False,
        **options: Any,
    ) -> None:
        self.invalid_answers = invalid_answers
        self.batch_delay = batch_delay
        self.cache_read_tokens = cache_read_tokens
        self.cache_creation_tokens = cache_creation_tokens
        self.no_sampling_models = set(no_sampling_models)
        self.batches: dict[str, Batch] = {}
        self._batches_lock = threading.Lock()
        self._batches_created = 0
        super().__init__(**options)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--batch-delay", type=float, default=0.5)
        parser.add_argument("--cache-read-tokens", type=int, default=0)
        parser.add_argument("--cache-creation-tokens", type=int, default=0)
        parser.add_argument("--invalid-answers", action="store_true")

    @property
    def batches_created(self) -> int:
        """How many batches were ever created (deleted ones included)."""
        return self._batches_created

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "batches_created": self.batches_created}

    def build_routes(self) -> list[Route]:
        return [
            ("POST", re.compile(r"/v1/messages"), self.create_message),
            ("POST", re.compile(r"/v1/messages/batches"), self.create_batch),
            ("GET", re.compile(r"/v1/messages/batches"), self.list_batches),
            ("GET", re.compile(BATCH), self.retrieve_batch),
            ("DELETE", re.compile(BATCH), self.delete_batch),
            ("POST", re.compile(BATCH + "/cancel"), self.cancel_batch),
            ("GET", re.compile(BATCH + "/results"), self.batch_results),
        ]

    def authenticate(self, call: Call) -> None:
        # The documented header is x-api-key; the SDK (2.x) sends the key as a bearer token.
        keys = {call.header("x-api-key"), bearer_token(call.header("authorization"))} - {None}
        if not keys:
            raise ApiError(401, "authentication_error", "x-api-key header is required")
        if self.api_key not in keys:
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        if not call.header("anthropic-version"):
            raise invalid("anthropic-version: header is required")

    def error_body(self, call: Call, error: ApiError) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": error.kind, "message": error.message},
            "request_id": call.headers[self.request_id_header],
        }

    # Messages.

    def create_message(self, call: Call, match: re.Match[str]) -> None:
        params = call.json()
        call.key = last_user_text(params.get("messages"))
        self.validate(params)
        stream = params.get("stream") is True
        self.apply_faults(call, stream=stream)
        completion = self.plan(params)
        message = self.message(params, completion)
        if stream:
            self.stream_message(call, message, completion)
        else:
            call.send_json(200, message)
        if call.outcome == "ok":  # not broken by a stream_error fault
            call.outcome = "completed"

    def validate(self, params: dict[str, Any]) -> None:
        """Raise the API's 400 (or 404 for an unknown model) for bad params."""
        for name in params:
            if name not in KNOWN_PARAMS:
                raise invalid(f"{name}: Extra inputs are not permitted")
        model = params.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("model: Field required")
        max_tokens = params.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise invalid("max_tokens: Field required")
        if max_tokens < 1:
            raise invalid("max_tokens: Input should be greater than or equal to 1")
        self._validate_messages(params.get("messages"))
        self._validate_sampling(params, model)
        stop = params.get("stop_sequences", [])
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise invalid("stop_sequences: Input should be a list of non-empty strings")
        system = params.get("system", "")
        if not isinstance(system, str | list):
            raise invalid("system: Input should be a string or a list of text blocks")
        self._validate_tools(params)
        if not self.check_model(model):
            raise ApiError(404, "not_found_error", f"model: {model}")

    def _validate_messages(self, messages: Any) -> None:
        if not isinstance(messages, list) or not messages:
            raise invalid("messages: at least one message is required")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if not isinstance(message.get("content"), str | list):
                raise invalid(f"messages.{i}.content: Field required")

    def _validate_tools(self, params: dict[str, Any]) -> None:
        tools = params.get("tools", [])
        if not isinstance(tools, list):
            raise invalid("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if error := tool_schema_error(tool, i):
                raise invalid(error)
        names = [tool["name"] for tool in tools]
        if len(set(names)) != len(names):
            raise invalid("tools: Tool names must be unique.")
        choice = params.get("tool_choice")
        if choice is None:
            return
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            raise invalid("tool_choice: Input tag does not match 'auto', 'any', 'tool', 'none'")
        if kind in ("any", "tool") and not tools:
            raise invalid("tool_choice: tool_choice requires tools to be specified")
        if kind == "tool" and choice.get("name") not in names:
            raise invalid(f"tool_choice: Tool '{choice.get('name')}' not found in 'tools'")

    def forced_tool(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The tool the request forces (tool_choice "tool", or "any" of one tool), if any."""
        choice = params.get("tool_choice") or {}
        tools = params.get("tools") or []
        if choice.get("type") == "tool":
            return next(t for t in tools if t["name"] == choice["name"])
        return tools[0] if choice.get("type") == "any" else None

    def _validate_sampling(self, params: dict[str, Any], model: str) -> None:
        given = [name for name in ("temperature", "top_p", "top_k") if name in params]
        if given and model in self.no_sampling_models:
            raise invalid(f"{', '.join(given)}: not supported by the model {model}")
        for name in ("temperature", "top_p"):
            value = params.get(name, 0.5)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise invalid(f"{name}: range: 0..1")
        top_k = params.get("top_k", 1)
        if not isinstance(top_k, int) or top_k < 0:
            raise invalid("top_k: Input should be greater than or equal to 0")

    def plan(self, params: dict[str, Any]) -> Completion:
        tool = self.forced_tool(params)
        if tool is not None:
            answer = INVALID_ANSWER if self.invalid_answers else answer_for(tool["input_schema"])
            return Completion(json_pieces(answer), "tool_use")
        return complete(
            last_user_text(params["messages"]) or "",
            max_tokens=params["max_tokens"],
            stop_sequences=params.get("stop_sequences", []),
            filler_words=self.filler_words,
        )

    def usage(self, params: dict[str, Any], output_tokens: int) -> dict[str, Any]:
        texts = [text_of(params.get("system", ""))]
        texts += [text_of(message["content"]) for message in params["messages"]]
        return {
            "input_tokens": count_words(texts),
            "cache_creation_input_tokens": self.cache_creation_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "output_tokens": output_tokens,
        }

    def message(
        self, params: dict[str, Any], completion: Completion, service_tier: str = "standard"
    ) -> dict[str, Any]:
        """The complete Message object the request gets."""
        usage = self.usage(params, completion.output_tokens)
        if completion.stop_reason == "tool_use":
            tool = self.forced_tool(params) or {}
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": tool.get("name"),
                    "input": json.loads(completion.text),
                }
            ]
        else:
            content = [{"type": "text", "text": completion.text}]
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": content,
            "stop_reason": completion.stop_reason,
            "stop_sequence": completion.stop_sequence,
            "usage": {**usage, "service_tier": service_tier},
        }

    def stream_message(self, call: Call, message: dict[str, Any], completion: Completion) -> None:
        """Send `message` as the API's event stream, breaking it as the call's fault says."""
        usage = message["usage"]
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        start["usage"] = {**usage, "output_tokens": 1}
        call.start_stream()
        send_event(call, "message_start", {"message": start})
        block: dict[str, Any] = {"type": "text", "text": ""}
        if message["content"][0]["type"] == "tool_use":
            block = {**message["content"][0], "input": {}}
        send_event(call, "content_block_start", {"index": 0, "content_block": block})
        send_event(call, "ping", {})
        broken = call.fault in ("drop", "stream_error")
        pieces = completion.pieces
        for piece in pieces[: self.faults.drop_after] if broken else pieces:
            time.sleep(self.faults.token_delay)
            delta = {"type": "text_delta", "text": piece}
            if block["type"] == "tool_use":
                delta = {"type": "input_json_delta", "partial_json": piece}
            send_event(call, "content_block_delta", {"index": 0, "delta": delta})
        if broken:
            self.break_stream(call)
            return
        send_event(call, "content_block_stop", {"index": 0})
        stop = {"stop_reason": completion.stop_reason, "stop_sequence": completion.stop_sequence}
        delta_usage = {k: v for k, v in usage.items() if k != "service_tier"}
        send_event(call, "message_delta", {"delta": stop, "usage": delta_usage})
        send_event(call, "message_stop", {})
        call.end_stream()

    def break_stream(self, call: Call) -> None:
        """Drop the connection, or send an overloaded_error event and end the stream."""
        if call.fault == "drop":
            call.drop()
        error = {"type": "overloaded_error", "message": "Overloaded (fake)"}
        send_event(call, "error", {"error": error})
        call.end_stream()
        call.outcome = "stream_error"

    # Message Batches.

    def create_batch(self, call: Call, match: re.Match[str]) -> None:
        requests = call.json().get("requests")
        self._validate_batch_requests(requests)
        now = time.time()
        results = [self._batch_result(r["custom_id"], r["params"]) for r in requests]
        self.rng.shuffle(results)
        batch = Batch(f"msgbatch_{uuid.uuid4().hex[:24]}", results, now, now + self.batch_delay)
        with self._batches_lock:
            self.batches[batch.id] = batch
            self._batches_created += 1
        call.send_json(200, batch.as_json(self.url))

    def _validate_batch_requests(self, requests: Any) -> None:
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: at least one request is required")
        seen: set[str] = set()
        for i, request in enumerate(requests):
            custom_id = request.get("custom_id") if isinstance(request, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                raise invalid(f"requests.{i}.custom_id: String should match [a-zA-Z0-9_-]{{1,64}}")
            if custom_id in seen:
                raise invalid(f"requests.{i}.custom_id: duplicate custom_id {custom_id!r}")
            if not isinstance(request.get("params"), dict):
                raise invalid(f"requests.{i}.params: Field required")
            seen.add(custom_id)

    def _batch_result(self, custom_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """One JSONL line: the message, or the error the params would have had."""
        try:
            self.validate(params)
        except ApiError as err:
            error = {"type": "error", "error": {"type": err.kind, "message": err.message}}
            return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}
        message = self.message(params, self.plan(params), service_tier="batch")
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}

    def find_batch(self, batch_id: str) -> Batch:
        with self._batches_lock:
            batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, "not_found_error", f"message batch {batch_id} not found")
        return batch

    def retrieve_batch(self, call: Call, match: re.Match[str]) -> None:
        call.send_json(200, self.find_batch(match["id"]).as_json(self.url))

    def list_batches(self, call: Call, match: re.Match[str]) -> None:
        """Newest first, a page of `limit` after `after_id` or before `before_id`."""
        with self._batches_lock:
            window = list(reversed(self.batches.values()))
        ids = [batch.id for batch in window]
        text = call.query.get("limit", "20")
        limit = int(text) if text.isdigit() else 0
        if not 1 <= limit <= 1000:
            raise invalid("limit: Input should be between 1 and 1000")
        if (after := call.query.get("after_id")) is not None:
            window = window[ids.index(after) + 1 :] if after in ids else []
        if (before := call.query.get("before_id")) is not None:
            window = window[: ids.index(before)] if before in ids else []
        page = window[-limit:] if before is not None else window[:limit]
        data = [batch.as_json(self.url) for batch in page]
        call.send_json(
            200,
            {
                "data": data,
                "has_more": len(window) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
        )

    def cancel_batch(self, call: Call, match: re.Match[str]) -> None:
        batch = self.find_batch(match["id"])
        with self._batches_lock:
            now = time.time()
            if not batch.ended(now):
                batch.cancel_initiated_at = now
                for line in batch.results:
                    line["result"] = {"type": "canceled"}
                payload = batch.as_json(self.url)  # still "canceling"
                batch.ends_at = now
            else:
                payload = batch.as_json(self.url)
        call.send_json(200, payload)

    def delete_batch(self, call: Call, match: re.Match[str]) -> None:
        batch = self.find_batch(match["id"])
        if not batch.ended(time.time()):
            raise invalid(f"message batch {batch.id} is still being processed: cancel it first")
        with self._batches_lock:
            self.batches.pop(batch.id, None)
        call.send_json(200, {"id": batch.id, "type": "message_batch_deleted"})

    def batch_results(self, call: Call, match: re.Match[str]) -> None:
        batch = self.find_batch(match["id"])
        if not batch.ended(time.time()):
            raise ApiError(404, "not_found_error", f"message batch {batch.id} has not ended")
        body = "".join(json.dumps(line) + "\n" for line in batch.results).encode()
        call.send_bytes(200, body, "application/binary")


def send_event(call: Call, name: str, data: dict[str, Any]) -> None:
    """One Server-Sent Event; its data carries the event's name as `type`, as the API's do."""
    payload = json.dumps({"type": name, **data})
    call.send_chunk(f"event: {name}\ndata: {payload}\n\n".encode())


if __name__ == "__main__":
    main(FakeAnthropic)
