"""Decompression bombs: every field of an imported file and the whole file, once decoded, are
bounded (IMPORT_MAX_FIELD_BYTES, IMPORT_MAX_TOTAL_BYTES) in JSONL, CSV and Parquet, refused
through the page and the API with the setting named, and a Parquet bomb is refused in flat
memory."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.datasets.importing import import_dataset
from annotate.datasets.models import Dataset, Item
from tests.support.child_import import import_in_child as child_import
from tests.support.child_import import migrate

pytestmark = pytest.mark.django_db

FIELD = 10 * 1024
TOTAL = 100 * 1024
BIG = "x" * 20_000  # over FIELD, under every other limit
TURNS = [{"role": "user", "content": "y" * 4000}] * 3  # each turn under FIELD, together over


def jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def parquet(columns: dict, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="zstd", **options)
    return buffer.getvalue()


def refused_everywhere(client, filename: str, body: bytes) -> tuple[str, list[str]]:
    """Posts the file to the import page and to the API: both refuse it and import nothing;
    the page's text and the API's errors."""
    upload = io.BytesIO(body)
    upload.name = filename
    page = client.post("/datasets/import/", {"file": upload})
    upload = io.BytesIO(body)
    upload.name = filename
    api = client.post("/api/datasets", {"file": upload})
    assert (page.status_code, api.status_code) == (400, 400)
    assert api.json()["detail"] == "Nothing was imported."
    assert not Dataset.objects.exists()
    assert not Item.objects.exists()
    return html.unescape(page.content.decode()), api.json()["errors"]


def field_error(line: int, field: str) -> str:
    return f"line {line}: `{field}` is more than 10,240 bytes (setting IMPORT_MAX_FIELD_BYTES)"


OVERSIZED_FIELDS = {
    "jsonl reference": (
        "p.jsonl",
        jsonl({"prompt": "ok"}, {"prompt": "ok", "reference": BIG}),
        field_error(2, "reference"),
    ),
    "jsonl system": ("p.jsonl", jsonl({"prompt": "ok", "system": BIG}), field_error(1, "system")),
    "jsonl metadata value": (
        "p.jsonl",
        jsonl({"prompt": "ok", "metadata": {"topic": "a", "note": BIG}}),
        field_error(1, "metadata.note"),
    ),
    "jsonl messages": ("p.jsonl", jsonl({"messages": TURNS}), field_error(1, "messages")),
    "csv metadata column": (
        "p.csv",
        b"prompt,topic\nok,fine\nok," + BIG.encode() + b"\n",
        field_error(3, "topic"),
    ),
    "parquet prompt": (
        "p.parquet",
        parquet({"prompt": ["ok", BIG]}, use_dictionary=False),
        field_error(2, "prompt"),
    ),
    "parquet metadata struct": (
        "p.parquet",
        parquet({"prompt": ["ok", "ok"], "metadata": [{"note": "a"}, {"note": BIG}]}),
        field_error(2, "metadata.note"),
    ),
    "parquet dictionary reference": (
        "p.parquet",
        parquet({"prompt": ["ok"] * 3, "reference": pa.array(["a", BIG, BIG]).dictionary_encode()}),
        field_error(2, "reference"),
    ),
    "parquet messages": (
        "p.parquet",
        parquet({"messages": [[{"role": "user", "content": "ok"}], TURNS]}),
        field_error(2, "messages"),
    ),
}


@pytest.mark.parametrize("case", OVERSIZED_FIELDS)
def test_a_field_over_the_limit_is_refused_by_line_and_setting(case, owner_client, settings):
    settings.IMPORT_MAX_FIELD_BYTES = FIELD
    filename, body, error = OVERSIZED_FIELDS[case]
    page, errors = refused_everywhere(owner_client, filename, body)
    assert error in errors
    assert error in page


def test_a_field_at_the_limit_is_kept(owner, settings):
    settings.IMPORT_MAX_FIELD_BYTES = FIELD
    at_limit = "é" * (FIELD // 2)  # 10,240 bytes in UTF-8
    dataset = import_dataset(io.BytesIO(jsonl({"prompt": at_limit})), "p.jsonl", "ok", owner)
    assert dataset.items.get().prompt == at_limit


WIDE = {f"c{i}": "z" * 5000 for i in range(40)}  # 200 KB: every field small, the line not


@pytest.mark.parametrize(
    "filename, body",
    [
        ("p.jsonl", jsonl({"prompt": "ok"}, {"prompt": "ok", **WIDE}, {"prompt": "ok"})),
        ("p.csv", ("prompt," + ",".join(WIDE) + "\nok," + ",".join(WIDE.values())).encode()),
    ],
    ids=["jsonl", "csv"],
)
def test_a_line_too_long_to_measure_is_refused_unparsed(filename, body, owner_client, settings):
    settings.IMPORT_MAX_FIELD_BYTES = FIELD
    page, errors = refused_everywhere(owner_client, filename, body)
    error = "line 2: the line is longer than 163,840 bytes (16 × setting IMPORT_MAX_FIELD_BYTES)"
    assert errors == [error]
    assert error in page


ROWS = [f"row {i} " + "w" * 4000 for i in range(40)]  # 160 KB in all, every field small


@pytest.mark.parametrize(
    "filename, body",
    [
        ("p.jsonl", jsonl(*({"prompt": p} for p in ROWS))),
        ("p.csv", ("prompt\n" + "\n".join(ROWS) + "\n").encode()),
        # one text in every row, stored once: its footer declares 4 KB
        ("p.parquet", parquet({"prompt": pa.array([ROWS[0]] * 40).dictionary_encode()})),
    ],
    ids=["jsonl", "csv", "parquet-dictionary"],
)
def test_a_file_over_the_total_is_refused_as_it_is_read(filename, body, owner_client, settings):
    settings.IMPORT_MAX_TOTAL_BYTES = TOTAL
    page, errors = refused_everywhere(owner_client, filename, body)
    assert len(errors) == 1
    said = r"line (\d+): the file holds more than 102,400 bytes once decompressed " + (
        r"\(setting IMPORT_MAX_TOTAL_BYTES\)"
    )
    assert 20 < int(re.fullmatch(said, errors[0])[1]) <= 40
    assert errors[0] in page


def test_a_parquet_file_declaring_more_than_the_total_is_refused_before_a_row(
    owner_client, settings
):
    settings.IMPORT_MAX_TOTAL_BYTES = TOTAL
    body = parquet({"prompt": ROWS}, use_dictionary=False)
    assert len(body) < TOTAL // 4
    page, errors = refused_everywhere(owner_client, "p.parquet", body)
    [error] = errors
    assert re.fullmatch(
        r"the file declares 16\d,\d{3} bytes of uncompressed data, over the limit of "
        r"102,400 \(setting IMPORT_MAX_TOTAL_BYTES\)",
        error,
    )
    assert error in page


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A migrated SQLite file for the child processes."""
    return migrate(tmp_path_factory.mktemp("bomb") / "migrated.sqlite3")


def import_in_child(migrated: Path, tmp_path: Path, bomb: Path, **env) -> tuple[int, str]:
    """Imports the file in a fresh process: its peak memory growth in bytes, and what it said."""
    database = tmp_path / "child.sqlite3"
    shutil.copy(migrated, database)
    return child_import(bomb, database, ("pyarrow.parquet",), **env)


def test_a_small_parquet_bomb_is_refused_in_flat_memory(migrated, tmp_path):
    # 2,000 rows of one 400 KB prompt, stored once: under 1 KB on disk, 800 MB decoded (no
    # Arrow schema in the file, so the column is read back as plain strings)
    bomb = tmp_path / "bomb.parquet"
    prompts = pa.DictionaryArray.from_arrays(pa.array([0] * 2000, pa.int32()), ["p" * 400_000])
    table = pa.table({"prompt": prompts})
    pq.write_table(table, bomb, compression="zstd", store_schema=False)
    assert bomb.stat().st_size < 2000
    growth, said = import_in_child(
        migrated, tmp_path, bomb, IMPORT_MAX_TOTAL_BYTES=str(100 * 2**20)
    )
    assert growth < 200 * 2**20, f"{growth / 2**20:.0f} MB for a file of 800 MB decoded"
    assert "bytes once decompressed (setting IMPORT_MAX_TOTAL_BYTES)" in said


def test_one_huge_parquet_cell_is_refused_without_copies(migrated, tmp_path):
    # one 100 MB reference, compressed to a few kilobytes
    bomb = tmp_path / "cell.parquet"
    table = pa.table({"prompt": ["hi"], "reference": ["r" * 100_000_000]})
    pq.write_table(table, bomb, compression="zstd", use_dictionary=False)
    del table
    assert bomb.stat().st_size < 20_000
    growth, said = import_in_child(migrated, tmp_path, bomb)
    assert growth < 400 * 2**20, f"{growth / 2**20:.0f} MB for a cell of 100 MB"
    assert said == (
        "line 1: `reference` is more than 4,194,304 bytes (setting IMPORT_MAX_FIELD_BYTES)"
    )
