"""How much an imported file may hold once decoded (annotate/datasets/readers.py checks each
record here before keeping it): each field at most IMPORT_MAX_FIELD_BYTES, the whole file at
most IMPORT_MAX_TOTAL_BYTES. A small Parquet file can decompress to gigabytes, so its columns
are measured in Arrow, before any cell becomes a Python object.

A field is a value of a record: a key of a JSON line or of an element of a JSON array, a
cell of a CSV row, a column of a Parquet row. An object (`metadata`, an export's `item`) is not
one field but holds fields; a list (`messages`) is one field.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings

from annotate.datasets.records import ImportFailed

# A line of JSONL or CSV, or an element of a JSON array, is read whole before its fields can be
# measured: it may hold this many fields' worth (an export's row holds the prompt twice, the
# reference and the output).
LINE_FIELDS = 16


def field_limit() -> int:
    return settings.IMPORT_MAX_FIELD_BYTES


def line_limit() -> int:
    return LINE_FIELDS * settings.IMPORT_MAX_FIELD_BYTES


def field_too_big(path: str) -> str:
    return f"`{path}` is more than {field_limit():,} bytes (setting IMPORT_MAX_FIELD_BYTES)"


def line_too_long(unit: str = "line") -> str:
    return (
        f"the {unit} is longer than {line_limit():,} bytes "
        f"({LINE_FIELDS} × setting IMPORT_MAX_FIELD_BYTES)"
    )


class Budget:
    """The bytes an import has read, decoded, against IMPORT_MAX_TOTAL_BYTES; over it, the
    whole import stops at once (raises ImportFailed), naming the `unit` ("line", "element")
    being read."""

    def __init__(self, unit: str = "line") -> None:
        self.limit = settings.IMPORT_MAX_TOTAL_BYTES
        self.used = 0
        self.unit = unit

    def spend(self, size: int, line: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise ImportFailed(
                [
                    f"{self.unit} {line}: the file holds more than {self.limit:,} bytes once "
                    "decompressed (setting IMPORT_MAX_TOTAL_BYTES)"
                ],
                1,
                self.unit,
            )


def oversized_field(record) -> str:
    """Why a parsed JSON record (or CSV row) is refused for a field's size, or ""."""
    if not isinstance(record, dict):
        return ""
    limit = field_limit()
    for path, value in _json_fields(record, ""):
        if _json_bytes(value, limit) > limit:
            return field_too_big(path)
    return ""


def _json_fields(record: dict, prefix: str) -> Iterator[tuple[str, object]]:
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _json_fields(value, f"{path}.")  # nested as deep as the line allows
        else:
            yield path, value


def _json_bytes(value, limit: int) -> int:
    """The UTF-8 bytes of a value's texts (8 for any other scalar), counted up to just past
    `limit`; iterative, as a line may nest deeper than Python's stack."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) if item.isascii() else len(item.encode(errors="surrogatepass"))
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            total += 8
    return total


def parquet_declared_too_big(metadata) -> str:
    """Why a Parquet file is refused before a row is read, or "": its footer declares more
    uncompressed column data than IMPORT_MAX_TOTAL_BYTES (an honest writer's figure; the
    rows are counted again as they are read)."""
    limit = settings.IMPORT_MAX_TOTAL_BYTES
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if size > limit:
        return (
            f"the file declares {size:,} bytes of uncompressed data, over the limit of "
            f"{limit:,} (setting IMPORT_MAX_TOTAL_BYTES)"
        )
    return ""


def arrow_row_sizes(batch) -> tuple[list[int], dict[int, str]]:
    """Each row's decoded size in bytes, and why rows with an oversized field are refused,
    computed on the Arrow columns without making a Python object of any cell."""
    import numpy as np

    limit = field_limit()
    rows = np.zeros(batch.num_rows, dtype=np.int64)
    refused: dict[int, str] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        for path, sizes in _arrow_fields(name, column):
            rows += sizes
            for row in np.flatnonzero(sizes > limit).tolist():
                refused.setdefault(row, field_too_big(path))
    return rows.tolist(), refused


def _arrow_fields(path: str, column) -> Iterator[tuple[str, object]]:
    import pyarrow as pa

    if pa.types.is_struct(column.type):  # an object holds fields (StructArray.flatten)
        for field, child in zip(column.type, column.flatten(), strict=True):
            yield from _arrow_fields(f"{path}.{field.name}", child)
    else:
        yield path, _arrow_sizes(column)


def _text_types():
    import pyarrow as pa

    t = pa.types
    return (t.is_string, t.is_large_string, t.is_binary, t.is_large_binary)


def _arrow_sizes(column):
    """Per row: the bytes of the texts and binaries in a cell, 8 (or the width) per other
    value; a dictionary's entries are counted in each row that uses them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_string_view(kind) or pa.types.is_binary_view(kind):
        column, kind = column.cast(pa.large_binary()), pa.large_binary()  # no length kernel
    if pa.types.is_dictionary(kind):
        values = _arrow_sizes(column.dictionary)
        if not len(values):
            return np.zeros(len(column), dtype=np.int64)
        indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
        # clip: a damaged file's index out of range is refused when its row is read
        used = values.take(indices, mode="clip")
        return np.where(column.is_valid().to_numpy(zero_copy_only=False), used, 0)
    if any(is_text(kind) for is_text in _text_types()):
        return pc.binary_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    if pa.types.is_struct(kind):
        total = np.zeros(len(column), dtype=np.int64)
        for child in column.flatten():
            total += _arrow_sizes(child)
        return total
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        # a list's rows are runs of its child's values, between consecutive offsets
        ends = np.concatenate(([0], np.cumsum(_arrow_sizes(column.values))))
        offsets = column.offsets.to_numpy(zero_copy_only=False)
        return ends[offsets[1:]] - ends[offsets[:-1]]
    try:
        width = max(1, kind.bit_width // 8)
    except ValueError:  # a type with no fixed width and no case above: measure each row
        return np.array([column.slice(i, 1).nbytes for i in range(len(column))], np.int64)
    return np.full(len(column), width, dtype=np.int64)
