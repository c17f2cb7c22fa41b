"""A model without a price costs "no price", never $0: not cheapest, not on the cost axis.

Two hosted models run through the real SDK against a local Anthropic-speaking server: one
with a price row, one (an in-house model) without; and the local demo model, with no hourly
price set. Costs are recounted from the database, then read on the page, the CSV and the API.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest
from django.db import connection

from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import ModelConfig
from inference.runner import process_run
from tests.conftest import join, make_dataset
from tests.support.fake_anthropic import FakeAnthropic

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_prices")]
PRICED, UNPRICED = "claude-haiku-4-5", "claude-house-1"  # no price row matches the second
N = 4


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    with FakeAnthropic(api_key="sk-test", models=[PRICED, UNPRICED]) as server:
        yield server


def run_model(owner, config, callbacks):
    with callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, N).pk, config.pk)
    while process_run(run.pk, worker="acceptance") is not None:
        pass
    return run


def recount(run) -> tuple[Decimal | None, int, int]:
    """(sum of recorded costs, outputs with a cost, outputs without) straight from SQL."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT SUM(cost_usd), COUNT(cost_usd), COUNT(*) FROM annotate_generation"
            " WHERE run_id = %s AND status = 'done'",
            [run.pk],
        )
        total, priced, done = cursor.fetchone()
    return (None if total is None else Decimal(str(total))), priced, done - priced


def rate_every_output(client, project, annotator, ratings: dict[str, int]):
    client.force_login(annotator)
    while (held := client.post(f"/api/projects/{project.pk}/next")).status_code == 200:
        task = held.json()
        answers = {"quality": ratings[task["models"][0]], "correct": "pass"}
        url = f"/api/projects/{project.pk}/tasks/{task['task_id']}/label"
        assert (
            client.post(url, {"answers": answers}, content_type="application/json").status_code
            == 200
        )


def test_an_unpriced_model_is_never_free_nor_cheapest(
    client, owner, annotator, mlx_config, server, django_capture_on_commit_callbacks
):
    hosted = dict(backend="anthropic", base_url=server.url, max_tokens=32, owner=owner)
    priced = ModelConfig.objects.create(name="haiku", model=PRICED, **hosted)
    unpriced = ModelConfig.objects.create(name="house", model=UNPRICED, **hosted)
    runs = {
        c.name: run_model(owner, c, django_capture_on_commit_callbacks)
        for c in (priced, unpriced, mlx_config)
    }
    # The truth, from the database: the priced model's outputs cost something; the others
    # recorded no cost at all (NULL), not $0.
    haiku_total, haiku_priced, _ = recount(runs["haiku"])
    assert haiku_total > 0 and haiku_priced == N
    assert recount(runs["house"]) == (None, 0, N)
    assert recount(runs["demo"]) == (None, 0, N)

    project = Project.objects.create(
        name="Quality", owner=owner, questions=DEFAULT_QUESTIONS, blind=False
    )
    project.runs.add(*runs.values())
    sync_tasks(project)
    join(project, annotator)
    rate_every_output(client, project, annotator, {"haiku": 3, "house": 5, "demo": 4})

    client.force_login(owner)
    rows = {r["model_config"]: r for r in client.get("/api/stats").json()}
    assert rows["haiku"]["total_cost_usd"] == pytest.approx(float(haiku_total))
    assert rows["haiku"]["cost_per_query_usd"] == pytest.approx(float(haiku_total) / N)
    assert rows["haiku"]["unpriced_generations"] == 0
    for name in ("house", "demo"):
        row = rows[name]
        assert row["mean_rating"] is not None  # rated, so only the price keeps it off the chart
        assert row["unpriced_generations"] == N
        assert row["total_cost_usd"] is None and row["cost_per_query_usd"] is None
        assert row["cost_per_1m_output_usd"] is None and row["cost_per_1m_input_usd"] is None
    table = {
        r["model_config"]: r
        for r in csv.DictReader(io.StringIO(client.get("/stats.csv").content.decode()))
    }
    assert table["house"]["total_cost_usd"] == "" and table["house"]["cost_per_query_usd"] == ""
    assert float(table["haiku"]["total_cost_usd"]) == pytest.approx(float(haiku_total))

    page = client.get("/stats/?queries=1000&input_tokens=100&output_tokens=50").content.decode()
    # The projection: the priced model is the cheapest; the others say "no price" with a link
    # to where a manager sets one (the configuration's hourly price).
    projection = page[page.index('id="projection"') :]
    cells = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", projection, re.S))
    assert "cheapest</span>" in cells["haiku"]
    for name, config in (("house", unpriced), ("demo", mlx_config)):
        assert "cheapest" not in cells[name]
        assert f'no price — <a href="/models/{config.pk}/edit/">set one</a>' in cells[name]
    # The chart (its data, drawn by static/annotate/stats.js): a point for the priced model
    # only; the others are named beside it.
    data = json.loads(
        re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    names = {m["key"]: m["label"].split(" · ")[0] for m in data["models"]}
    assert [names[p["key"]] for p in data["cost_rating"]] == ["haiku"]
    unlisted = re.search(r'data-testid="unpriced">(.*?)</p>', page, re.S)[1]
    assert "house" in unlisted and "demo" in unlisted

    # Staff are sent to the admin's new price form, filled in for the hosted model.
    owner.is_staff = True
    owner.save()
    page = client.get("/stats/").content.decode()
    add = f"/admin/annotate/price/add/?backend=anthropic&amp;model={UNPRICED}"
    assert f'no price — <a href="{add}">set one</a>' in page
    form = client.get(f"/admin/annotate/price/add/?backend=anthropic&model={UNPRICED}")
    assert f'value="{UNPRICED}"' in form.content.decode()
