"""Importing prompts from JSONL, CSV or Parquet, streamed: a 100k-line file never sits in memory.

Common shapes are mapped onto an item (messages, prompt, reference, metadata):
- `prompt` (with an optional `system`);
- chat `messages` ([{role, content}]; a final assistant turn becomes the reference);
- ShareGPT `conversations` ([{from: human|gpt|system, value}]);
- Alpaca `instruction` / `input` / `output`;
- preference pairs `prompt` (text or turns) / `chosen` / `rejected` (chosen is the reference);
- rows of Annotate's own full export: its items, runs, outputs, projects and labels
  (annotate/reimport.py).
The reference comes from `reference`, `output`, `response`, `completion` or `answer`; `id` is
kept as the external id; every other field is kept as metadata.

The whole file is imported in one transaction: one bad line names its line number and why,
and nothing of that file is imported.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import decimal
import io
import itertools
import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.db import connection, transaction

from annotate.datasets.models import Dataset, Item
from annotate.datasets.reimport import is_export_row, restore

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
BULK = 2000
MAX_DEPTH = 100  # levels of JSON nesting in a record; real ones use a handful


class ImportFailed(Exception):
    def __init__(self, errors: list[str], total_errors: int) -> None:
        self.errors = errors
        self.total_errors = total_errors
        more = total_errors - len(errors)
        super().__init__("; ".join(errors) + (f"; and {more} more errors" if more else ""))


class LineError(ValueError):
    pass


class LineErrors:
    """A file's bad lines: the first MAX_ERRORS_SHOWN as `line N: why`, and how many."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self.total = 0

    def add(self, line: int, why: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_ERRORS_SHOWN:
            self.shown.append(f"line {line}: {why}")

    def raise_any(self) -> None:
        if self.total:
            raise ImportFailed(self.shown, self.total)


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
        return next((why for v in parts if (why := unstorable(v, depth + 1))), "")
    if value is None or isinstance(value, bool | int):
        return ""
    if isinstance(value, bytes):
        return "holds binary data that is not UTF-8 text"
    return f"holds a value of type {type(value).__name__}, which has no JSON form"


def parse_record(record) -> ParsedItem:
    """Map one JSON object (or CSV row) onto an item; LineError says what is wrong."""
    if not isinstance(record, dict):
        raise LineError(f"expected a JSON object, not {type(record).__name__}")
    if why := unstorable(record):
        raise LineError(why)
    messages = _messages(record)
    reference = next((_text(record, k) for k in REFERENCE_KEYS if record.get(k)), "")
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
    if len(external_id) > (limit := Item._meta.get_field("external_id").max_length):
        raise LineError(f"`id` is longer than {limit} characters")
    return ParsedItem(messages, reference, external_id, {**metadata, **extra})


def read_jsonl(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, record, error) for each non-blank line."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError as exc:
            yield number, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
            continue
        if not line:
            continue
        try:
            yield number, json.loads(line), ""
        except json.JSONDecodeError as exc:
            yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
        except (ValueError, RecursionError) as exc:
            yield number, None, f"not valid JSON ({_json_limit(exc)})"


def _json_limit(exc: Exception) -> str:
    """Which limit of Python's JSON reader a text hit (it raises these, not JSONDecodeError)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number of more than 4,300 digits"


def read_csv(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, record, error) per row; empty cells are left out, and a `messages`,
    `conversations` or `metadata` cell is read as JSON."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text, strict=True)
    try:
        for row in reader:
            yield reader.line_num, *_csv_record(row)
    except (csv.Error, UnicodeDecodeError) as exc:
        yield reader.line_num + 1, None, f"unreadable CSV ({exc})"
    finally:
        text.detach()


def _csv_record(row: dict) -> tuple[dict | None, str]:
    if None in row:
        return None, "more cells than the header has columns"
    record = {k: v for k, v in row.items() if k and v not in (None, "")}
    for key in ("messages", "conversations", "metadata"):
        if key in record:
            try:
                record[key] = json.loads(record[key])
            except json.JSONDecodeError as exc:
                return None, f"`{key}` cell is not valid JSON ({exc.msg})"
            except (ValueError, RecursionError) as exc:
                return None, f"`{key}` cell is not valid JSON ({_json_limit(exc)})"
    return record, ""


def read_parquet(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(row number, record, error) per row, read a batch at a time; JSON-looking string cells
    of `messages`, `conversations` or `metadata` are parsed, and of `prompt`, `chosen` or
    `rejected` when they hold turns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(stream).iter_batches(batch_size=BULK)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, _parquet_record(row), ""
    except (pa.ArrowException, OSError, ValueError, RecursionError) as exc:
        # ValueError: a damaged file's names that are not UTF-8, nanoseconds no datetime holds.
        yield 1, None, f"unreadable Parquet ({exc})"


def _parquet_record(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if value is None:
            continue
        if (
            key in ("messages", "conversations", "prompt", "chosen", "rejected", "metadata")
            and isinstance(value, str)
            and value[:1] in "[{"
        ):
            with contextlib.suppress(ValueError, RecursionError):
                parsed = json.loads(value)
                # A prompt or answer that merely looks like JSON stays text; turns are turns.
                if key in ("messages", "conversations", "metadata") or _is_turns(parsed):
                    value = parsed
        out[key] = _plain(value)
    return out


def _is_turns(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, dict) and "role" in t for t in value)
    )


def _plain(value):
    """A Parquet cell as JSON: dates and times as ISO text, decimals and UUIDs as text,
    durations in seconds, UTF-8 bytes as text (parse_record refuses other bytes)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return value.decode()
    return value


READERS = {"jsonl": read_jsonl, "csv": read_csv, "parquet": read_parquet}


def upload_too_big(size: int) -> str | None:
    """Why an upload of `size` bytes is refused, or None."""
    limit = settings.IMPORT_MAX_BYTES
    if size > limit:
        shown = f"{limit / 2**20:,.0f} MB" if limit >= 2**20 else f"{limit:,} bytes"
        return f"The file is larger than the {shown} limit (setting IMPORT_MAX_BYTES)."
    return None


def detect_format(filename: str) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ImportFailed([f"{filename}: unknown file type; use .jsonl, .csv or .parquet"], 1)


@contextlib.contextmanager
def _item_writer(dataset: Dataset):
    """write(index, parsed) for each item: by COPY on PostgreSQL (no model instances, no
    parameter arrays to escape), in bulk_create batches elsewhere."""
    if connection.vendor == "postgresql":
        columns = "dataset_id, index, external_id, messages, prompt, reference, metadata"
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {Item._meta.db_table} ({columns}) FROM STDIN") as copy,
        ):
            yield lambda index, p: copy.write_row(
                (
                    dataset.pk,
                    index,
                    p.external_id,
                    json.dumps(p.messages),
                    p.prompt,
                    p.reference,
                    json.dumps(p.metadata),
                )
            )
        return
    batch: list[Item] = []

    def write(index: int, parsed: ParsedItem) -> None:
        batch.append(parsed.item(dataset, index))
        if len(batch) >= BULK:
            Item.objects.bulk_create(batch)
            batch.clear()

    yield write
    Item.objects.bulk_create(batch)


@transaction.atomic
def import_dataset(
    stream: IO[bytes],
    filename: str,
    name: str,
    owner,
    description: str = "",
    fmt: str | None = None,
) -> Dataset:
    """Create a dataset from a JSONL or CSV stream, all or nothing. Raises ImportFailed."""
    records = READERS[fmt or detect_format(filename)](stream)
    dataset = Dataset.objects.create(
        name=name or filename[:200], description=description, source_filename=filename, owner=owner
    )
    first = next(records, None)
    records = itertools.chain([first] if first else [], records)
    if first and is_export_row(first[1]):
        # Annotate's own export: its runs, outputs, projects and labels come back too.
        dataset.restored = restore(dataset, records, owner)
        return dataset
    errors = LineErrors()
    index = 0
    with _item_writer(dataset) as write:
        for number, record, error in records:
            if not error:
                try:
                    parsed = parse_record(record)
                except LineError as exc:
                    error = str(exc)
            if error:
                errors.add(number, error)
            elif not errors.total:  # after a bad line, read on to report all, write nothing
                write(index, parsed)
                index += 1
    errors.raise_any()
    if not index:
        raise ImportFailed([f"{filename}: no items found"], 1)
    return dataset


def import_summary(dataset: Dataset, filename: str) -> str:
    """What an import brought in, as the page says it."""
    restored = getattr(dataset, "restored", None)
    if restored is None:
        return f"Imported {dataset.items.count()} items from {filename}."
    return (
        f"Restored from {filename}: {restored.items} items, {restored.outputs} outputs of "
        f"{restored.runs} runs, {restored.projects} projects with {restored.labels} labels "
        f"({restored.reviewed} reviewed)"
        + (
            f"; accounts created without a password: {', '.join(restored.users_created)}."
            if restored.users_created
            else "."
        )
    )
