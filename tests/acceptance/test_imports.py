"""The common public layouts import as their files say: Alpaca, ShareGPT, chat messages with
system turns, DPO triples (text and conversational), each as one JSON array, as JSON lines and
as JSON lines in a .json file, and CSV with a UTF-8 BOM and multi-line quoted cells. Each file is
posted to the import page and to the API, as a user would, and what is stored (the database and
the API's items) is compared item by item with the file parsed here by `json` and `csv`.

The mapping written here is the README's ("Shapes mapped"), spelled out per layout: Alpaca's
instruction and non-blank input joined by a blank line; a final assistant turn (ShareGPT's `gpt`)
is the reference and leaves the messages; a DPO triple keeps its prompt as the messages,
`chosen` (its text, or its last turn's) as the reference, and `chosen` and `rejected` as they are
in the file as metadata, so that nothing of the pair is lost.

A 50,000-element array imports in flat memory; a bad element is named by its index (counted
from 0) and nothing is imported.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.datasets.models import Dataset, Item
from tests.support.child_import import import_in_child, migrate

pytestmark = pytest.mark.django_db

ALPACA = [
    {
        "instruction": "Give three tips for staying healthy.",
        "input": "",
        "output": "1. Eat a balanced diet.\n2. Exercise regularly.\n3. Sleep well.",
    },
    {
        "instruction": 'Translate the sentence to French, keeping the "quotes".',
        "input": 'She said "hello"\nand left.',
        "output": "Elle a dit « bonjour »\net elle est partie.",
    },
    {
        "instruction": "Résume ce texte en une phrase 🙂",
        "input": "日本語のテキスト：東京は日本の首都です。",
        "output": "",
    },
    {
        "instruction": "   ",
        "input": "Only the input counts when the instruction is blank.",
        "output": "ok",
    },
]

SHAREGPT = [
    {
        "id": "identity_0",
        "conversations": [
            {"from": "human", "value": "Who are you?"},
            {"from": "gpt", "value": "I am a language model — ask me anything."},
        ],
    },
    {
        "id": "identity_1",
        "source": "sharegpt",
        "conversations": [
            {"from": "system", "value": "You answer in Ελληνικά."},
            {"from": "human", "value": 'What does "καλημέρα" mean?'},
            {"from": "gpt", "value": "Good morning."},
            {"from": "human", "value": "And\nκαληνύχτα?"},
            {"from": "gpt", "value": "Good night."},
        ],
    },
    {
        "id": 42,
        "conversations": [{"from": "human", "value": "A question with no answer yet ✍️"}],
    },
]

CHAT = [
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
        ],
        "category": "math",
    },
    {
        "messages": [
            {"role": "system", "content": "Reply in JSON."},
            {"role": "user", "content": 'Give {"a": 1} back.'},
            {"role": "assistant", "content": '{"a": 1}'},
            {"role": "user", "content": "Now with a newline\nin it."},
        ],
        "metadata": {"split": "test", "difficulty": 0.5, "tags": ["json", "é"]},
    },
    {"messages": [{"role": "user", "content": ""}, {"role": "user", "content": "Second"}]},
]

DPO = [
    {
        "prompt": "Write a haiku about rain.",
        "chosen": "Soft rain on the roof\nthe garden drinks in silence\nclouds fold into night",
        "rejected": "Rain is wet.",
    },
    {
        "prompt": 'Is "naïve" spelled with a diaeresis?',
        "chosen": "Yes, “naïve” is often written with one.",
        "rejected": "",
    },
]

DPO_CONVERSATIONAL = [
    {
        "prompt": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Critique my poem:\nroses are red"},
        ],
        "chosen": [{"role": "assistant", "content": "A classic opening — try a twist."}],
        "rejected": [{"role": "assistant", "content": "Bad."}],
    },
]


def user_turns(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": role, "content": content} for role, content in turns]


def stored(messages: list[dict], reference: str = "", external_id="", metadata=None) -> dict:
    """An item as the database and the API should hold it."""
    return {
        "messages": messages,
        "prompt": messages[-1]["content"],
        "reference": reference,
        "external_id": "" if external_id is None else str(external_id),
        "metadata": metadata or {},
    }


def alpaca(record: dict) -> dict:
    parts = [p for p in (record["instruction"], record["input"]) if p.strip()]
    return stored(user_turns(("user", "\n\n".join(parts))), record["output"])


SHAREGPT_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def sharegpt(record: dict) -> dict:
    turns = [(SHAREGPT_ROLES[t["from"]], t["value"]) for t in record["conversations"]]
    reference = turns.pop()[1] if turns[-1][0] == "assistant" else ""
    extra = {k: v for k, v in record.items() if k not in ("id", "conversations")}
    return stored(user_turns(*turns), reference, record.get("id"), extra)


def chat(record: dict) -> dict:
    turns = [(t["role"], t["content"]) for t in record["messages"]]
    reference = turns.pop()[1] if turns[-1][0] == "assistant" else ""
    extra = {k: v for k, v in record.items() if k not in ("messages", "metadata")}
    return stored(user_turns(*turns), reference, metadata={**record.get("metadata", {}), **extra})


def dpo(record: dict) -> dict:
    prompt, chosen = record["prompt"], record["chosen"]
    turns = [(t["role"], t["content"]) for t in prompt] if isinstance(prompt, list) else []
    reference = chosen[-1]["content"] if isinstance(chosen, list) else chosen
    metadata = {"chosen": chosen, "rejected": record["rejected"]}
    return stored(user_turns(*(turns or [("user", prompt)])), reference, metadata=metadata)


LAYOUTS = {
    "alpaca": (ALPACA, alpaca),
    "sharegpt": (SHAREGPT, sharegpt),
    "chat": (CHAT, chat),
    "dpo": (DPO, dpo),
    "dpo-conversational": (DPO_CONVERSATIONAL, dpo),
}


def as_array(records: list[dict]) -> bytes:
    return json.dumps(records, ensure_ascii=False, indent=4).encode()  # as alpaca_data.json


def as_lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


CONTAINERS = {  # suffix, how the file is written, how it is read back here
    "json-array": (".json", as_array, lambda body: json.loads(body)),
    "jsonl": (".jsonl", as_lines, lambda body: [json.loads(x) for x in body.splitlines()]),
    "json-lines": (".json", as_lines, lambda body: [json.loads(x) for x in body.splitlines()]),
}

FIELDS = ("messages", "prompt", "reference", "external_id", "metadata")


def post(client, door: str, filename: str, body: bytes):
    upload = SimpleUploadedFile(filename, body)
    if door == "page":
        return client.post("/datasets/import/", {"file": upload})
    return client.post("/api/datasets", {"file": upload})


def import_through(client, door: str, filename: str, body: bytes) -> list[dict]:
    """Imports the file through the page or the API; the items as the API lists them, checked
    against the database's rows."""
    response = post(client, door, filename, body)
    if door == "page":
        assert response.status_code == 302, html.unescape(response.content.decode())
        pk = int(re.fullmatch(r"/datasets/(\d+)/", response["Location"])[1])
        page = html.unescape(client.get(response["Location"]).content.decode())
        count = Item.objects.filter(dataset_id=pk).count()
        assert f"Imported {count} items from {filename}." in page
    else:
        assert response.status_code == 201, response.content
        pk = response.json()["id"]
    listed = client.get(f"/api/datasets/{pk}/items?limit=1000").json()["items"]
    items = [{f: item[f] for f in FIELDS} for item in listed]
    rows = Item.objects.filter(dataset_id=pk).order_by("index")
    assert list(rows.values(*FIELDS)) == items
    assert [item["index"] for item in listed] == list(range(len(listed)))
    return items


@pytest.mark.parametrize("door", ["page", "api"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_public_layout_stores_what_its_file_says(layout, container, door, owner_client):
    records, expect = LAYOUTS[layout]
    suffix, write, read = CONTAINERS[container]
    body = write(records)
    items = import_through(owner_client, door, f"{layout}{suffix}", body)
    assert items == [expect(record) for record in read(body)]


# Exported from a spreadsheet: a BOM, CRLF line ends, cells quoted over several lines, doubled
# quotes, commas, accents and empty cells (an empty cell is no value: no system turn, no key).
CSV_TEXT = (
    "\ufeffid,system,prompt,reference,topic\r\n"
    'q-1,,"Summarise:\r\n""Le café, c\'est la vie.""",Coffee is life.,français\r\n'
    'q-2,"Answer in one word.\nNo punctuation.",Capital of Japan?,Tokyo,\r\n'
    '3,,"Three lines:\na\nb, c",,"multi\nline topic"\r\n'
    'q-4,,Emoji 🙂 and ""quotes"",,\r\n'
)


def from_csv_row(row: dict) -> dict:
    row = {k: v for k, v in row.items() if v != ""}
    system = [("system", row["system"])] if "system" in row else []
    metadata = {"topic": row["topic"]} if "topic" in row else {}
    turns = user_turns(*system, ("user", row["prompt"]))
    return stored(turns, row.get("reference", ""), row["id"], metadata)


@pytest.mark.parametrize("door", ["page", "api"])
def test_a_csv_with_a_bom_and_multiline_cells_stores_what_its_file_says(door, owner_client):
    body = CSV_TEXT.encode()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert len(rows) == 4 and rows[0]["prompt"].count("\n") == 1  # the test's own reading
    items = import_through(owner_client, door, "sheet.csv", body)
    assert items == [from_csv_row(row) for row in rows]


# --- a bad element ------------------------------------------------------------------------


def refused(client, door: str, filename: str, body: bytes) -> tuple[list[str], str]:
    """Posts the file: it is refused and nothing is imported; the errors listed, and the
    page's summary line (or the API's detail)."""
    response = post(client, door, filename, body)
    assert response.status_code == 400
    assert not Dataset.objects.exists() and not Item.objects.exists()
    if door == "api":
        return response.json()["errors"], response.json()["detail"]
    page = html.unescape(response.content.decode())
    errors = re.findall(r"<li>(.*?)</li>", page.split('role="alert"', 1)[1].split("</ul>")[0])
    return errors, re.search(r"Nothing was imported: [^<]*", page)[0]


@pytest.mark.parametrize("door", ["page", "api"])
def test_bad_elements_of_an_array_are_named_by_index_and_nothing_is_imported(door, owner_client):
    records = [*ALPACA, {"instruction": "", "input": " ", "output": "no prompt"}, "a bare string"]
    errors, said = refused(owner_client, door, "alpaca.json", as_array(records))
    assert len(errors) == 2
    assert errors[0].startswith("element 4: no prompt")
    assert errors[1] == "element 5: expected a JSON object, not str"
    if door == "page":
        assert said == "Nothing was imported: 2 bad elements."
    else:
        assert said == "Nothing was imported."


@pytest.mark.parametrize("door", ["page", "api"])
def test_an_array_that_breaks_off_is_named_at_the_element(door, owner_client):
    body = as_array(ALPACA[:2])[:-1] + b',\n    {"instruction": "cut off", "output": "x",\n]'
    errors, _ = refused(owner_client, door, "alpaca.json", body)
    assert len(errors) == 1
    assert errors[0].startswith("element 2: not valid JSON (")


# --- a large array, in flat memory ----------------------------------------------------------

N = 50_000


def big_record(i: int) -> dict:
    return {
        "instruction": f"Question {i}: explain « {i} » in plain words.",
        "input": "" if i % 3 else f'with "context" {i}\nover two lines',
        "output": f"Answer {i}. " + "é" * 600,
        "id": f"big-{i}",
    }


def test_a_large_array_imports_in_flat_memory(tmp_path):
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as out:  # written a record at a time
        out.write("[\n")
        for i in range(N):
            out.write(("" if i == 0 else ",\n") + json.dumps(big_record(i), ensure_ascii=False))
        out.write("\n]\n")
    size = path.stat().st_size
    assert size > 60 * 2**20
    child_database = migrate(tmp_path / "child.sqlite3")
    growth, said = import_in_child(path, child_database, ("ijson",))
    assert said == "imported"
    # json.load would hold the whole file as Python objects, well over its size
    assert growth < size / 3, f"{growth / 2**20:.0f} MB for a file of {size / 2**20:.0f} MB"

    records = json.loads(path.read_bytes())
    database = sqlite3_rows(child_database, [0, 1, 2, N // 2, N - 1])
    assert database["count"] == N
    for index, row in database["rows"].items():
        assert row == alpaca_with_id(records[index]), index


def alpaca_with_id(record: dict) -> dict:
    return {**alpaca(record), "external_id": record["id"]}


def sqlite3_rows(database: Path, indexes: list[int]) -> dict:
    import sqlite3

    with sqlite3.connect(database) as connection:
        count = connection.execute(f"SELECT COUNT(*) FROM {Item._meta.db_table}").fetchone()[0]
        columns = ", ".join(FIELDS)
        rows = {}
        for index in indexes:
            values = connection.execute(
                f"SELECT {columns} FROM {Item._meta.db_table} WHERE `index` = ?", (index,)
            ).fetchone()
            row = dict(zip(FIELDS, values, strict=True))
            row["messages"], row["metadata"] = json.loads(values[0]), json.loads(values[4])
            rows[index] = row
    return {"count": count, "rows": rows}
