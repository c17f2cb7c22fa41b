"""Issue 18's projection gaps: one server paid three ways (per token, dedicated, serverless)
for the same measured figures with the break-evens between them, a what-if hybrid of any two
measured configurations, and a machine's idle draw. The configurations are
test_projection_pricing's table (10,000 queries a day of 200 input and 100 output tokens); every
expected figure is worked out by hand in the comments."""

from __future__ import annotations

import json
import re

import pytest

from annotate.stats.charts import ways_chart
from annotate.stats.figures import cached_model_stats
from annotate.stats.hybrid import NoHybrid, ask
from annotate.stats.projection import Workload, compare, unrun_prices
from inference.actions import save_model_config
from inference.errors import Invalid
from inference.models import ModelConfig
from tests.stats.test_projection_pricing import DAILY, table  # noqa: F401 (the fixture)
from tests.stats.test_projection_scenarios import MEASURED, csv_rows, text

pytestmark = pytest.mark.django_db

WORKLOAD = Workload(queries=10000, input_tokens=200, output_tokens=100, per_day=True)


def _ways(name: str):
    stats = cached_model_stats()
    result = compare(stats, WORKLOAD, unrun_prices(stats))
    return next(w for w in result["ways"] if w.row.name == name)


def _section(client, query: str, name: str) -> str:
    """The text of one configuration's "three ways to pay" block on the page."""
    page = client.get(f"/stats/?{query}").content.decode()
    block = re.search(
        rf'data-testid="ways" data-config="{re.escape(name)}">(.*?)</figure>', page, re.S
    )
    return text(block[1])


def test_a_dedicated_server_paid_three_ways(owner_client, table):  # noqa: F811
    paid = _ways("a10-24/7")
    # Per token at its own price row (qwen2.5-7b, $100 per 1M tokens either way):
    # 200 x $100/1M + 100 x $100/1M = $0.03 a query, x 10,000 = $300 a day.
    assert paid.token.cost == pytest.approx(300.0)
    assert paid.token_said == "its own price-table row (qwen2.5-7b)"
    # Dedicated: $0.60 x 24 = $14.40 a day.
    assert paid.dedicated.cost == pytest.approx(14.40)
    # Serverless at its hourly rate, no cold start nor minimum set (0 s, said so): 10,000 x
    # 2.5 s = 25,000 s = 6.944 h x $0.60 = $4.1667 a day.
    assert paid.serverless.cost == pytest.approx(4.16667, rel=MEASURED)
    billing = dict(paid.serverless.basis)["billing"]
    assert (
        "cold start 0 s, not set" in billing and "minimum billed a request 0 s, not set" in billing
    )
    evens = {key: q for key, (_, q) in paid.break_evens.items()}
    # Dedicated against per token: $14.40 / $0.03 = 480 queries a day.
    assert evens["dedicated_vs_token"] == 480
    # Dedicated against serverless at the same $0.60/h: $14.40 / ($0.60 x 2.5 s / 3,600 s)
    # = 34,560 queries a day (the machine busy all 24 hours).
    assert evens["dedicated_vs_serverless"] == pytest.approx(34560, rel=MEASURED)
    # Serverless has nothing to pay by the day here: cheaper than per token from the first query.
    assert evens["serverless_vs_token"] == 0
    # But one machine busy at most 20 h a day carries 20 h / 2.5 s = 28,800 queries: below
    # that break-even, so the sentence says a second machine would be needed.
    assert paid.capacity == pytest.approx(28800, rel=MEASURED)
    said = paid.break_evens["dedicated_vs_serverless"][0]
    assert said.endswith(f", more than one machine carries ({paid.capacity:,} a day)")
    assert "carries" not in paid.break_evens["dedicated_vs_token"][0]  # 480 is well within

    rows = csv_rows(owner_client, DAILY)
    a10 = rows["a10-24/7"]
    assert float(a10["as_per_token_cost_usd"]) == pytest.approx(300.0)
    assert float(a10["as_dedicated_cost_usd"]) == pytest.approx(14.40)
    assert float(a10["as_serverless_cost_usd"]) == pytest.approx(4.16667, rel=MEASURED)
    assert a10["break_even_dedicated_vs_token"] == "480"
    # A model priced per token has no three ways.
    assert (
        rows["api"]["as_dedicated_cost_usd"] == ""
        and rows["api"]["break_even_dedicated_vs_token"] == ""
    )

    shown = _section(owner_client, DAILY, "a10-24/7")
    assert "per token $300" in shown and "dedicated $14.40 $432" in shown
    assert "Dedicated is cheaper than per token above 480 queries a day" in shown
    assert "Serverless is cheaper than per token at any number of queries" in shown


def test_a_serverless_server_paid_three_ways_with_its_own_cold_start(owner_client, table):  # noqa: F811
    api = owner_client.get(f"/api/stats/projection?{DAILY.replace('=on', '=true')}").json()
    row = {r["model_config"]: r for r in api}["a10-serverless"]
    # Per token: its own price row, $300 a day (as above).
    assert row["as_per_token_cost_usd"] == pytest.approx(300.0)
    # Dedicated at its $1.10/h: x 24 = $26.40 a day.
    assert row["as_dedicated_cost_usd"] == pytest.approx(26.40)
    # Serverless as configured: 30,030 s billed x $1.10 / 3,600 = $9.1758 a day.
    assert row["as_serverless_cost_usd"] == pytest.approx(9.1758, rel=1e-4)
    assert row["as_serverless_cost_usd"] == row["cost_usd"]
    # Its lines: dedicated $26.40 a day and nothing a query; serverless one cold start,
    # 30 s x $1.10 / 3,600 = $0.0091667 a day, and each query billed its 3 s minimum (above
    # its 2.5 s), 3 x $1.10 / 3,600 = $0.00091667. Dedicated is cheaper above
    # ($26.40 - $0.0091667) / $0.00091667 = 28,800 - 10 = 28,790 queries a day.
    assert row["break_even_dedicated_vs_serverless"] == 28790
    # Dedicated against per token: $26.40 / $0.03 = 880.
    assert row["break_even_dedicated_vs_token"] == 880
    # Serverless against per token: $0.0091667 / ($0.03 - $0.00091667) = 0.315: above 1.
    assert row["break_even_serverless_vs_token"] == 1


def test_a_machine_without_a_price_row_is_compared_with_the_cheapest_per_token_model(
    owner_client,
    table,  # noqa: F811
):
    paid = _ways("mlx-mac")
    # No price row for /models/qwen: the cheapest per-token model compared, the API at
    # 10,000 x $0.0007 = $7.00 a day, named.
    assert paid.token.cost == pytest.approx(7.00)
    assert paid.token_said.endswith("the cheapest per-token model, api")
    # Owned (hourly 0): dedicated or serverless, just its electricity, 0.04 kW x 22.22 h x
    # $0.30 = $0.2667 a day.
    assert paid.dedicated.cost == pytest.approx(0.26667, rel=MEASURED)
    assert paid.serverless.cost == pytest.approx(0.26667, rel=MEASURED)
    assert "idle draw not counted (not set)" in dict(paid.dedicated.basis)["electricity"]
    said = {key: sentence for key, (sentence, _) in paid.break_evens.items()}
    assert said["dedicated_vs_serverless"] == "dedicated and serverless cost the same"
    assert (
        said["dedicated_vs_token"] == "dedicated is cheaper than per token at any number of queries"
    )
    assert "the cheapest per-token model, api" in _section(owner_client, DAILY, "mlx-mac")


def test_idle_draw_counts_for_a_machine_paid_all_day(owner_client, table):  # noqa: F811
    # The A10 draws 300 W working and 60 W idle, at $0.20 per kWh.
    ModelConfig.objects.filter(name="a10-24/7").update(
        power_watts=300, idle_watts=60, kwh_usd="0.20"
    )
    rows = csv_rows(owner_client, DAILY)
    a10 = rows["a10-24/7"]
    # Working 6.944 h: 0.3 kW x 6.944 h x $0.20 = $0.41667; idle the other 17.056 h:
    # 0.06 kW x 17.056 h x $0.20 = $0.20467; $0.62133 of electricity a day, $15.0213 in all.
    assert float(a10["electricity_cost_usd"]) == pytest.approx(0.62133, rel=MEASURED)
    assert float(a10["cost_usd"]) == pytest.approx(15.0213, rel=1e-3)
    # Break-even against the API ($0.0007 a query): (0.60 + 0.06 x 0.20) x 24 = $14.688 a day
    # paid whatever the queries, over $0.0007 - 0.24 kW x 2.5 s / 3,600 x $0.20 = $0.00066667
    # saved a query: 22,032 queries a day.
    assert int(a10["break_even_queries_per_day"]) == pytest.approx(22032, rel=1e-3)
    local = re.search(
        r'data-testid="projection".*', owner_client.get(f"/stats/?{DAILY}").content.decode(), re.S
    )[0]
    assert "60 W idle the other 17.0" in text(local) or "60 W idle the other 17.1" in text(local)

    # Not set: only the hours of work, 0.3 x 6.944 x 0.20 = $0.41667, and the basis says so;
    # the break-even $14.40 / ($0.0007 - 0.3 kW x 2.5 s / 3,600 x $0.20 = $0.0000417)
    # = 21,873.4: above 21,874.
    ModelConfig.objects.filter(name="a10-24/7").update(idle_watts=None)
    a10 = csv_rows(owner_client, DAILY)["a10-24/7"]
    assert float(a10["electricity_cost_usd"]) == pytest.approx(0.41667, rel=MEASURED)
    assert int(a10["break_even_queries_per_day"]) == pytest.approx(21874, rel=1e-3)
    assert "idle draw not counted" in text(owner_client.get(f"/stats/?{DAILY}").content.decode())
    # A one-off workload pays the hours worked: no idle draw either way.
    ModelConfig.objects.filter(name="a10-24/7").update(idle_watts=60)
    once = csv_rows(owner_client, DAILY.replace("&per_day=on", ""))["a10-24/7"]
    assert float(once["electricity_cost_usd"]) == pytest.approx(0.41667, rel=MEASURED)


def test_idle_draw_is_checked_wherever_pricing_is_edited(owner, owner_client):
    fields = {"name": "box", "backend": "openai", "model": "m", "pricing": "dedicated"}
    fields["hourly_usd"] = "0.60"
    with pytest.raises(Invalid, match="The idle draw needs the power draw"):
        save_model_config(owner, None, {**fields, "idle_watts": 20})
    with pytest.raises(Invalid, match="The idle draw cannot be negative"):
        save_model_config(
            owner, None, {**fields, "idle_watts": -1, "power_watts": 50, "kwh_usd": "0.3"}
        )
    api = owner_client.post(
        "/api/models",
        json.dumps({**fields, "idle_watts": 20}),
        content_type="application/json",
    )
    assert api.status_code == 422 and "idle draw needs the power draw" in str(api.json()["detail"])
    form = {"batch_size": 8, "concurrency": 8, "max_tokens": 16, **fields}
    page = owner_client.post(
        "/models/new/", {**form, "idle_watts": "-3", "power_watts": "50", "kwh_usd": "0.3"}
    )
    assert page.status_code == 400 and "The idle draw cannot be negative." in page.content.decode()
    page = owner_client.post(
        "/models/new/", {**form, "idle_watts": "12", "power_watts": "50", "kwh_usd": "0.3"}
    )
    assert page.status_code == 302
    assert ModelConfig.objects.get(name="box").idle_watts == 12
    got = owner_client.get(f"/api/models/{ModelConfig.objects.get(name='box').pk}").json()
    assert got["idle_watts"] == 12


def _hybrid(query: str, primary: str, fallback: str, share) -> str:
    """The query with a what-if hybrid of two configurations (by name, else an id as given)."""
    ids = {c.name: c.pk for c in ModelConfig.objects.all()}
    first, second = ids.get(primary, primary), ids.get(fallback, fallback)
    return f"{query}&hybrid_primary={first}&hybrid_fallback={second}&hybrid_share={share}"


def test_a_what_if_hybrid_of_any_two_measured_configurations(owner_client, table):  # noqa: F811
    query = _hybrid(DAILY, "a10-24/7", "api", 25)
    row = csv_rows(owner_client, query)["what-if: a10-24/7 + api"]
    # 75% to the A10: 7,500 x 2.5 s = 18,750 s = 5.208 h; 25% to the API: 2,500 x 2.5 s =
    # 6,250 s = 1.736 h; side by side: 5.208 h a day.
    assert float(row["hours"]) == pytest.approx(18750 / 3600, rel=MEASURED)
    # The A10 is dedicated, paid in full: $14.40, plus 2,500 x $0.0007 = $1.75 for the API:
    # $16.15 a day, x 30 = $484.50 a month.
    assert float(row["cost_usd"]) == pytest.approx(16.15)
    assert float(row["cost_per_month_usd"]) == pytest.approx(484.50)
    assert row["what_if"] == "True"
    # The API answers the same; the page shows the row, marked.
    api = owner_client.get(f"/api/stats/projection?{query.replace('=on', '=true')}").json()
    hybrid = {r["model_config"]: r for r in api}["what-if: a10-24/7 + api"]
    assert hybrid["cost_usd"] == pytest.approx(16.15) and hybrid["what_if"] is True
    page = owner_client.get(f"/stats/?{query}").content.decode()
    cell = re.search(r"<tr><td>what-if: a10-24/7 \+ api</td>(.*?)</tr>", page, re.S)[1]
    assert "what-if" in text(cell) and "$16.15" in text(cell) and "$484" in text(cell)
    assert "what-if hybrid: 25% of queries to api, the rest to a10-24/7" in text(cell)
    # An MLX Mac with 0% sent on: the Mac alone (0.2667 a day) and nothing for the API.
    zero = csv_rows(owner_client, _hybrid(DAILY, "mlx-mac", "api", 0))["what-if: mlx-mac + api"]
    assert float(zero["cost_usd"]) == pytest.approx(0.26667, rel=MEASURED)


def test_a_hybrid_that_cannot_be_projected_says_why(owner, owner_client, table):  # noqa: F811
    never = ModelConfig.objects.create(name="never-run", backend="mlx", model="m", owner=owner)
    cases = [
        (("a10-24/7", "a10-24/7", 20), "A hybrid needs two different configurations."),
        (("a10-24/7", "api", 150), "from 0 to 100: not 150"),
        (("a10-24/7", "api", -5), "from 0 to 100: not -5"),
        (("a10-24/7", "never-run", 20), "never-run has no measured outputs among the models shown"),
        (
            ("a10-24/7", "api", ""),
            "A hybrid needs its first configuration, its second and the share",
        ),
    ]
    for (primary, fallback, share), message in cases:
        query = _hybrid(DAILY, primary, fallback, share)
        page = owner_client.get(f"/stats/?{query}")
        assert page.status_code == 200 and message in text(page.content.decode()), message
        assert 'role="alert"' in page.content.decode()
        asked = query.replace("=on", "=true")
        if share == "":  # to the API, the share left out
            asked = asked.replace("&hybrid_share=", "")
        api = owner_client.get(f"/api/stats/projection?{asked}")
        assert api.status_code == 422 and message in api.json()["detail"], (message, api.content)
        assert owner_client.get(f"/stats/projection.csv?{query}").status_code == 400
    missing = owner_client.get(f"/api/stats/projection?{_hybrid(DAILY, 'api', '99999', 20)}")
    assert (
        missing.status_code == 422
        and "Model configuration 99999 does not exist" in missing.json()["detail"]
    )
    # The domain function names the input at fault.
    with pytest.raises(NoHybrid) as caught:
        ask(cached_model_stats(), never.pk, ModelConfig.objects.get(name="api").pk, 10)
    assert caught.value.field == "hybrid_primary"


def test_the_ways_charts_lines_span_the_axis_to_the_capacity_line(table):  # noqa: F811
    few = Workload(queries=100, input_tokens=200, output_tokens=100, per_day=True)
    stats = cached_model_stats()
    result = compare(stats, few, unrun_prices(stats))
    charts = {c["name"]: c for c in ways_chart(result["ways"], few)}
    # The Mac's ways never cross (just electricity either way) and 100 a day is far below what
    # it carries: the capacity line alone stretches the axis, and every line runs past it.
    assert charts["mlx-mac"]["crossings"] == []
    assert charts["mlx-mac"]["capacity"] > 3 * few.queries
    for name, chart in charts.items():
        for mode in {d["mode"] for d in chart["lines"]}:
            reach = max(d["q"] for d in chart["lines"] if d["mode"] == mode)
            assert reach >= chart["capacity"], (name, mode, reach)
