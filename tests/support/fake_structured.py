"""Structured output for the fake API servers: what a constrained model answers to a JSON schema,
and the checks the real APIs make of a schema before they take it.

- `answer_for(schema)`: an object that fits the schema: for each property in order, the first
  value of an enum, an integer or number's minimum (else 0), a string ("fake reasoning" for a
  property named `reasoning`, else "fake text"), one item for an array, True, or a nested object;
  of `anyOf` or a type list, the first option that is not null. `$ref` to `#/$defs/...` works.
- `strict_schema_error(schema, name)`: OpenAI's rules for `strict: true`, with its messages: the
  root is an object; every object has `additionalProperties: false` and lists every property in
  `required` (optional fields are made nullable instead, e.g. `"type": ["integer", "null"]`).
- `tool_schema_error(tool, index)`: Anthropic's checks of a tool: a name, and an `input_schema`
  that is a valid JSON schema of an object.
- `INVALID_JSON` / `INVALID_ANSWER`: what the servers' `invalid_answers` mode returns instead:
  text that is no JSON (OpenAI), a tool input that does not fit the schema (Anthropic, whose
  tool inputs are always JSON).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs

INVALID_JSON = 'Sure! Here is my answer: {"reasoning": "fake reasoning", '
INVALID_ANSWER = {"answer": "not what was asked"}
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")


def answer_for(schema: dict[str, Any], key: str = "", root: dict[str, Any] | None = None) -> Any:
    """A value that fits `schema` (see the module docstring)."""
    root = schema if root is None else root
    if "$ref" in schema:
        return answer_for(_resolve(schema["$ref"], root), key, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        chosen = next((o for o in options if o.get("type") != "null"), options[0])
        return answer_for(chosen, key, root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: answer_for(sub, name, root) for name, sub in properties.items()}
    if kind == "array":
        return _array_for(schema, key, root)
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return min(low, schema.get("maximum", low))
    if kind == "string":
        text = "fake reasoning" if key == "reasoning" else "fake text"
        return text.ljust(int(schema.get("minLength", 0)), ".")
    if kind == "boolean":
        return True
    return None


def _array_for(schema: dict[str, Any], key: str, root: dict[str, Any]) -> list[Any]:
    items = schema.get("items") or {}
    count = max(int(schema.get("minItems", 1)), 1)
    if "enum" in items:
        return list(items["enum"][:count])
    return [answer_for(items, key, root) for _ in range(count)]


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def json_pieces(value: Any) -> tuple[str, ...]:
    """JSON text as streamed deltas: one a space-separated word, like the fakes' text."""
    words = json.dumps(value, ensure_ascii=False).split(" ")
    return tuple(word if i == 0 else f" {word}" for i, word in enumerate(words))


def strict_schema_error(schema: Any, name: str) -> str | None:
    """OpenAI's refusal of a strict response_format schema, or None if it takes it."""
    prefix = f"Invalid schema for response_format '{name}': "
    if not isinstance(schema, dict) or schema.get("type") != "object":
        got = schema.get("type") if isinstance(schema, dict) else None
        return f"{prefix}schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{got}\"'."
    for context, node in _subschemas(schema, ()):
        if problem := _strict_object_problem(node):
            return f"{prefix}In context={context!r}, {problem}"
    return None


def _strict_object_problem(node: dict[str, Any]) -> str | None:
    kinds = node.get("type")
    if "object" not in (kinds if isinstance(kinds, list) else [kinds]):
        return None
    if node.get("additionalProperties") is not False:
        return "'additionalProperties' is required to be supplied and to be false."
    missing = [key for key in node.get("properties") or {} if key not in node.get("required", [])]
    if missing:
        return (
            "'required' is required to be supplied and to be an array including every key in "
            f"properties. Missing '{missing[0]}'."
        )
    return None


def _subschemas(node: Any, context: tuple):
    """Every schema inside `node`, with its path, as OpenAI names it in its messages."""
    if not isinstance(node, dict):
        return
    yield context, node
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (node.get(key) or {}).items():
            yield from _subschemas(sub, (*context, key, name))
    if isinstance(node.get("items"), dict):
        yield from _subschemas(node["items"], (*context, "items"))
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(node.get(key) or []):
            yield from _subschemas(sub, (*context, key, str(i)))


def tool_schema_error(tool: Any, index: int) -> str | None:
    """Anthropic's refusal of a tool definition, or None if it takes it."""
    where = f"tools.{index}.custom"
    if not isinstance(tool, dict):
        return f"tools.{index}: Input should be a valid dictionary"
    name = tool.get("name")
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        return f"{where}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        return f"{where}.input_schema: Field required"
    if schema.get("type") != "object":
        return f"{where}.input_schema.type: Input should be 'object'"
    if not jsonschema_rs.meta.is_valid(schema):
        return (
            f"{where}.input_schema: JSON schema is invalid. It must match JSON Schema draft "
            "2020-12 (https://json-schema.org/draft/2020-12)."
        )
    return None
