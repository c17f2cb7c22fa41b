"""Pages number items and samples from 1, as people count; the stored indexes (from 0), the
API and exports keep theirs."""

from __future__ import annotations

import re

import pytest

from inference.actions import create_run
from inference.models import Generation
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(owner, mlx_config, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return create_run(owner, make_dataset(owner, 3).pk, mlx_config.pk, samples_per_prompt=2)


def _first(run) -> Generation:
    """The output stored as item 0, sample 0."""
    return run.generations.get(item__index=0, sample_index=0)


def test_the_dataset_page_numbers_items_from_one(owner_client, run):
    page = owner_client.get(f"/datasets/{run.dataset_id}/").content.decode()
    shown = re.findall(r'title="The item, with every output">(\d+)</a>', page)
    assert shown == ["1", "2", "3"]


def test_an_item_and_an_output_page_say_item_1_sample_1(owner_client, run):
    first = _first(run)
    item = owner_client.get(f"/datasets/items/{first.item_id}/").content.decode()
    assert "<h1>Item 1" in item and "Item 0" not in item
    assert f"run {run.pk}</a>, sample 1" in item and f"run {run.pk}</a>, sample 2" in item
    output = owner_client.get(f"/generations/{first.pk}/").content.decode()
    assert re.search(r"<h1>Item 1, sample 1\b", output)


def test_the_outputs_list_counts_from_one(owner_client, run):
    page = owner_client.get(f"/runs/{run.pk}/generations/").content.decode()
    rows = re.findall(
        r'<a href="/generations/\d+/">(\d+)</a></td>\s*<td class="num">(\d+)</td>', page
    )
    assert sorted(rows) == [(str(i), str(s)) for i in (1, 2, 3) for s in (1, 2)]


def test_the_api_keeps_the_stored_indexes(owner_client, run):
    body = owner_client.get(f"/api/runs/{run.pk}/generations").json()
    first = _first(run)
    got = next(g for g in body["items"] if g["id"] == first.pk)
    assert got["sample_index"] == 0
