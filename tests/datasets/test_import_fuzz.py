"""Property tests of the import (hypothesis): whatever a file holds, it is imported whole or
refused with the numbers of its bad lines, never with any other error, and a refused file
writes nothing."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotate.datasets.importing import (
    ImportFailed,
    LineError,
    parse_record,
)
from tests.datasets.import_fuzzing import (
    FUZZ,
    csv_files,
    damaged,
    imports,
    json_values,
    jsonl_files,
    parquet_files,
    prompt_texts,
    raw_csv,
    records,
    undone,
)

pytestmark = pytest.mark.django_db


# --- the import itself -------------------------------------------------------------------


@settings(max_examples=1000, **FUZZ)
@given(record=records)
def test_any_record_is_mapped_or_refused_with_a_reason(record):
    try:
        item = parse_record(record)
    except LineError as refused:
        assert str(refused)
        return
    assert item.messages and item.messages[-1]["role"] == "user"
    assert all(isinstance(m["content"], str) for m in item.messages)
    assert isinstance(item.reference, str) and isinstance(item.external_id, str)
    assert json.loads(json.dumps(item.metadata, allow_nan=False)) == item.metadata


@settings(max_examples=150, **FUZZ)
@given(data=st.binary(max_size=200), filename=st.sampled_from(["f.jsonl", "f.csv", "f.parquet"]))
def test_any_bytes_are_imported_whole_or_refused_by_line(owner, data, filename):
    with undone():
        imports(data, filename, owner)


@settings(max_examples=300, **FUZZ)
@given(data=jsonl_files())
def test_any_jsonl_is_imported_whole_or_refused_by_line(owner, data):
    with undone():
        imports(data, "f.jsonl", owner)


@settings(max_examples=200, **FUZZ)
@given(data=csv_files() | raw_csv)
def test_any_csv_is_imported_whole_or_refused_by_line(owner, data):
    with undone():
        imports(data, "f.csv", owner)


@settings(max_examples=150, **FUZZ)
@given(data=parquet_files() | damaged(parquet_files()))
def test_any_parquet_is_imported_whole_or_refused_by_line(owner, data):
    with undone():
        imports(data, "f.parquet", owner)


def as_jsonl(prompts: list[str]) -> bytes:
    return b"\n\n".join(json.dumps({"prompt": p}).encode() for p in prompts)


def as_csv(prompts: list[str]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([["prompt"], *([p] for p in prompts)])
    return out.getvalue().encode()


def as_parquet(prompts: list[str]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"prompt": pa.array(prompts, pa.string())}), out)
    return out.getvalue()


# Any text with something to say (and no NUL, which no text field holds); JSON-looking too.
prompts = prompt_texts | st.builds(json.dumps, json_values)


@pytest.mark.parametrize("write", [as_jsonl, as_csv, as_parquet], ids=["jsonl", "csv", "parquet"])
@settings(max_examples=100, **FUZZ)
@given(texts=st.lists(prompts, min_size=1, max_size=6))
def test_prompts_come_back_as_they_went_in(owner, write, texts):
    filename = "p." + write.__name__.removeprefix("as_")
    with undone():
        items = imports(write(texts), filename, owner)
        assert not isinstance(items, ImportFailed), items.errors
        assert [i.prompt for i in items] == texts
        assert [i.messages for i in items] == [[{"role": "user", "content": t}] for t in texts]
