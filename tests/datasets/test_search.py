"""Searching a dataset's items (datasets.search.search_items) from the dataset page: words of
the prompt or metadata, or `key=value`, a page at a time; long prompts open in place."""

from __future__ import annotations

import io
import json

import pytest

from annotate.datasets.importing import import_dataset
from annotate.datasets.models import Item
from annotate.datasets.search import search_items

pytestmark = pytest.mark.django_db

LONG = "Explain this log line. " + "word " * 200 + "THE-END"


@pytest.fixture
def dataset(owner):
    rows = [
        {"prompt": f"Sort a list, case {i}", "topic": "lists" if i % 2 else "sorting", "n": i}
        for i in range(120)
    ]
    rows += [
        {"prompt": "Parse a date", "topic": "dates", "n": 200, "flag": True},
        {"prompt": LONG, "topic": "logs", "n": 201},
    ]
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    return import_dataset(io.BytesIO(lines), "p.jsonl", "search me", owner)


def _indexes(found) -> list[int]:
    return [item.index for item in found]


def test_words_match_prompt_and_metadata_ignoring_case(dataset):
    everything = Item.objects.filter(dataset=dataset)
    assert _indexes(search_items(dataset, "")) == _indexes(everything.order_by("index"))
    assert _indexes(search_items(dataset, "PARSE a")) == [120]
    expected = [i.index for i in everything if "sorting" in json.dumps(i.metadata)]
    assert _indexes(search_items(dataset, "sorting")) == sorted(expected) and len(expected) == 60


def test_key_value_matches_one_metadata_value(dataset):
    assert _indexes(search_items(dataset, "n=201")) == [121]
    assert _indexes(search_items(dataset, "flag = true")) == [120]
    assert _indexes(search_items(dataset, "topic=dates")) == [120]
    assert _indexes(search_items(dataset, "topic=nothing")) == []
    # A key with lookup-like parts is a name, not a query: nothing found, no error.
    assert _indexes(search_items(dataset, "topic__contains=d")) == []


def test_the_dataset_page_searches_a_page_at_a_time(owner_client, dataset):
    url = f"/datasets/{dataset.pk}/"
    first = owner_client.get(url, {"q": "topic=lists"}).content.decode()
    matching = [i for i in dataset.items.all() if i.metadata.get("topic") == "lists"]
    assert f"{len(matching)} of {dataset.items.count()} items match" in first
    assert "Page 1 of 2" in first and "?q=topic%3Dlists&amp;page=2" in first
    second = owner_client.get(url, {"q": "topic=lists", "page": 2}).content.decode()
    assert "Sort a list, case 119" in second and "Sort a list, case 1<" not in second
    nothing = owner_client.get(url, {"q": "no such words"})
    assert nothing.status_code == 200 and "No items match." in nothing.content.decode()


def test_a_long_prompt_opens_in_place(owner_client, dataset):
    html = owner_client.get(f"/datasets/{dataset.pk}/", {"q": "log line"}).content.decode()
    assert '<details class="long">' in html and "THE-END" in html


def test_the_api_searches_the_same_way(owner_client, dataset):
    got = owner_client.get(f"/api/datasets/{dataset.pk}/items", {"q": "topic=dates"})
    assert got.status_code == 200
    assert [i["index"] for i in got.json()["items"]] == [120]
    words = owner_client.get(f"/api/datasets/{dataset.pk}/items", {"q": "PARSE"}).json()
    assert words["count"] == 1


@pytest.mark.parametrize(
    "query",
    ["=", "a=b=c", "n=1e999", "n=NaN", 'x"y=1', "$.topic=dates", "topic[0]=1", "a\x00b", "%", "_"],
)
def test_odd_searches_answer_a_page_not_an_error(owner_client, dataset, query):
    response = owner_client.get(f"/datasets/{dataset.pk}/", {"q": query})
    assert response.status_code == 200
    assert owner_client.get(f"/datasets/{dataset.pk}/matrix/", {"q": query}).status_code == 200
    api = owner_client.get(f"/api/datasets/{dataset.pk}/items", {"q": query})
    assert api.status_code == 200
