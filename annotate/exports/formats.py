"""The files exports write: the flat table's columns (CSV and Parquet share them) and a full
row's flat and chat forms, the Parquet writer, and JSONL lines."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from annotate.exports.labels import first_label_key
from inference.prompts import build_messages

# Of a full row. 2: rows carry their comparison votes, and projects their kind's settings;
# re-import reads 1 and 2.
SCHEMA_VERSION = 2
# Cells a spreadsheet would run as a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000  # rows read from the database at a time, and in a Parquet row group

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
        ("served_by", pa.string()),
        ("route_reason", pa.string()),
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
        ("prefill_tps", pa.float64()),
        ("peak_memory_mb", pa.float64()),
        ("cost_usd", pa.float64()),
        ("machine", pa.string()),
        ("labels_n", pa.int64()),
        ("mean_rating", pa.float64()),
        ("messages_json", pa.string()),
        ("metadata_json", pa.string()),
        ("labels_json", pa.string()),
        ("final_json", pa.string()),
        ("comparisons_json", pa.string()),
    ]
)


# Dictionary encoding pays for repeated values only; outputs, prompts and labels rarely repeat.
PARQUET_DICTIONARY = [
    "model_config",
    "backend",
    "model",
    "served_by",
    "route_reason",
    "finish_reason",
    "error",
    "machine",
]


def parquet_writer(path: Path, schema: pa.Schema = PARQUET_SCHEMA) -> pq.ParquetWriter:
    return pq.ParquetWriter(path, schema, use_dictionary=PARQUET_DICTIONARY)


CSV_COLUMNS = PARQUET_SCHEMA.names


def jsonl_line(record: dict) -> bytes:
    """One JSONL line, UTF-8. orjson is fast; json writes what orjson refuses (integers past
    64 bits, say in an item's metadata)."""
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(record, ensure_ascii=False, default=str) + "\n").encode()


def flat_row(row: dict) -> dict:
    item, gen, m = row["item"], row["generation"], row["measurements"]
    return {
        "id": row["id"],
        "dataset_id": item["dataset_id"],
        "item_index": item["index"],
        "external_id": item["external_id"],
        "prompt": item["prompt"],
        "reference": item["reference"],
        "model_config": gen["model_config"],
        "backend": gen["backend"],
        "model": gen["model"],
        # Routed runs only; rows exported before routing have none.
        "served_by": gen.get("served_by"),
        "route_reason": gen.get("route_reason") or "",
        "run_id": gen["run_id"],
        "sample_index": gen["sample_index"],
        "output": gen["output"],
        "finish_reason": gen["finish_reason"],
        "error": gen["error"],
        "prompt_tokens": m["prompt_tokens"],
        "output_tokens": m["output_tokens"],
        "ttft_s": m["ttft_s"],
        "latency_s": m["latency_s"],
        "decode_tps": m["decode_tps"],
        # Rows exported before these were measured have none.
        "prefill_tps": m.get("prefill_tps"),
        "peak_memory_mb": m.get("peak_memory_mb"),
        "cost_usd": m["cost_usd"],
        "machine": m["machine"],
        "labels_n": len(row["labels"]),
        "mean_rating": row["mean_rating"],
        "messages_json": json.dumps(item["messages"]),
        "metadata_json": json.dumps(item["metadata"]),
        "labels_json": json.dumps(row["labels"]),
        "final_json": json.dumps(row["final"]),
        "comparisons_json": json.dumps(row["comparisons"]),
    }


def corrected_output(row: dict) -> str:
    """The gold answer: the reviewer's correction, else an annotator's, else the output."""
    defs = {p["id"]: p for p in row["projects"]}
    key = first_label_key(row["labels"], "correction", defs)
    for source in [
        *(f["answers"] for f in reversed(row["final"])),
        *(lb["answers"] for lb in reversed(row["labels"])),
    ]:
        if key and (text := source.get(key)) and text.strip():
            return text
    return row["generation"]["output"]


def chat_row(row: dict) -> dict:
    system = row["generation"]["params"].get("system_prompt", "")
    messages = build_messages(row["item"]["messages"], system)
    return {"messages": [*messages, {"role": "assistant", "content": corrected_output(row)}]}


def spreadsheet_safe(value):
    """A CSV cell no spreadsheet will run: text that starts like a formula gets a leading
    apostrophe, as OWASP advises; numbers and other values stay as they are. JSONL and
    Parquet keep the text byte for byte."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
