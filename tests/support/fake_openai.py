"""A fake OpenAI chat completions API that the real `openai` SDK talks to unmodified
(`base_url=server.base_url`, which ends in /v1).

What it speaks, on 127.0.0.1:
- `POST /v1/chat/completions`, as JSON or, with `"stream": true`, as `data: {...}` chunks: a
  first chunk with `delta.role`, one chunk per word with `delta.content`, a chunk with an empty
  delta and `finish_reason` ("stop", or "length" at `max_completion_tokens` / `max_tokens`),
  then, with `stream_options.include_usage`, a chunk with empty `choices` and `usage` (every
  earlier chunk then has `"usage": null`), then `data: [DONE]`. `stop` (a string or a list) is
  honoured; `temperature` (0..2) and `top_p` (0..1) are checked but change nothing; `n` must be 1.
  A parameter the API does not know is refused ("Unrecognized request argument supplied").
  Reasoning models (names starting with one of `reasoning_prefixes`: the o-series and the
  gpt-5 family) refuse what the API refuses them, with its messages and codes: `max_tokens`
  (they take `max_completion_tokens`), `top_p` and `stop` (`unsupported_parameter`), and a
  `temperature` other than 1 (`unsupported_value`); other models refuse `reasoning_effort`.
  `response_format` (`text`, `json_object`, `json_schema`) is honoured as a constrained model
  would (tests/support/fake_structured.py): a json_schema answer is a JSON object that fits
  the schema, streamed a word a delta, cut at the token limit ("length"); with `strict: true` a
  schema that breaks OpenAI's strict rules is refused with its 400. `invalid_answers=True`
  answers text that is no JSON instead (the error path); `structured_output=False` is a server
  that does not know `response_format` and refuses it as an unknown argument.
- `GET /v1/models` and `GET /v1/models/{id}`.
- The API's errors, `{"error": {"message", "type", "param", "code"}}` with an `x-request-id`
  header: 401 (`Authorization: Bearer KEY` must carry `api_key`: a key in any other header,
  or without `Bearer`, is no key), 400 invalid_request_error,
  404 model_not_found, and the faults' 429 (with `retry-after`), 500, 503, and an error object
  in a `data:` line inside a stream.

What it fakes: the model and usage, from `fake_text` (a token is a word): `prompt_tokens` counts
the words of every message, plus `cached_tokens`, which `prompt_tokens_details.cached_tokens`
reports, as if a prefix of that many tokens had been cached.

Bookkeeping: `ledger` (see `faults.Ledger`).

Standalone: `python -m tests.support.fake_openai --port 8082 --rate-429 0.1 --rate-503 0.05`.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from typing import Any

from tests.support.fake_http import ApiError, Call, FakeServer, Route, bearer_token, main
from tests.support.fake_structured import (
    INVALID_JSON,
    answer_for,
    json_pieces,
    strict_schema_error,
)
from tests.support.fake_text import Completion, complete, count_words, last_user_text, text_of

DEFAULT_MODELS = (
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "o1",
    "o3",
    "o3-mini",
    "o4-mini",
)
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
# The chat completions API's request body (openai-python's `create` arguments).
KNOWN_PARAMS = frozenset(
    """audio frequency_penalty function_call functions logit_bias logprobs
    max_completion_tokens max_tokens messages metadata modalities model moderation n
    parallel_tool_calls prediction presence_penalty prompt_cache_key
    prompt_cache_options prompt_cache_retention reasoning_effort response_format
    safety_identifier seed service_tier stop store stream stream_options temperature
    tool_choice tools top_logprobs top_p user verbosity web_search_options""".split()  # noqa: SIM905
)
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
# The API's `type` and `code` for the error kinds the shared code raises.
ERROR_SHAPES = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("invalid_request_error", "invalid_api_key"),
    "missing_api_key": ("invalid_request_error", None),
    "unsupported_parameter": ("invalid_request_error", "unsupported_parameter"),
    "unsupported_value": ("invalid_request_error", "unsupported_value"),
    "not_found_error": ("invalid_request_error", None),
    "model_not_found": ("invalid_request_error", "model_not_found"),
    "rate_limit_error": ("requests", "rate_limit_exceeded"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", None),
}


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request_error", message, param=param)


def unsupported(param: str, hint: str = "") -> ApiError:
    message = f"Unsupported parameter: '{param}' is not supported with this model.{hint}"
    return ApiError(400, "unsupported_parameter", message, param=param)


def unrecognized(param: str) -> ApiError:
    return invalid(f"Unrecognized request argument supplied: {param}")


class FakeOpenAI(FakeServer):
    """A fake OpenAI chat completions API (see the module docstring).

    Arguments, besides FakeServer's (host, port, api_key, models, seed, filler_words, verbose
    and any `Faults` attribute): `cached_tokens`, `reasoning_prefixes`, `structured_output`,
    `invalid_answers`. They are attributes that may be changed while the server runs.
    """

    request_id_header = "x-request-id"
    request_id_prefix = "req_"
    default_models = DEFAULT_MODELS
    overloaded_status = 503

    def __init__(
        self,
        *,
        cached_tokens: int = 0,
        reasoning_prefixes: tuple[str, ...] = REASONING_PREFIXES,
        structured_output: bool = True,
        invalid_answers: bool = False,
        **options: Any,
    ) -> None:
        self.cached_tokens = cached_tokens
        self.structured_output = structured_output
        self.invalid_answers = invalid_answers
        self.reasoning_prefixes = reasoning_prefixes
        super().__init__(**options)

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--cached-tokens", type=int, default=0)
        parser.add_argument("--invalid-answers", action="store_true")
        parser.add_argument(
            "--no-structured-output", dest="structured_output", action="store_false"
        )

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def build_routes(self) -> list[Route]:
        return [
            ("POST", re.compile(r"/v1/chat/completions"), self.create_chat_completion),
            ("GET", re.compile(r"/v1/models"), self.list_models),
            ("GET", re.compile(r"/v1/models/(?P<id>.+)"), self.retrieve_model),
        ]

    def authenticate(self, call: Call) -> None:
        token = bearer_token(call.header("authorization"))
        if token == self.api_key:
            return
        if not token:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY) "
                "(fake)."
            )
            raise ApiError(401, "missing_api_key", message)
        message = f"Incorrect API key provided: {token[:3]}***{token[-4:]} (fake)."
        raise ApiError(401, "authentication_error", message)

    def error_body(self, call: Call, error: ApiError) -> dict[str, Any]:
        kind, code = ERROR_SHAPES.get(error.kind, (error.kind, None))
        error_object = {"message": error.message, "type": kind, "param": error.param, "code": code}
        return {"error": error_object}

    # Chat completions.

    def create_chat_completion(self, call: Call, match: re.Match[str]) -> None:
        body = call.json()
        call.key = last_user_text(body.get("messages"))
        self.validate(body)
        stream = body.get("stream") is True
        self.apply_faults(call, stream=stream)
        completion = self.plan(body)
        if stream:
            self.stream_chunks(call, body, completion)
        else:
            call.send_json(200, self.chat_completion(body, completion))
        if call.outcome == "ok":  # not broken by a stream_error fault
            call.outcome = "completed"

    def validate(self, body: dict[str, Any]) -> None:
        """Raise the API's 400 (or 404 for an unknown model) for a bad body."""
        for name in body:
            if name not in KNOWN_PARAMS or (
                name == "response_format" and not self.structured_output
            ):
                raise unrecognized(name)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise invalid("you must provide a model parameter", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise invalid("'messages' must contain at least one message", "messages")
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            raise invalid("every message must be an object with a 'role'", "messages")
        self._check_range(body, "temperature", 2.0)
        self._check_range(body, "top_p", 1.0)
        limit = self.max_tokens(body)
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise invalid("max_tokens must be at least 1", "max_completion_tokens")
        if body.get("n", 1) != 1:
            raise invalid("the fake serves only n=1", "n")
        self._check_response_format(body.get("response_format"))
        if model.startswith(self.reasoning_prefixes):
            self._check_reasoning(body)
        elif "reasoning_effort" in body:
            raise unrecognized("reasoning_effort")
        if not self.check_model(model):
            message = f"The model `{model}` does not exist or you do not have access to it."
            raise ApiError(404, "model_not_found", message)

    def _check_reasoning(self, body: dict[str, Any]) -> None:
        """What reasoning models refuse, in the order the API reports it."""
        if "max_tokens" in body:
            raise unsupported("max_tokens", " Use 'max_completion_tokens' instead.")
        temperature = body.get("temperature")
        if temperature is not None and temperature != 1:
            message = (
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported."
            )
            raise ApiError(400, "unsupported_value", message, param="temperature")
        for name in ("top_p", "stop"):
            if body.get(name) is not None:
                raise unsupported(name)

    def _check_response_format(self, response_format: Any) -> None:
        if response_format is None:
            return
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            message = (
                "Invalid value for 'response_format.type': expected one of 'text', "
                "'json_object' or 'json_schema'."
            )
            raise invalid(message, "response_format.type")
        if kind != "json_schema":
            return
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise invalid("Missing required parameter: 'response_format.json_schema.name'.")
        if not isinstance(spec.get("schema"), dict):
            raise invalid("Missing required parameter: 'response_format.json_schema.schema'.")
        if spec.get("strict") and (error := strict_schema_error(spec["schema"], spec["name"])):
            raise invalid(error, "response_format")

    def _check_range(self, body: dict[str, Any], name: str, high: float) -> None:
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= high):
            raise invalid(f"Invalid '{name}': must be between 0 and {high:g}.", name)

    def max_tokens(self, body: dict[str, Any]) -> Any:
        limit = body.get("max_completion_tokens")
        return body.get("max_tokens") if limit is None else limit

    def plan(self, body: dict[str, Any]) -> Completion:
        response_format = body.get("response_format") or {}
        if response_format.get("type") in ("json_schema", "json_object"):
            return self.plan_json(body, response_format)
        stop = body.get("stop") or []
        return complete(
            last_user_text(body["messages"]) or "",
            max_tokens=self.max_tokens(body),
            stop_sequences=[stop] if isinstance(stop, str) else stop,
            filler_words=self.filler_words,
        )

    def plan_json(self, body: dict[str, Any], response_format: dict[str, Any]) -> Completion:
        """A constrained answer: JSON that fits the schema (or, for the error path, text that
        is no JSON), cut at the token limit as a real server's would be."""
        if self.invalid_answers:
            pieces = tuple(f" {w}" if i else w for i, w in enumerate(INVALID_JSON.split(" ")))
        elif response_format["type"] == "json_schema":
            pieces = json_pieces(answer_for(response_format["json_schema"]["schema"]))
        else:
            pieces = json_pieces({"answer": "fake text"})
        limit = self.max_tokens(body)
        if limit is not None and len(pieces) > limit:
            return Completion(pieces[:limit], "max_tokens")
        return Completion(pieces, "end_turn")

    def usage(self, body: dict[str, Any], completion: Completion) -> dict[str, Any]:
        prompt = count_words(text_of(m.get("content")) for m in body["messages"])
        prompt += self.cached_tokens
        output = completion.output_tokens
        return {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }

    def chat_completion(self, body: dict[str, Any], completion: Completion) -> dict[str, Any]:
        message = {"role": "assistant", "content": completion.text, "refusal": None}
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": FINISH_REASONS[completion.stop_reason],
        }
        return {
            **self._envelope(body, "chat.completion"),
            "choices": [choice],
            "usage": self.usage(body, completion),
        }

    def stream_chunks(self, call: Call, body: dict[str, Any], completion: Completion) -> None:
        """Send the answer as chunks, breaking the stream as the call's fault says."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        envelope = self._envelope(body, "chat.completion.chunk")
        if include_usage:
            envelope["usage"] = None

        def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            send_data(call, {**envelope, "choices": [choice]})

        call.start_stream()
        send({"role": "assistant", "content": "", "refusal": None})
        broken = call.fault in ("drop", "stream_error")
        pieces = completion.pieces
        for piece in pieces[: self.faults.drop_after] if broken else pieces:
            time.sleep(self.faults.token_delay)
            send({"content": piece})
        if broken:
            self.break_stream(call)
            return
        send({}, FINISH_REASONS[completion.stop_reason])
        if include_usage:
            send_data(call, {**envelope, "choices": [], "usage": self.usage(body, completion)})
        call.send_chunk(b"data: [DONE]\n\n")
        call.end_stream()

    def break_stream(self, call: Call) -> None:
        """Drop the connection, or send an error object and end the stream."""
        if call.fault == "drop":
            call.drop()
        message = "The server had an error while processing your request (fake)."
        error = {"message": message, "type": "server_error", "param": None, "code": None}
        send_data(call, {"error": error})
        call.end_stream()
        call.outcome = "stream_error"

    def _envelope(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": kind,
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }

    # Models.

    def list_models(self, call: Call, match: re.Match[str]) -> None:
        data = [self._model(name) for name in self.models]
        call.send_json(200, {"object": "list", "data": data})

    def retrieve_model(self, call: Call, match: re.Match[str]) -> None:
        if not self.check_model(match["id"]):
            message = f"The model `{match['id']}` does not exist or you do not have access to it."
            raise ApiError(404, "model_not_found", message)
        call.send_json(200, self._model(match["id"]))

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}


def send_data(call: Call, payload: dict[str, Any]) -> None:
    """One `data:` line of the stream."""
    call.send_chunk(f"data: {json.dumps(payload)}\n\n".encode())


if __name__ == "__main__":
    main(FakeOpenAI)
