"""A .json file holding one JSON array imports element by element, streamed: the field, element
and file limits of annotate/datasets/limits.py hold for it as for JSON lines, each refusal names
the element by its index (from 0) through the page, the API and the command, and a .json file
of JSON lines still imports line by line."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotate.datasets.models import Dataset, Item
from tests.support.child_import import import_in_child, migrate

pytestmark = pytest.mark.django_db

FIELD = 10 * 1024
BIG = "x" * 20_000  # over FIELD, under every other limit


def array(*records) -> bytes:
    return json.dumps(list(records), indent=2).encode()


def refused_everywhere(client, filename: str, body: bytes) -> list[str]:
    """Posts the file to the import page and to the API: both refuse it, list the same errors
    and import nothing; the errors."""
    page = client.post("/datasets/import/", {"file": SimpleUploadedFile(filename, body)})
    api = client.post("/api/datasets", {"file": SimpleUploadedFile(filename, body)})
    assert (page.status_code, api.status_code) == (400, 400)
    assert not Dataset.objects.exists() and not Item.objects.exists()
    errors = api.json()["errors"]
    text = html.unescape(page.content.decode())
    assert all(f"<li>{error}</li>" in text for error in errors)
    return errors


OK = {"prompt": "ok"}
# 400 KB: every field small, the element not (its bytes are counted as the parser reads them,
# 64 KB at a time, so an element is refused within 128 KB past the limit)
WIDE = {f"c{i}": "z" * 5000 for i in range(80)}

LIMITS = {
    "a field": (
        array(OK, {"prompt": "ok", "reference": BIG}),
        ["element 1: `reference` is more than 10,240 bytes (setting IMPORT_MAX_FIELD_BYTES)"],
    ),
    "a metadata value": (
        array({"prompt": "ok", "metadata": {"note": BIG}}, OK),
        ["element 0: `metadata.note` is more than 10,240 bytes (setting IMPORT_MAX_FIELD_BYTES)"],
    ),
    "an element": (
        array(OK, {"prompt": "ok", **WIDE}, OK),
        [
            "element 1: the element is longer than 163,840 bytes "
            "(16 × setting IMPORT_MAX_FIELD_BYTES)"
        ],
    ),
}


@pytest.mark.parametrize("case", LIMITS)
def test_an_array_over_a_size_limit_is_refused_by_element(case, owner_client, settings):
    settings.IMPORT_MAX_FIELD_BYTES = FIELD
    body, expected = LIMITS[case]
    assert refused_everywhere(owner_client, "data.json", body) == expected


def test_an_array_over_the_total_is_refused_as_it_is_read(owner_client, settings):
    settings.IMPORT_MAX_TOTAL_BYTES = 100 * 1024
    body = array(*({"prompt": f"row {i} " + "w" * 4000} for i in range(40)))  # 160 KB
    [error] = refused_everywhere(owner_client, "data.json", body)
    said = r"element (\d+): the file holds more than 102,400 bytes once decompressed " + (
        r"\(setting IMPORT_MAX_TOTAL_BYTES\)"
    )
    # the element being read when the reading (64 KB at a time) passed the limit
    assert 8 < int(re.fullmatch(said, error)[1]) < 40


def test_an_element_nested_too_deeply_is_refused_and_the_others_still_checked(owner_client):
    deep = b'{"prompt": "x", "m": ' + b'{"a": ' * 200_000 + b"1" + b"}" * 200_000 + b"}"
    body = b"[" + deep + b', {"prompt": "ok"}, 7]'
    assert refused_everywhere(owner_client, "deep.json", body) == [
        "element 0: is nested more than 100 levels deep",
        "element 2: expected a JSON object, not int",
    ]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            array(OK)[:-1] + b"x]",
            "element 1: not valid JSON (lexical error: invalid char in json text)",
        ),
        (
            array(OK, OK) + b"\n[]",
            "element 2: not valid JSON after the array's end (parse error: trailing garbage)",
        ),
        (
            b'[{"prompt": "caf\xe9"}]',
            "element 0: not valid JSON (lexical error: invalid bytes in UTF8 string)",
        ),
    ],
    ids=["a bad token", "text after the array", "not UTF-8"],
)
def test_an_array_that_is_not_json_is_refused_at_its_element(body, expected, owner_client):
    assert refused_everywhere(owner_client, "data.json", body) == [expected]


def test_json_lines_in_a_json_file_still_import_and_name_lines(owner_client):
    body = b'\xef\xbb\xbf{"prompt": "one"}\n\n{"prompt": "two", "id": 2}\n'
    response = owner_client.post("/api/datasets", {"file": SimpleUploadedFile("l.json", body)})
    assert response.status_code == 201, response.content
    items = Item.objects.order_by("index")
    assert [(i.prompt, i.external_id) for i in items] == [("one", ""), ("two", "2")]
    Item.objects.all().delete()
    Dataset.objects.all().delete()
    errors = refused_everywhere(owner_client, "l.json", b'{"prompt": "one"}\n[1]\n')
    assert errors == ["line 2: expected a JSON object, not list"]


def test_the_command_imports_an_array_or_names_the_bad_element(owner, tmp_path, capsys):
    good = tmp_path / "alpaca.json"
    good.write_bytes(b"\xef\xbb\xbf  \n" + array({"instruction": "a", "output": "b"}, OK))
    call_command("import_dataset", str(good), "--owner", "owner")
    assert "Imported 2 items" in capsys.readouterr().out
    assert [(i.prompt, i.reference) for i in Item.objects.order_by("index")] == [
        ("a", "b"),
        ("ok", ""),
    ]
    bad = tmp_path / "bad.json"
    bad.write_bytes(array(OK, {"instruction": ""}))
    with pytest.raises(CommandError, match=r"1 bad element:\n  element 1: no prompt"):
        call_command("import_dataset", str(bad), "--owner", "owner")
    assert Dataset.objects.count() == 1


def test_a_huge_element_is_refused_without_being_held(tmp_path):
    # one 200 MB text: the parser must not hold it whole before its size is known
    path = tmp_path / "huge.json"
    with path.open("wb") as out:
        out.write(b'[{"prompt": "hi"}, {"prompt": "')
        for _ in range(200):
            out.write(b"h" * 2**20)
        out.write(b'"}]')
    database = migrate(tmp_path / "child.sqlite3")
    growth, said = import_in_child(path, database, ("ijson",), IMPORT_MAX_FIELD_BYTES=str(FIELD))
    assert int(growth) < 32 * 2**20, f"{int(growth) / 2**20:.0f} MB for an element of 200 MB"
    assert said == (
        "element 1: the element is longer than 163,840 bytes (16 × setting IMPORT_MAX_FIELD_BYTES)"
    )


def test_the_import_form_lists_the_formats_once(owner_client):
    page = html.unescape(owner_client.get("/datasets/").content.decode())
    text = re.sub(r"<[^>]+>", "", page)
    assert text.count("Parquet") == 1
    assert "A JSON array of records (.json), JSON lines (.jsonl, .ndjson or .json)" in text
    assert "an array's element by its index (from 0)" in text
