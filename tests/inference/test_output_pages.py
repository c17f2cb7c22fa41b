"""A run's outputs, walked a page at a time by keyset (`?after=`), through the API and
the page."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from annotate.accounts.models import ApiToken
from inference.actions import create_run
from inference.models import Generation, GenerationStatus
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(owner, mlx_config, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, 7).pk, mlx_config.pk, samples_per_prompt=3)
    ids = list(run.generations.order_by("pk").values_list("pk", flat=True))
    Generation.objects.filter(pk__in=ids[::2]).update(status=GenerationStatus.DONE)
    return run


def walk_api(client, url: str, limit: int) -> tuple[list[int], list]:
    ids, counts, after = [], [], None
    while True:
        page = client.get(url + f"limit={limit}" + (f"&after={after}" if after else ""))
        assert page.status_code == 200, page.content
        body = page.json()
        ids += [g["id"] for g in body["items"]]
        counts.append(body["count"])
        if body["next"] is None:
            return ids, counts
        assert body["next"] == ids[-1]
        after = body["next"]


def item_order(run, **filters) -> list[int]:
    gens = Generation.objects.filter(run=run, **filters).order_by("item__index", "sample_index")
    return list(gens.values_list("pk", flat=True))


def test_pages_walked_by_after_return_every_output_once_in_item_order(owner_client, run):
    ids, counts = walk_api(owner_client, f"/api/runs/{run.pk}/generations?", limit=4)
    assert ids == item_order(run) and len(ids) == 21
    assert counts == [21] * 6  # the run's stored total, on every page


def test_a_status_filter_walks_by_after_and_counts_on_the_first_page_only(owner_client, run):
    url = f"/api/runs/{run.pk}/generations?status=done&"
    ids, counts = walk_api(owner_client, url, limit=5)
    assert ids == item_order(run, status=GenerationStatus.DONE) and len(ids) == 11
    assert counts == [11, None, None]


def test_a_page_past_the_end_is_empty(owner_client, run):
    last = run.generations.order_by("pk").last().pk
    body = owner_client.get(f"/api/runs/{run.pk}/generations?after={last}").json()
    assert body["items"] == [] and body["next"] is None


def test_a_bad_cursor_is_a_422(owner_client, run):
    base = f"/api/runs/{run.pk}/generations"
    for query in ("after=abc", "after=-3", "after=0", f"after={2**64}", "after=1&offset=2"):
        response = owner_client.get(f"{base}?{query}")
        assert response.status_code == 422, query
        assert "detail" in response.json()


def test_offset_pages_still_work(owner_client, run):
    body = owner_client.get(f"/api/runs/{run.pk}/generations?limit=5&offset=5").json()
    order = item_order(run)
    assert [g["id"] for g in body["items"]] == order[5:10]
    assert body["count"] == 21 and body["next"] == order[9]


def test_an_outsider_cannot_list_outputs(client, outsider, run):
    client.force_login(outsider)
    assert client.get(f"/api/runs/{run.pk}/generations").status_code == 403
    assert client.get(f"/runs/{run.pk}/generations/").status_code == 403


def page_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="/generations/(\d+)/"><', html)]


def test_the_page_walks_by_after_link(
    owner_client, owner, mlx_config, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # 60 outputs: pages of 50 and 10
        with_more = create_run(owner, make_dataset(owner, 20).pk, mlx_config.pk, 3)
    url, ids = f"/runs/{with_more.pk}/generations/", []
    while url:
        html = owner_client.get(url).content.decode()
        ids += page_ids(html)
        found = re.search(r'href="\?(after=\d+)">Next', html)
        url = f"/runs/{with_more.pk}/generations/?{found[1]}" if found else None
    assert ids == item_order(with_more) and len(ids) == 60
    assert "60 outputs" in html


def test_the_page_refuses_a_bad_cursor(owner_client, run):
    response = owner_client.get(f"/runs/{run.pk}/generations/?after=x")
    assert response.status_code == 400


def test_a_script_with_a_token_gets_each_output_as_stored(
    client, owner, run, django_assert_max_num_queries
):
    """Every field of a page is the stored one (read back from the database here); the text
    comes as UTF-8, byte for byte; a request reads the token, the run, the manager permission
    (Django's two reads) and the page, whatever its length."""
    first = run.generations.order_by("pk").first()
    text = 'Grüße — 答え, "quoted"\n\ttabbed'
    finished = timezone.now().replace(microsecond=123456)
    Generation.objects.filter(pk=first.pk).update(
        output=text, ttft_s=0.25, latency_s=1.5, cost_usd=0.000125, finished_at=finished
    )
    _, secret = ApiToken.issue(owner, "script")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    url = f"/api/runs/{run.pk}/generations?limit=4"
    client.get(url)  # the token's first use is written once
    with django_assert_max_num_queries(5):
        response = client.get(url)
    assert response.status_code == 200
    assert json.dumps(text, ensure_ascii=False).encode() in response.content
    items = response.json()["items"]
    stored = Generation.objects.filter(pk__in=[g["id"] for g in items]).order_by("pk")
    columns = [name for name in items[0] if name != "finished_at"]
    expected = [
        {**row, "cost_usd": None if row["cost_usd"] is None else float(row["cost_usd"])}
        for row in stored.values(*columns)  # a Decimal column, a JSON number
    ]
    assert [{k: g[k] for k in columns} for g in items] == expected
    # Django's JSON datetime: milliseconds, UTC as "Z"
    assert items[0]["finished_at"] == "{}.123Z".format(finished.strftime("%Y-%m-%dT%H:%M:%S"))
