"""Reading an imported file, streamed: (line number, record, error) for each line of a JSONL
file, row of a CSV file or row of a Parquet file, a batch at a time, and (index, record, error)
for each element of a JSON array, as it is parsed, so that a 100k-line file never sits in
memory. A line that cannot be read is reported, not raised."""

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

import ijson
import orjson

from annotate.datasets import limits
from annotate.datasets.records import MAX_DEPTH, ImportFailed

# Parquet rows read at a time, kept in Arrow; made Python objects up to PYTHON_BYTES at a time.
BATCH_ROWS = 16
PYTHON_BYTES = 4 * 2**20
SKIP_BYTES = 2**20  # read at a time from the rest of a JSONL line too long to keep
ARRAY_CHUNK = 2**16  # read at a time from a JSON array (ijson's default)
JSON_SPACE = b" \t\r\n"
BOM = b"\xef\xbb\xbf"
# An integer of 19 digits or more, once every digit reads 0 (faster than a regular expression).
ALL_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_INTEGER = b"0" * 19


def read_jsonl(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, record, error) for each non-blank line; a line is read only up to
    limits.line_limit(), the rest of a longer one skipped."""
    budget, cap = limits.Budget(), limits.line_limit()
    # A field counts at most 8 bytes for each byte of its line (a 1-byte scalar counts 8;
    # a text never counts more than its JSON): a short line cannot hold an oversized one.
    short = limits.field_limit() // 8
    number = 0
    while raw := stream.readline(cap + 1):
        number += 1
        budget.spend(len(raw), number)
        if len(raw) > cap and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(SKIP_BYTES)
                budget.spend(len(raw), number)
            yield number, None, limits.line_too_long()
            continue
        yield from _jsonl_record(number, raw, short)


def _jsonl_record(number: int, raw: bytes, short: int) -> Iterator[tuple[int, dict | None, str]]:
    # orjson reads the common line 3x faster than json. It is used only where both read the
    # same: a line it refuses (NaN, a lone surrogate, bad UTF-8 or JSON) or one with an
    # integer of 19 digits or more (orjson makes it a float) goes to json below, which
    # accepts or explains it as before.
    if LONG_INTEGER not in raw.translate(ALL_ZERO):
        try:
            record = orjson.loads(raw[3:] if number == 1 and raw.startswith(BOM) else raw)
        except orjson.JSONDecodeError:
            pass
        else:
            yield number, *_sized(record, len(raw) <= short)
            return
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
    except UnicodeDecodeError as exc:
        yield number, None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
        return
    if not line:
        return
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        yield number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except (ValueError, RecursionError) as exc:
        yield number, None, f"not valid JSON ({_json_limit(exc)})"
    else:
        yield number, *_sized(record, len(raw) <= short)


def _sized(record, short: bool) -> tuple[dict | None, str]:
    why = "" if short else limits.oversized_field(record)
    return None if why else record, why


def _json_limit(exc: Exception) -> str:
    """Which limit of Python's JSON reader a text hit (it raises these, not JSONDecodeError)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return "a number of more than 4,300 digits"


def read_csv(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(line number, record, error) per row; empty cells are left out, and a `messages`,
    `conversations` or `metadata` cell is read as JSON."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    budget, start = limits.Budget(), stream.tell()
    # csv's own cap (characters, process-wide) only keeps a quoted cell of many lines in
    # bounds; each field's bytes are checked below, where its column can be named.
    csv.field_size_limit(limits.line_limit())
    reader = csv.DictReader(_csv_lines(text), strict=True)
    try:
        for row in reader:
            budget.spend(stream.tell() - start - budget.used, reader.line_num)
            if why := limits.oversized_field(row):
                yield reader.line_num, None, why
            else:
                yield reader.line_num, *_csv_record(row)
    except LineTooLong:
        yield reader.line_num + 1, None, limits.line_too_long()
    except (csv.Error, UnicodeDecodeError) as exc:
        if str(exc).startswith("field larger than field limit"):
            yield reader.line_num + 1, None, limits.line_too_long()
        else:
            yield reader.line_num + 1, None, f"unreadable CSV ({exc})"
    finally:
        text.detach()


class LineTooLong(Exception):
    pass


def _csv_lines(text: IO[str]) -> Iterator[str]:
    """The file's lines, each read only up to limits.line_limit() characters."""
    cap = limits.line_limit()
    while line := text.readline(cap + 1):
        if len(line) > cap and not line.endswith(("\n", "\r")):
            raise LineTooLong
        yield line


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
        parquet = pq.ParquetFile(stream)
        if why := limits.parquet_declared_too_big(parquet.metadata):
            raise ImportFailed([why], 1)
        budget, number = limits.Budget(), 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            for first, rows, error in _parquet_runs(batch):
                budget.spend(sum(rows), number + len(rows))
                if error:
                    number += 1
                    yield number, None, error
                    continue
                for row in batch.slice(first, len(rows)).to_pylist():
                    number += 1
                    yield number, _parquet_record(row), ""
    except (pa.ArrowException, OSError, ValueError, OverflowError, RecursionError) as exc:
        # ValueError: a damaged file's names that are not UTF-8, nanoseconds no datetime holds;
        # OverflowError: a duration no timedelta holds.
        yield 1, None, f"unreadable Parquet ({exc})"


def _parquet_runs(batch) -> Iterator[tuple[int, list[int], str]]:
    """A batch's rows in runs, measured before any becomes Python: (first row, each row's
    size, error): a refused row alone, else consecutive rows of up to PYTHON_BYTES."""
    sizes, refused = limits.arrow_row_sizes(batch)
    first, held = 0, 0
    for row, size in enumerate(sizes):
        if row > first and (row in refused or held + size > PYTHON_BYTES):
            yield first, sizes[first:row], ""
            first, held = row, 0
        if row in refused:
            yield row, [size], refused[row]
            first = row + 1
        else:
            held += size
    if first < len(sizes):
        yield first, sizes[first:], ""


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


def open_records(stream: IO[bytes], fmt: str) -> tuple[str, Iterator[tuple[int, dict | None, str]]]:
    """What a file's records are numbered by ("element" of a JSON array, counted from 0, else
    "line"), and the records. A .json file (`fmt` "json") holds an array when its first
    non-space character is `[`, else JSON lines."""
    if fmt == "json":
        fmt = "json-array" if _array_start(stream) is not None else "jsonl"
    return ("element" if fmt == "json-array" else "line"), READERS[fmt](stream)


def read_json(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    return open_records(stream, "json")[1]


def _array_start(stream: IO[bytes]) -> int | None:
    """Where the `[` that opens a JSON array is (after a BOM and spaces), or None; the stream
    is left where it was."""
    start = stream.tell()
    offset, chunk = start, stream.read(ARRAY_CHUNK)
    if chunk.startswith(b"\xef\xbb\xbf"):
        offset, chunk = offset + 3, chunk[3:]
    while chunk:
        text = chunk.lstrip(JSON_SPACE)
        if text:
            stream.seek(start)
            return offset + len(chunk) - len(text) if text.startswith(b"[") else None
        offset, chunk = offset + len(chunk), stream.read(ARRAY_CHUNK)
    stream.seek(start)
    return None


class ElementTooLong(Exception):
    pass


class _Meter:
    """A JSON array's bytes as ijson reads them: spent from the import's budget, and refused
    (ElementTooLong) once the element being read holds more than limits.line_limit() (give or
    take a chunk read ahead), before the parser holds more of it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.budget = stream, limits.Budget("element")
        self.index, self.read_bytes, self.element_start = 0, 0, 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.read_bytes += len(data)
        self.budget.spend(len(data), self.index)
        if self.read_bytes - self.element_start > limits.line_limit() + ARRAY_CHUNK:
            raise ElementTooLong
        return data

    def next_element(self) -> None:
        self.index += 1
        self.element_start = self.read_bytes


def read_json_array(stream: IO[bytes]) -> Iterator[tuple[int, dict | None, str]]:
    """(index, record, error) for each element of a file holding one JSON array, built from
    ijson's events as they are parsed. An element nested too deeply is skipped and reported;
    text that is not JSON, or an element too long to keep, ends the reading there."""
    start = _array_start(stream)
    if start is None:
        yield 0, None, "not a JSON array"
        return
    stream.seek(start)
    meter = _Meter(stream)
    events = ijson.basic_parse(meter, use_float=True, buf_size=ARRAY_CHUNK)
    depth, deepest, builder, ended = 1, 1, ijson.ObjectBuilder(), False
    try:
        next(events)  # the array's `[`
        for event, value in events:
            if event in ("start_map", "start_array"):
                depth += 1
                deepest = max(deepest, depth)
            elif event in ("end_map", "end_array"):
                depth -= 1
            if depth == 0:  # the array's `]`; what follows may only be spaces
                ended = True
                continue
            if deepest <= MAX_DEPTH + 2:  # deeper, no record can be stored: build no more
                builder.event(event, value)
            if depth == 1:  # an element is complete
                yield meter.index, *_array_element(builder.value, deepest)
                meter.next_element()
                deepest, builder = 1, ijson.ObjectBuilder()
    except ijson.JSONError as exc:
        after = " after the array's end" if ended else ""
        yield meter.index, None, f"not valid JSON{after} ({_ijson_reason(exc)})"
    except ElementTooLong:
        yield meter.index, None, limits.line_too_long("element")


def _array_element(value, deepest: int) -> tuple[dict | None, str]:
    if deepest > MAX_DEPTH + 2:  # the array, the element, then MAX_DEPTH levels in it
        return None, f"is nested more than {MAX_DEPTH} levels deep"
    why = limits.oversized_field(value)
    return None if why else value, why


def _ijson_reason(exc: Exception) -> str:
    """The first line of yajl's message ("parse error: trailing garbage"), without the
    excerpt of the file it shows under it."""
    reason = exc.args[0] if exc.args else ""
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    return str(reason).strip().split("\n", 1)[0].rstrip(".")


READERS = {
    "json": read_json,
    "json-array": read_json_array,
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
}


def detect_format(filename: str) -> str:
    """The format a file's name says: "json" (an array or JSON lines, see open_records),
    "jsonl", "csv" or "parquet"."""
    name = filename.lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    raise ImportFailed([f"{filename}: unknown file type; use .json, .jsonl, .csv or .parquet"], 1)
