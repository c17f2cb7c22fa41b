"""One record of an imported file, mapped onto an item, and a file's bad lines: what the import
(annotate/datasets/importing.py) and the re-import of an export (annotate/datasets/reimport.py)
share.

Common shapes are mapped onto an item (messages, prompt, reference, metadata):
- `prompt` (with an optional `system`);
- chat `messages` ([{role, content}]; a final assistant turn becomes the reference);
- ShareGPT `conversations` ([{from: human|gpt|system, value}]);
- Alpaca `instruction` / `input` / `output`;
- preference pairs `prompt` (text or turns) / `chosen` / `rejected` (chosen is the reference).
The reference comes from `reference`, `output`, `response`, `completion` or `answer`; `id` is
kept as the external id; every other field is kept as metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.conf import settings

from annotate.datasets.models import Dataset, Item

REFERENCE_KEYS = ("reference", "output", "response", "completion", "answer")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
ROLES = ("system", "user", "assistant")
KNOWN_KEYS = {
    "prompt",
    "system",
    "messages",
    "conversations",
    "instruction",
    "input",
    "id",
    "metadata",
    *REFERENCE_KEYS,
}
MAX_ERRORS_SHOWN = 20
MAX_DEPTH = 100  # levels of JSON nesting in a record; real ones use a handful
EXTERNAL_ID_MAX = Item._meta.get_field("external_id").max_length


class ImportFailed(Exception):
    """A refused file: the first errors, how many, and what they count ("line", "element")."""

    def __init__(self, errors: list[str], total_errors: int, unit: str = "line") -> None:
        self.errors = errors
        self.total_errors = total_errors
        self.unit = unit
        more = total_errors - len(errors)
        super().__init__("; ".join(errors) + (f"; and {more} more errors" if more else ""))


class LineError(ValueError):
    pass


class LineErrors:
    """A file's bad lines (or elements of a JSON array): the first MAX_ERRORS_SHOWN as
    `line N: why` (`element N: why`), and how many."""

    def __init__(self, unit: str = "line") -> None:
        self.shown: list[str] = []
        self.total = 0
        self.unit = unit

    def add(self, line: int, why: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_ERRORS_SHOWN:
            self.shown.append(f"{self.unit} {line}: {why}")

    def raise_any(self) -> None:
        if self.total:
            raise ImportFailed(self.shown, self.total, self.unit)


@dataclass
class ParsedItem:
    messages: list[dict]
    reference: str = ""
    external_id: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return self.messages[-1]["content"]

    def item(self, dataset: Dataset, index: int) -> Item:
        """The (unsaved) item of a dataset."""
        return Item(
            dataset=dataset,
            index=index,
            messages=self.messages,
            prompt=self.prompt,
            reference=self.reference,
            external_id=self.external_id,
            metadata=self.metadata,
        )


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise LineError(f"`{key}` must be text, not {type(value).__name__}")
    return value


def _chat(turns, where: str, role_key: str, content_key: str, roles: dict) -> list[dict]:
    if not isinstance(turns, list) or not turns:
        raise LineError(f"`{where}` must be a non-empty list of turns")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise LineError(
                f"`{where}[{i}]` must be an object with `{role_key}` and `{content_key}`"
            )
        role, content = turn.get(role_key), turn.get(content_key)
        if not isinstance(role, str) or role not in roles:  # a list or object is unhashable
            raise LineError(
                f"`{where}[{i}].{role_key}` must be one of {', '.join(roles)}, not {role!r}"
            )
        if not isinstance(content, str):
            raise LineError(f"`{where}[{i}].{content_key}` must be text")
        messages.append({"role": roles[role], "content": content})
    return messages


def _messages(record: dict) -> list[dict]:
    if isinstance(record.get("prompt"), list):  # TRL's conversational preference layout
        return _chat(record["prompt"], "prompt", "role", "content", {r: r for r in ROLES})
    if "messages" in record:
        return _chat(record["messages"], "messages", "role", "content", {r: r for r in ROLES})
    if "conversations" in record:
        return _chat(record["conversations"], "conversations", "from", "value", SHAREGPT_ROLES)
    if "instruction" in record:
        parts = [_text(record, "instruction"), _text(record, "input")]
        prompt = "\n\n".join(p for p in parts if p.strip())
    else:
        prompt = _text(record, "prompt")
    if not prompt.strip():
        raise LineError(
            "no prompt: expected a non-empty `prompt`, `messages`, `conversations` or `instruction`"
        )
    system = _text(record, "system")
    return ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]


def _chosen(value) -> str:
    """The preferred answer of a preference pair, as text or as an assistant turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return ""


def unstorable(value, depth: int = 0) -> str:
    """Why a parsed record cannot be stored, or "": text with a NUL character (json.dumps
    would show it only as the escape \\u0000, so the text itself is searched) or a lone
    surrogate (not UTF-8), NaN or an infinity (not JSON), a Parquet cell of no JSON type, or
    nesting deeper than the database's JSON (or Python's stack) takes."""
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character, which no text field can hold"
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            return f"contains a lone surrogate (U+{ord(value[exc.start]):04X}), not Unicode text"
        return ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"holds {value}, which is not a JSON number"
    if isinstance(value, dict | list):
        parts = (x for kv in value.items() for x in kv) if isinstance(value, dict) else value
        shallow = depth < MAX_DEPTH  # what it holds is not too deep
        for v in parts:
            # most values are plain text or numbers: checked here, without a call
            if shallow and (
                (type(v) is str and "\x00" not in v and (v.isascii() or _encodes(v)))
                or type(v) is int
                or v is None
            ):
                continue
            if why := unstorable(v, depth + 1):
                return why
        return ""
    if value is None or isinstance(value, bool | int):
        return ""
    if isinstance(value, bytes):
        return "holds binary data that is not UTF-8 text"
    return f"holds a value of type {type(value).__name__}, which has no JSON form"


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_record(record) -> ParsedItem:
    """Map one JSON object (or CSV row) onto an item; LineError says what is wrong."""
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, not {type(record).__name__}")
    if why := unstorable(record):
        raise LineError(why)
    messages = _messages(record)
    reference = ""
    for key in REFERENCE_KEYS:
        if record.get(key):
            reference = _text(record, key)
            break
    reference = reference or _chosen(record.get("chosen"))
    if messages[-1]["role"] == "assistant":
        reference = reference or messages[-1]["content"]
        messages = messages[:-1]
    size = sum(len(m["content"]) for m in messages)
    if size > settings.PROMPT_MAX_CHARS:
        raise LineError(
            f"the prompt is {size:,} characters, over the limit of "
            f"{settings.PROMPT_MAX_CHARS:,} (setting PROMPT_MAX_CHARS)"
        )
    if not messages or messages[-1]["role"] != "user":
        raise LineError(
            "the conversation must end with a user turn (or a user turn then the "
            "assistant's reference answer)"
        )
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LineError("`metadata` must be an object")
    extra = {k: v for k, v in record.items() if k not in KNOWN_KEYS}
    external_id = "" if record.get("id") is None else str(record["id"])
    if len(external_id) > EXTERNAL_ID_MAX:
        raise LineError(f"`id` is longer than {EXTERNAL_ID_MAX} characters")
    return ParsedItem(messages, reference, external_id, {**metadata, **extra})
