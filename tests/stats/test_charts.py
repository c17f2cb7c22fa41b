"""Issue 16: the Speed & cost page's chart data (the JSON its script draws) against a recount
from the database with numpy, and its number formats."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pytest

from annotate.labeling.models import Annotation
from annotate.web.templatetags.annotate_tags import human
from inference.models import Generation, GenerationStatus
from tests.support.stats_seed import seed_speed_and_cost

pytestmark = pytest.mark.django_db


def chart_data(client) -> dict:
    html = client.get("/stats/").content.decode()
    found = re.search(r'<script id="chart-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found[1])


def test_the_chart_data_is_a_recount_of_the_database(owner, owner_client):
    haiku = seed_speed_and_cost(owner)["haiku"]
    data = chart_data(owner_client)
    done = Generation.objects.filter(run__model_config=haiku, status=GenerationStatus.DONE)
    rows = list(done.values_list("ttft_s", "latency_s", "decode_tps", "output_tokens", "cost_usd"))
    ttft, latency, decode, tokens, cost = (
        np.array(c, dtype=float) for c in zip(*rows, strict=True)
    )

    [model] = [m for m in data["models"] if m["label"].startswith("claude-haiku")]
    key = model["key"]
    mine = {name: [d for d in data[name] if d["key"] == key] for name in data if name != "models"}
    speed = {d["measure"]: d for d in mine["speed"]}
    assert set(speed) == {"API streaming", "API end-to-end"}  # never called "decode"
    assert speed["API streaming"]["n"] == len(rows)
    # Percentiles of stored measurements come from sketches within 0.5% (annotate/stats/sketch.py)
    assert speed["API streaming"]["p50"] == pytest.approx(np.median(decode), rel=0.005)
    assert speed["API end-to-end"]["p50"] == pytest.approx(np.median(tokens / latency), rel=0.005)
    assert speed["API end-to-end"]["p95"] == pytest.approx(
        np.percentile(tokens / latency, 95), rel=0.005
    )
    [box] = mine["ttft"]
    assert box["n"] == len(rows)
    for p in (5, 25, 50, 75, 95):
        assert box[f"p{p}"] == pytest.approx(np.percentile(ttft, p), rel=0.005)

    # Cost per 1k queries against each quality metric, from the labels themselves.
    labels = Annotation.objects.filter(task__generation__run__model_config=haiku)
    ratings = [a.answers["quality"] for a in labels if "quality" in a.answers]
    [rated] = mine["cost_rating"]
    assert rated["cost_1k"] == pytest.approx(cost.mean() * 1000)
    assert rated["cost_n"] == len(rows)
    assert rated["quality"] == pytest.approx(np.mean(ratings)) and rated["n"] == len(ratings)
    assert [d["key"] for d in mine["cost_win"]] == [key]

    # Throughput: each run's output tokens over its first start to last finish, per setting.
    per_setting = defaultdict(list)
    for run in haiku.runs.all():
        gens = list(run.generations.filter(status=GenerationStatus.DONE))
        span = max(g.finished_at for g in gens) - min(g.started_at for g in gens)
        tps = sum(g.output_tokens for g in gens) / span.total_seconds()
        per_setting[run.params["concurrency"]].append(tps)
    assert {d["in_flight"]: d["tokens_per_s"] for d in mine["throughput"]} == pytest.approx(
        {k: float(np.median(v)) for k, v in per_setting.items()}
    )
    points = {(d["tokens"], d["latency_s"]) for d in mine["latency"]}
    assert len(mine["latency"]) == min(len(rows), 200)
    assert points <= set(zip(tokens.astype(int).tolist(), latency.tolist(), strict=True))


def test_every_model_has_one_colour_and_the_unpriced_one_is_off_the_cost_charts(
    owner, owner_client
):
    configs = seed_speed_and_cost(owner)
    data = chart_data(owner_client)
    colours = [m["color"] for m in data["models"]]
    assert len(set(colours)) == len(colours) == 4
    house = next(m["key"] for m in data["models"] if m["label"].startswith("house-vllm"))
    assert house not in {d["key"] for d in data["cost_rating"] + data["cost_win"]}
    html = owner_client.get("/stats/").content.decode()
    unpriced = re.search(r'data-testid="unpriced">(.*?)</p>', html, re.S)[1]
    assert "house-vllm" in unpriced and "no price" in unpriced
    missing = re.search(r'data-testid="missing-win">(.*?)</p>', html, re.S)[1]
    assert "gpt-mini" in missing and "no comparison votes yet" in missing
    # Every priced model was rated: all three on the rating chart, hosted ones included.
    assert 'data-testid="missing-rating"' not in html and len(data["cost_rating"]) == 3
    assert {d["key"].split(":")[0] for d in data["cost_rating"]} == {
        str(configs[name].pk) for name in ("local", "haiku", "mini")
    }


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.35, "s", "350 ms"),
        (1.234, "s", "1.23 s"),
        (1234.5, "tok/s", "1.2k tok/s"),
        (21909.0, "tok/s", "22k tok/s"),
        (0.0017, "usd", "$0.0017"),
        (0.0000017, "usd", "$0.0000017"),
        (1.7, "usd", "$1.70"),
        (0.4, "usd", "$0.40"),
        (2500.0, "usd", "$2.5k"),
        (0.42, "pct", "42%"),
        (None, "usd", "—"),
    ],
)
def test_figures_read_as_people_write_them(value, unit, shown):
    assert human(value, unit) == shown
