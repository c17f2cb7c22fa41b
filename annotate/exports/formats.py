"""The files exports write: the flat table's columns (CSV and Parquet share them), the Parquet
writer, and JSONL lines."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("dataset_id", pa.int64()),
        ("item_index", pa.int64()),
        ("external_id", pa.string()),
        ("prompt", pa.string()),
        ("reference", pa.string()),
        ("model_config", pa.string()),
        ("backend", pa.string()),
        ("model", pa.string()),
        ("run_id", pa.int64()),
        ("sample_index", pa.int64()),
        ("output", pa.string()),
        ("finish_reason", pa.string()),
        ("error", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("ttft_s", pa.float64()),
        ("latency_s", pa.float64()),
        ("decode_tps", pa.float64()),
        ("cost_usd", pa.float64()),
        ("machine", pa.string()),
        ("labels_n", pa.int64()),
        ("mean_rating", pa.float64()),
        ("messages_json", pa.string()),
        ("metadata_json", pa.string()),
        ("labels_json", pa.string()),
        ("final_json", pa.string()),
    ]
)


# Dictionary encoding pays for repeated values only; outputs, prompts and labels rarely repeat.
PARQUET_DICTIONARY = ["model_config", "backend", "model", "finish_reason", "error", "machine"]


def parquet_writer(path: Path) -> pq.ParquetWriter:
    return pq.ParquetWriter(path, PARQUET_SCHEMA, use_dictionary=PARQUET_DICTIONARY)


CSV_COLUMNS = PARQUET_SCHEMA.names


def jsonl_line(record: dict) -> bytes:
    """One JSONL line, UTF-8. orjson is fast; json writes what orjson refuses (integers past
    64 bits, say in an item's metadata)."""
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()
