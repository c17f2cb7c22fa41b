"""Reading an imported file, streamed: (line number, record, error) for each line of a JSONL
file, row of a CSV file or row of a Parquet file, a batch at a time, so that a 100k-line file
never sits in memory. A line that cannot be read is reported, not raised."""

from __future__ import annotations

import contextlib
import csv
import datetime
import decimal
import io
import json
import uuid
from collections.abc import Iterator
from typing import IO

from annotate.datasets.records import ImportFailed

BATCH_ROWS = 2000  # Parquet rows read at a time


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
    # lazy: pyarrow takes ~0.25 s to import, and only Parquet files need it
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(stream).iter_batches(batch_size=BATCH_ROWS)
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


def detect_format(filename: str) -> str:
    name = filename.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ImportFailed([f"{filename}: unknown file type; use .jsonl, .csv or .parquet"], 1)
