"""Issue 18 items 2 and 3: the seed analysis' production table (10,000 queries a day x 100
output tokens), projected from configurations priced each way: a hosted API per token, a vLLM
server on a rented A10 paid by the hour 24/7, the same server serverless (per second of use),
and MLX on a Mac the team owns, which costs just its electricity. Every expected figure is
worked out by hand in the comments."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import Client

from inference.actions import save_model_config
from inference.models import ModelConfig, Price
from inference.pricing import generation_cost
from tests.stats.test_projection_scenarios import (
    MEASURED,
    SHOWN,
    csv_rows,
    figure,
    measured,
    only_haiku_price,
    shown_usd,
)

pytestmark = pytest.mark.django_db

DAILY = "queries=10000&per_day=on&always_on=on&input_tokens=200&output_tokens=100&unrun=on"


@pytest.fixture
def table(owner):
    # The API: list price $1 per 1M input tokens, $5 per 1M output tokens.
    only_haiku_price()
    # A price row for the vLLM model too: a configuration priced by the hour ignores it.
    Price.objects.create(
        backend="openai",
        model="qwen2.5-7b",
        input_per_mtok=Decimal(100),
        output_per_mtok=Decimal(100),
        effective_from=date(2025, 11, 1),
    )
    # Hosted API and A10 both 0.5 s + 99 / 49.5 = 2.5 s a query (~50 tok/s, the analysis' A10).
    measured(owner, "api", "anthropic", "claude-haiku-4-5")
    a10 = dict(backend="openai", model="qwen2.5-7b", ttft=0.5, tps=49.5)
    measured(owner, "a10-24/7", **a10, pricing="dedicated", hourly_usd=Decimal("0.60"))
    measured(
        owner,
        "a10-serverless",
        **a10,
        pricing="serverless",
        hourly_usd=Decimal("1.10"),
        cold_start_s=30.0,
        min_billed_s=3.0,
    )
    # MLX at 12.5 tok/s: 0.08 s + 99 / 12.5 = 8 s a query. The Mac is owned (hourly price 0)
    # and draws 40 W at $0.30 per kWh.
    measured(
        owner,
        "mlx-mac",
        "mlx",
        "/models/qwen",
        ttft=0.08,
        tps=12.5,
        hourly_usd=Decimal("0"),
        power_watts=40.0,
        kwh_usd=Decimal("0.30"),
    )


def test_the_production_table_from_configurations_priced_each_way(owner_client, table):
    rows = csv_rows(owner_client, DAILY)
    api, a10, serverless, mlx = (rows[n] for n in ("api", "a10-24/7", "a10-serverless", "mlx-mac"))
    # API per token: 200 x $1/1M + 100 x $5/1M = $0.0007 a query; x 10,000 = $7.00 a day,
    # x 30 = $210 a month.
    assert api["pricing"] == "token"
    assert float(api["cost_usd"]) == pytest.approx(7.00)
    assert float(api["cost_per_month_usd"]) == pytest.approx(210.0)
    # A10 dedicated: $0.60 x 24 = $14.40 a day, x 30 = $432 a month, whatever the price table
    # says of its model (per token it would be 300 x $100/1M x 10,000 = $300 a day).
    assert a10["pricing"] == "dedicated"
    assert float(a10["cost_usd"]) == pytest.approx(14.40)
    assert float(a10["cost_per_month_usd"]) == pytest.approx(432.0)
    # 10,000 x 2.5 s = 25,000 s = 6.94 h of work a day: it fits.
    assert a10["fits"] == "True"
    # Break-even against the API: $14.40 / $0.0007 = 20,571.4, so above 20,572 queries a day.
    assert a10["break_even_queries_per_day"] == "20572"
    assert a10["break_even_against"] == "api"
    # It carries 10,000 x 20 h / 6.944 h = 28,800 queries a day, above the break-even.
    assert int(a10["capacity_queries_per_day"]) == pytest.approx(28800, rel=MEASURED)
    # Serverless at $1.10 per hour of use: 25,000 s of work; the minimum, 10,000 x 3 s =
    # 30,000 s, is more, so 30,000 s + one 30 s cold start = 30,030 s = 8.342 h billed,
    # x $1.10 = $9.176 a day, x 30 = $275.28 a month.
    assert serverless["pricing"] == "serverless"
    assert float(serverless["serverless_billed_hours"]) == pytest.approx(30030 / 3600)
    assert float(serverless["cost_usd"]) == pytest.approx(9.1758, rel=1e-4)
    assert float(serverless["cost_per_month_usd"]) == pytest.approx(275.275, rel=1e-4)
    assert serverless["break_even_queries_per_day"] == ""  # paid per use: no fixed day
    # MLX: 10,000 x 8 s = 80,000 s = 22.2 h a day: not feasible (more than 20 h a day).
    assert float(mlx["hours"]) == pytest.approx(80000 / 3600, rel=MEASURED)
    assert mlx["fits"] == "False"
    # Just electricity: 40 W = 0.04 kW x 22.22 h x $0.30 = $0.2667 a day (under $1); the
    # hardware, owned, $0.
    assert float(mlx["hardware_cost_usd"]) == 0
    assert float(mlx["electricity_cost_usd"]) == pytest.approx(0.26667, rel=MEASURED)
    assert float(mlx["cost_usd"]) == pytest.approx(0.26667, rel=MEASURED)

    # The page says the same.
    assert figure(owner_client, DAILY, "api", "cost-month") == "$210"
    assert figure(owner_client, DAILY, "a10-24/7", "cost-month") == "$432"
    shown = figure(owner_client, DAILY, "a10-24/7", "break-even")
    assert shown == "cheaper than api above 20,572 queries a day"
    assert figure(owner_client, DAILY, "mlx-mac", "feasible").endswith("a day: not feasible")
    assert shown_usd(figure(owner_client, DAILY, "mlx-mac", "electricity")) == pytest.approx(
        0.27, rel=SHOWN
    )
    assert "just electricity" in figure(owner_client, DAILY, "mlx-mac", "local")
    # Cheapest among those that can carry the day: the API at $7.00 (MLX is cheaper but not
    # feasible).
    page = owner_client.get(f"/stats/?{DAILY}").content.decode()
    table_html = page[page.index('data-testid="projection"') :]
    api_row = table_html[table_html.index("<tr><td>api</td>") :]
    assert "cheapest" in api_row[: api_row.index("</tr>")]
    # The statistics' cost table says how each is priced.
    cost_table = page[page.index('data-testid="stats-cost"') :]
    for name, said in (("a10-24/7", "dedicated, by the hour"), ("a10-serverless", "serverless")):
        row = cost_table[cost_table.index(f"<strong>{name}</strong>") :]
        assert said in row[: row.index("</tr>")]


def test_a_generation_is_priced_as_its_configuration_says(owner, table):
    result = SimpleNamespace(
        timing=SimpleNamespace(latency_s=2.0),
        concurrency=1,
        prompt_tokens=200,
        output_tokens=100,
        cache_read_tokens=None,
        cache_write_tokens=None,
    )
    price = Price.objects.get(model="qwen2.5-7b")
    a10 = ModelConfig.objects.get(name="a10-24/7").params()
    # Dedicated: 2 s of a $0.60/h machine = $0.000333, not the price row's $0.03.
    assert generation_cost(price, a10, result) == pytest.approx(Decimal("0.60") * 2 / 3600)
    serverless = ModelConfig.objects.get(name="a10-serverless").params()
    # Serverless: billed at least 3 s: $1.10 x 3 / 3,600 = $0.000917.
    assert generation_cost(None, serverless, result) == pytest.approx(Decimal("1.10") * 3 / 3600)
    mac = ModelConfig.objects.get(name="mlx-mac").params()
    # Owned Mac: 2 s x 0.04 kW x $0.30 / 3,600 = $0.00000667 of electricity.
    assert generation_cost(None, mac, result) == pytest.approx(Decimal("0.012") * 2 / 3600)


FORM = {"batch_size": 8, "concurrency": 8, "max_tokens": 16, "backend": "openai", "model": "m"}


def test_bad_pricing_is_refused_clearly_on_the_page_and_the_api(owner):
    client = Client()
    client.force_login(owner)
    cases = [
        ({"pricing": "token", "power_watts": "-5", "kwh_usd": "0.3"}, "cannot be negative"),
        ({"pricing": "serverless", "cold_start_s": "30"}, "Serverless pricing needs its rate"),
        ({"pricing": "dedicated"}, "Dedicated pricing needs the machine&#x27;s price per hour"),
        ({"pricing": "token", "power_watts": "40"}, "needs both the power draw"),
    ]
    for fields, message in cases:
        page = client.post("/models/new/", {**FORM, "name": "bad", **fields})
        assert page.status_code == 400 and message in page.content.decode(), fields
        payload = {"name": "bad", "backend": "openai", "model": "m", **fields}
        api = client.post("/api/models", json.dumps(payload), content_type="application/json")
        assert api.status_code == 422, (fields, api.content)
        detail = str(api.json()["detail"])
        assert message.replace("&#x27;", "'") in detail or "greater than or equal" in detail
    assert not ModelConfig.objects.filter(name="bad").exists()
    good = {
        "name": "modal",
        "backend": "openai",
        "model": "m",
        "pricing": "serverless",
        "hourly_usd": "1.10",
        "cold_start_s": 30,
        "min_billed_s": 3,
    }
    api = client.post("/api/models", json.dumps(good), content_type="application/json")
    assert api.status_code == 201, api.content
    assert api.json()["pricing"] == "serverless" and api.json()["min_billed_s"] == 3


def test_a_hybrid_is_projected_from_its_two_legs(owner, owner_client, table):
    """Issue 18, item 1: "80% local overnight, 20% API", from a routed configuration."""
    configs = {c.name: c for c in ModelConfig.objects.all()}
    for name, primary, share in (("hybrid", "mlx-mac", 0.2), ("a10-hybrid", "a10-24/7", 0.2)):
        fields = {"name": name, "backend": "mlx", "model": "-", "route_share": share}
        save_model_config(
            owner,
            None,
            {**fields, "route_primary": configs[primary], "route_fallback": configs["api"]},
        )
    rows = csv_rows(owner_client, DAILY)
    hybrid = rows["hybrid"]
    # MLX takes 80% = 8,000 queries x 8 s = 64,000 s = 17.78 h; the API 20% = 2,000 x 2.5 s
    # = 5,000 s = 1.39 h, side by side: 17.78 h a day, which fits (MLX alone, 22.2 h, does not).
    assert float(hybrid["hours"]) == pytest.approx(64000 / 3600, rel=MEASURED)
    assert hybrid["fits"] == "True" and rows["mlx-mac"]["fits"] == "False"
    # Cost: the API's 2,000 x $0.0007 = $1.40, plus MLX's electricity, 0.04 kW x 17.78 h x
    # $0.30 = $0.2133: $1.6133 a day, $48.40 a month.
    assert float(hybrid["electricity_cost_usd"]) == pytest.approx(0.21333, rel=MEASURED)
    assert float(hybrid["cost_usd"]) == pytest.approx(1.40 + 0.21333, rel=MEASURED)
    assert float(hybrid["cost_per_month_usd"]) == pytest.approx(48.40, rel=MEASURED)
    assert "the longer of its legs" in hybrid["time_basis"]
    assert "the sum of its legs" in hybrid["cost_basis"]
    # A dedicated A10 is paid in full whatever its share: $14.40 + $1.40 = $15.80 a day.
    assert float(rows["a10-hybrid"]["cost_usd"]) == pytest.approx(15.80)
    # The page shows the row.
    assert figure(owner_client, DAILY, "a10-hybrid", "cost-month") == "$474"
