"""Structured output: a run may ask every answer to be one JSON object matching a JSON schema
(run.params["response_schema"]; a judge's answers are the first user).

How each backend honours it (its `schema_via`):
- "json_schema": OpenAI-compatible servers get `response_format` with `strict: true`: the
  server constrains decoding. A server that refuses `response_format` (an older vLLM,
  llama.cpp or mlx_lm.server) falls back to "prompt", and the run's params say so.
- "tool": Anthropic gets a single tool named "answer" whose `input_schema` is the schema, and
  `tool_choice` naming it; the tool's input, as JSON text, is the output.
- "prompt": local backends (MLX, Transformers) have no constrained decoding: the schema goes
  into the prompt as instructions, and whoever reads the output (a strict parser) judges it.

No Django here: backends import this module.
"""

from __future__ import annotations

import json

import jsonschema_rs

# The name of the schema (OpenAI's json_schema.name) and of the tool (Anthropic).
SCHEMA_NAME = "answer"
INSTRUCTIONS = (
    "Answer with one JSON object matching this JSON schema, and nothing else (no prose, no "
    "code fence):\n{schema}"
)


class SchemaInvalid(ValueError):
    """A response schema that is no JSON schema of an object."""


def check_response_schema(schema: object) -> dict:
    """The schema, if it is a valid JSON schema (draft 2020-12's meta-schema) of an object,
    which is what both providers take; else SchemaInvalid saying why."""
    if not isinstance(schema, dict):
        raise SchemaInvalid("A response schema must be a JSON object.")
    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        raise SchemaInvalid(
            f"The response schema is not a valid JSON schema: {exc.message}"
        ) from None
    except jsonschema_rs.ReferencingError as exc:
        raise SchemaInvalid(
            f"The response schema has a reference that cannot be resolved: {exc}"
        ) from None
    if schema.get("type") != "object":
        raise SchemaInvalid('A response schema must describe an object ("type": "object").')
    return schema


def stored_schema(schema: dict) -> str:
    """The schema as a run's params keep it: JSON text, because PostgreSQL's jsonb reorders an
    object's keys (shortest first), and the order of the properties is the order a model
    answers in ("reasoning" before the verdict)."""
    return json.dumps(schema, ensure_ascii=False)


def response_schema(params: dict) -> dict | None:
    """The run's response schema, in its properties' order, or None for free text."""
    schema = params.get("response_schema")
    return json.loads(schema) if isinstance(schema, str) else schema or None


def with_schema_instructions(messages: list[dict], schema: dict | None) -> list[dict]:
    """The messages with the schema as instructions at the end of the last user turn (a new
    user turn if there is none), for a model that cannot be constrained; unchanged without a
    schema."""
    if not schema:
        return messages
    text = INSTRUCTIONS.format(schema=json.dumps(schema, ensure_ascii=False))
    out = [dict(m) for m in messages]
    for message in reversed(out):
        if message["role"] == "user" and isinstance(message.get("content"), str):
            message["content"] = f"{message['content']}\n\n{text}"
            return out
    return [*out, {"role": "user", "content": text}]
