from __future__ import annotations

import io
import json
import tracemalloc

import pytest

from annotate.datasets.importing import ImportFailed, import_dataset, parse_record
from annotate.datasets.models import Dataset, Item

pytestmark = pytest.mark.django_db


def jsonl(*records) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())


def test_it_maps_a_plain_prompt_and_keeps_unknown_fields_as_metadata():
    item = parse_record(
        {
            "prompt": "Hi",
            "system": "Be brief",
            "id": 7,
            "lang": "en",
            "metadata": {"src": "x"},
            "reference": "Hello",
        }
    )
    assert item.messages == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert item.reference == "Hello"
    assert item.external_id == "7"
    assert item.metadata == {"src": "x", "lang": "en"}


def test_it_takes_a_final_assistant_turn_as_the_reference():
    item = parse_record(
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}
    )
    assert item.messages == [{"role": "user", "content": "2+2?"}]
    assert item.reference == "4"


def test_it_maps_alpaca_and_sharegpt():
    alpaca = parse_record({"instruction": "Translate", "input": "chat", "output": "cat"})
    assert alpaca.prompt == "Translate\n\nchat"
    assert alpaca.reference == "cat"
    sharegpt = parse_record(
        {"conversations": [{"from": "human", "value": "Hey"}, {"from": "gpt", "value": "Hello"}]}
    )
    assert sharegpt.messages == [{"role": "user", "content": "Hey"}]
    assert sharegpt.reference == "Hello"


def test_a_bad_line_names_its_number_and_nothing_is_imported(owner):
    stream = io.BytesIO(
        b'{"prompt": "ok"}\n\n{"prompt": "ok too"}\n{"prompt": \n'
        b'{"messages": [{"role": "bot", "content": "x"}]}\n{"text": "no prompt"}\n'
    )
    with pytest.raises(ImportFailed) as failed:
        import_dataset(stream, "p.jsonl", "bad", owner)
    assert failed.value.errors[0].startswith("line 4: not valid JSON")
    assert (
        "line 5: `messages[0].role` must be one of system, user, assistant, not 'bot'"
        in failed.value.errors
    )
    assert failed.value.errors[2].startswith("line 6: no prompt")
    assert not Dataset.objects.exists()
    assert not Item.objects.exists()


def test_it_imports_csv_with_json_cells_and_metadata_columns(owner):
    data = b'prompt,reference,topic\n"Sort, then ""dedupe""",done,lists\nSecond,,misc\n'
    dataset = import_dataset(io.BytesIO(data), "p.csv", "", owner)
    items = list(dataset.items.order_by("index"))
    assert [i.prompt for i in items] == ['Sort, then "dedupe"', "Second"]
    assert items[0].reference == "done"
    assert items[1].metadata == {"topic": "misc"}
    assert dataset.name == "p.csv"
    chat = b'messages\n"[{""role"": ""user"", ""content"": ""hi""}]"\n"not json"\n'
    with pytest.raises(ImportFailed, match="line 3: `messages` cell is not valid JSON"):
        import_dataset(io.BytesIO(chat), "c.csv", "", owner)


def test_it_refuses_an_empty_file_and_bad_encoding(owner):
    with pytest.raises(ImportFailed, match="no items"):
        import_dataset(io.BytesIO(b"\n\n"), "empty.jsonl", "", owner)
    with pytest.raises(ImportFailed, match="line 2: not UTF-8"):
        import_dataset(io.BytesIO(b'{"prompt": "a"}\n{"prompt": "\xff"}\n'), "x.jsonl", "", owner)
    with pytest.raises(ImportFailed, match="unknown file type"):
        import_dataset(io.BytesIO(b"x"), "x.txt", "", owner)


def test_it_imports_100k_lines_without_holding_the_file_in_memory(owner, tmp_path):
    path = tmp_path / "big.jsonl"
    filler = "x" * 300
    with path.open("w") as f:
        for i in range(100_000):
            f.write(json.dumps({"prompt": f"Prompt {i} {filler}", "k": i}) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    with path.open("rb") as stream:
        dataset = import_dataset(stream, path.name, "big", owner)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert dataset.items.count() == 100_000
    assert dataset.items.get(index=99_999).metadata == {"k": 99_999}
    # Batches of 2,000 rows at a time: far below the 30+ MB file.
    assert peak < size / 4, (peak, size)


def test_a_nul_character_is_a_line_error_not_a_database_error(owner):
    stream = io.BytesIO(b'{"prompt": "ok"}\n{"prompt": "bad \\u0000 byte"}\n')
    with pytest.raises(ImportFailed, match="line 2: contains a NUL character"):
        import_dataset(stream, "nul.jsonl", "nul", owner)
    assert not Dataset.objects.exists()


def test_oversized_prompts_and_files_are_refused_with_the_setting_named(
    owner, owner_client, settings
):
    settings.PROMPT_MAX_CHARS = 1000
    stream = jsonl({"prompt": "fine"}, {"prompt": "x" * 1001})
    with pytest.raises(ImportFailed) as failed:
        import_dataset(stream, "big.jsonl", "big", owner)
    assert failed.value.errors == [
        "line 2: the prompt is 1,001 characters, over the limit of 1,000 (setting PROMPT_MAX_CHARS)"
    ]
    settings.IMPORT_MAX_BYTES = 100
    body = b'{"prompt": "a prompt that is fine"}\n' * 5
    api = owner_client.post("/api/datasets", {"file": io.BytesIO(body)}, format="multipart")
    assert api.status_code == 413
    assert api.json()["detail"] == (
        "The file is larger than the 100 bytes limit (setting IMPORT_MAX_BYTES)."
    )
    upload = io.BytesIO(body)
    upload.name = "p.jsonl"
    page = owner_client.post("/datasets/import/", {"file": upload})
    assert page.status_code == 400
    assert "larger than the 100 bytes limit" in page.content.decode()
    assert not Dataset.objects.exists()
