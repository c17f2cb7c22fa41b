"""The seed analysis' three questions, projected for a local machine at $0.60/h and a hosted
model from the price table (never run), read on the page and in the CSV a person downloads.
Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig, Price
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db

# Every scenario: 200 input and 100 output tokens a query, typed in.
TOKENS = "input_tokens=200&output_tokens=100&unrun=on"


def measured(
    owner,
    name,
    backend,
    model,
    hourly=None,
    concurrency=8,
    span_s=10,
    n=30,
    ttft=0.5,
    tps=49.5,
    **fields,
):
    """A configuration with `n` measured outputs of 100 tokens: `ttft` s to the first token,
    then 99 more at `tps` tok/s; by default 0.5 + 99 / 49.5 = 2.5 s a query, one at a time.
    `fields` set more of the configuration (its pricing)."""
    config = ModelConfig.objects.create(
        name=name,
        backend=backend,
        model=model,
        owner=owner,
        concurrency=concurrency,
        **({"hourly_usd": None if hourly is None else Decimal(hourly)} | fields),
    )
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, make_dataset(owner, n).pk, config.pk)
    start = timezone.now()
    run.generations.update(
        status=GenerationStatus.DONE,
        prompt_tokens=200,
        output_tokens=100,
        ttft_s=ttft,
        decode_tps=tps,
        latency_s=ttft + 99 / tps,
        machine="box-1",
        concurrency=1,
        started_at=start,
        finished_at=start + timedelta(seconds=span_s),
    )
    return config


def only_haiku_price() -> None:
    """The price table holds one row: claude-haiku-4-5 at $1 per 1M input tokens and $5 per 1M
    output tokens."""
    Price.objects.all().delete()
    Price.objects.create(
        backend="anthropic",
        model="claude-haiku-4-5",
        input_per_mtok=Decimal(1),
        output_per_mtok=Decimal(5),
        effective_from=date(2025, 11, 1),
    )


@pytest.fixture
def models(owner):
    only_haiku_price()
    measured(owner, "mac", "mlx", "/models/qwen", hourly="0.60")


def csv_rows(client, query: str) -> dict[str, dict]:
    response = client.get(f"/stats/projection.csv?{query}")
    assert response.status_code == 200
    return {r["model_config"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))}


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def cells(client, query: str) -> dict[str, str]:
    """{model: its projection row's text, tags removed}."""
    page = client.get(f"/stats/?{query}").content.decode()
    table = page[page.index('data-testid="projection"') :]
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", table, re.S)
    return {name: text(row) for name, row in rows}


def figure(client, query: str, model: str, name: str) -> str:
    """The text of one figure (data-figure="time", "cost", ...) of a model's row."""
    page = client.get(f"/stats/?{query}").content.decode()
    table = page[page.index('data-testid="projection"') :]
    row = re.search(rf"<tr><td>{re.escape(model)}</td>(.*?)</tr>", table, re.S)
    cell = re.search(rf'<(span|td)\b[^>]*data-figure="{name}"[^>]*>(.*?)</\1>', row[1], re.S)
    return text(cell[2])


UNITS = {"s": 1 / 3600, "min": 1 / 60, "h": 1, "days": 24}


def shown_hours(shown: str) -> float:
    """ "42 min" → 0.7; the units the page writes times in."""
    number, unit = re.fullmatch(r"([\d,.]+) (s|min|h|days)", shown).groups()
    return float(number.replace(",", "")) * UNITS[unit]


def shown_usd(shown: str) -> float:
    return float(re.search(r"\$([\d,.]+)", shown)[1].replace(",", ""))


# Measured times rest on percentiles, which the figures sketch within 0.5%
# (annotate/stats/sketch.py): times and machine-time costs are compared within 1%, and what the
# page shows (rounded to its precision) within 2%. Prices and 24/7 costs are exact.
MEASURED = 0.01
SHOWN = 0.02


def test_1000_queries_of_100_tokens(owner_client, models):
    query = f"queries=1000&{TOKENS}"
    rows = csv_rows(owner_client, query)
    # Local: 1,000 x 2.5 s = 2,500 s = 41.7 min; machine time 2,500 / 3,600 h x $0.60 = $0.4167.
    assert float(rows["mac"]["hours"]) == pytest.approx(2500 / 3600, rel=MEASURED)
    assert float(rows["mac"]["cost_usd"]) == pytest.approx(0.41667, rel=MEASURED)
    assert rows["mac"]["workload"] == "total" and rows["mac"]["cost_per_month_usd"] == ""
    # Hosted: 200 x $1/1M + 100 x $5/1M = $0.0007 a query; x 1,000 = $0.70. Time: never run.
    haiku = rows["claude-haiku-4-5"]
    assert float(haiku["cost_usd"]) == pytest.approx(0.70)
    assert haiku["hours"] == "" and haiku["measured"] == "False"
    time = figure(owner_client, query, "mac", "time")
    assert time.endswith(" min") and shown_hours(time) == pytest.approx(2500 / 3600, rel=SHOWN)
    cost = figure(owner_client, query, "mac", "cost")
    assert shown_usd(cost) == pytest.approx(0.4167, rel=SHOWN)
    page = cells(owner_client, query)
    assert "$0.60/h, set on the configuration" in page["mac"]
    assert "cost: assumed: $0.60/h, set on the configuration" in page["mac"]
    assert figure(owner_client, query, "claude-haiku-4-5", "cost") == "$0.70"
    assert figure(owner_client, query, "claude-haiku-4-5", "time") == "not measured"
    assert "list price of 2025-11-01" in page["claude-haiku-4-5"]


def test_a_35000_query_development_phase(owner_client, models):
    query = f"queries=35000&{TOKENS}"
    rows = csv_rows(owner_client, query)
    # Local: 35,000 x 2.5 s = 87,500 s = 24.31 h; x $0.60 = $14.583.
    assert float(rows["mac"]["hours"]) == pytest.approx(87500 / 3600, rel=MEASURED)
    assert float(rows["mac"]["cost_usd"]) == pytest.approx(14.5833, rel=MEASURED)
    # Hosted: 35,000 x $0.0007 = $24.50.
    assert float(rows["claude-haiku-4-5"]["cost_usd"]) == pytest.approx(24.50)
    time = figure(owner_client, query, "mac", "time")
    assert time.endswith(" h") and shown_hours(time) == pytest.approx(24.31, rel=SHOWN)
    assert shown_usd(figure(owner_client, query, "mac", "cost")) == pytest.approx(14.58, rel=SHOWN)
    assert figure(owner_client, query, "claude-haiku-4-5", "cost") == "$24.50"
    # Sorted by cost: the machine's $14.58 before the API's $24.50.
    assert list(cells(owner_client, query)) == ["mac", "claude-haiku-4-5"]


def test_10000_queries_a_day_per_day_and_per_month(owner_client, models):
    query = f"queries=10000&per_day=on&always_on=on&{TOKENS}"
    rows = csv_rows(owner_client, query)
    mac, haiku = rows["mac"], rows["claude-haiku-4-5"]
    # Local: 10,000 x 2.5 s = 25,000 s = 6.94 h of work a day; the machine on 24/7 at $0.60/h:
    # $14.40 a day, x 30 = $432 a month, x 365 = $5,256 a year. The hours it works cost
    # 6.944 h x $0.60 = $4.1667 a day.
    assert float(mac["hours"]) == pytest.approx(25000 / 3600, rel=MEASURED)
    assert float(mac["cost_usd"]) == pytest.approx(14.40)
    assert float(mac["cost_per_month_usd"]) == pytest.approx(432.0)
    assert float(mac["cost_per_year_usd"]) == pytest.approx(5256.0)
    assert float(mac["machine_time_cost_usd"]) == pytest.approx(4.16667, rel=MEASURED)
    assert float(mac["always_on_cost_usd"]) == pytest.approx(14.40)
    assert float(mac["hourly_usd"]) == 0.60
    # Hosted: 10,000 x $0.0007 = $7.00 a day, x 30 = $210 a month, x 365 = $2,555 a year.
    assert float(haiku["cost_usd"]) == pytest.approx(7.00)
    assert float(haiku["cost_per_month_usd"]) == pytest.approx(210.0)
    assert float(haiku["cost_per_year_usd"]) == pytest.approx(2555.0)
    shown = {
        name: figure(owner_client, query, "mac", name)
        for name in ("cost", "cost-month", "cost-year")
    }
    assert shown == {"cost": "$14.40", "cost-month": "$432", "cost-year": "$5,256"}
    time = figure(owner_client, query, "mac", "time")
    assert time.endswith(" h") and shown_hours(time) == pytest.approx(6.944, rel=SHOWN)
    local = figure(owner_client, query, "mac", "local")
    assert "$0.60/h, set on the configuration" in local and "24/7: $14.40 a day" in local
    machine_time = re.search(r"machine time: (\$[\d.]+) a day", local)[1]
    assert shown_usd(machine_time) == pytest.approx(4.17, rel=SHOWN)
    shown = {
        n: figure(owner_client, query, "claude-haiku-4-5", n)
        for n in ("cost", "cost-month", "cost-year")
    }
    assert shown == {"cost": "$7.00", "cost-month": "$210", "cost-year": "$2,555"}
    # Machine time only (not 24/7): $4.1667 a day, x 30 = $125 a month.
    rows = csv_rows(owner_client, f"queries=10000&per_day=on&{TOKENS}")
    assert float(rows["mac"]["cost_per_month_usd"]) == pytest.approx(125.0, rel=MEASURED)


def test_the_presets_ask_the_three_questions(owner_client, models):
    page = owner_client.get(f"/stats/?queries=5&{TOKENS}").content.decode()
    links = dict(
        (label, href.replace("&amp;", "&"))
        for href, label in re.findall(r'<a href="\?([^"]+)#projection">([^<]+)</a>', page)
    )
    assert "queries=1000" in links["1,000 queries × 100 tokens"]
    assert "output_tokens=100" in links["1,000 queries × 100 tokens"]
    assert "queries=35000" in links["A 35,000-query development phase"]
    daily = links["10,000 queries a day, monthly cost"]
    assert "queries=10000" in daily and "per_day=on" in daily and "input_tokens=200" in daily
    assert "A month" in owner_client.get(f"/stats/?{daily}").content.decode()


def test_concurrency_never_makes_a_hosted_model_slower(owner_client, models, owner):
    # Measured one request at a time at 2.5 s, but its runs spread 30 outputs over an hour
    # (3,000 tokens / 3,600 s = 0.83 tok/s of run throughput). Ticking "concurrent" used to
    # divide by that throughput: 1,000 x 100 / 0.83 = 33 h.
    Price.objects.create(
        backend="anthropic",
        model="claude-sonnet-4-5",
        input_per_mtok=Decimal(3),
        output_per_mtok=Decimal(15),
        effective_from=date(2025, 11, 1),
    )
    measured(owner, "sonnet", "anthropic", "claude-sonnet-4-5", concurrency=8, span_s=3600)
    one = csv_rows(owner_client, f"queries=1000&{TOKENS}")["sonnet"]
    many = csv_rows(owner_client, f"queries=1000&concurrent=on&{TOKENS}")["sonnet"]
    # One at a time: 1,000 x 2.5 s = 2,500 s. With 8 requests in flight: 2,500 / 8 = 312.5 s.
    assert float(one["hours"]) == pytest.approx(2500 / 3600, rel=MEASURED)
    assert float(many["hours"]) == pytest.approx(312.5 / 3600, rel=MEASURED)
    assert "8 requests in flight" in many["time_basis"]
    shown = figure(owner_client, f"queries=1000&concurrent=on&{TOKENS}", "sonnet", "time")
    assert shown.endswith(" min") and shown_hours(shown) == pytest.approx(312.5 / 3600, rel=SHOWN)


def test_a_machine_without_an_hourly_price_is_unknown_and_listed_last(owner_client, models, owner):
    measured(owner, "attic", "mlx", "/models/qwen", hourly=None)
    page = cells(owner_client, f"queries=1000&{TOKENS}")
    assert list(page)[-1] == "attic"
    assert "unknown" in page["attic"] and "cheapest" not in page["attic"]
    assert "cheapest" in page["mac"]


def test_tokens_left_empty_are_the_measured_mean(owner_client, models):
    rows = csv_rows(owner_client, "queries=1000&unrun=on")
    # The 30 measured outputs: 200 input and 100 output tokens each.
    assert rows["mac"]["input_tokens"] == "200" and rows["mac"]["output_tokens"] == "100"
    assert rows["mac"]["tokens_source"] == "measured: mean of 30 outputs"


def test_a_bad_workload_says_why_and_never_fails(owner_client, models):
    response = owner_client.get("/stats/?queries=-5&output_tokens=abc")
    assert response.status_code == 200
    assert "Queries: Ensure this value is greater than or equal to 1." in response.content.decode()
    csv_response = owner_client.get("/stats/projection.csv?queries=-5")
    assert csv_response.status_code == 400 and b"greater than or equal to 1" in csv_response.content


def test_the_api_answers_as_the_page(owner_client, models):
    rows = owner_client.get(f"/api/stats/projection?queries=10000&per_day=true&{TOKENS}").json()
    by_name = {r["model_config"]: r for r in rows}
    # As above: $0.60 x 24 = $14.40 a day, $432 a month; the API $7.00 a day, $210 a month.
    assert by_name["mac"]["cost_usd"] == pytest.approx(14.40)
    assert by_name["mac"]["cost_per_month_usd"] == pytest.approx(432.0)
    assert by_name["claude-haiku-4-5"]["cost_per_month_usd"] == pytest.approx(210.0)
    assert by_name["claude-haiku-4-5"]["hours"] is None
    bad = owner_client.get("/api/stats/projection?queries=0")
    assert bad.status_code == 422
    missing = owner_client.get("/api/stats/projection?queries=10&dataset=999999")
    assert missing.status_code == 404 and missing.json() == {"detail": "No such dataset."}


def test_times_and_money_read_in_sensible_units():
    from annotate.web.templatetags.annotate_tags import duration, usd

    # 45 s, 12 min, 1.6 h and 3.2 days, as hours; never "0 min", never scientific notation.
    shown = [duration(h) for h in (45 / 3600, 12 / 60, 1.6, 3.2 * 24, 0.5 / 3600, 1e-9)]
    assert shown == ["45 s", "12 min", "1.6 h", "3.2 days", "0.5 s", "under 0.1 s"]
    assert [usd(v) for v in (5256, 14.4, 0.0007, 1.5e-7, 0)] == [
        "$5,256",
        "$14.40",
        "$0.0007",
        "$0.00000015",
        "$0.00",
    ]


def test_with_nothing_measured_the_page_asks_for_tokens(owner_client):
    page = owner_client.get("/stats/").content.decode()
    assert "No measured outputs of the models shown: type the tokens per query." in page
    assert 'role="alert"' not in page[page.index('id="projection"') :]
    assert owner_client.get("/stats/projection.csv").content.decode().strip() == "model_config"


def test_cheapest_is_the_lowest_known_cost_a_hosted_model_never_run_included(owner_client, models):
    # 10,000 a day: the Mac on 24/7 costs $14.40 a day, claude-haiku-4-5 $7.00 from its list
    # price alone; the fastest can only be a measured model.
    page = cells(owner_client, f"queries=10000&per_day=on&always_on=on&{TOKENS}")
    assert "cheapest" in page["claude-haiku-4-5"] and "cheapest" not in page["mac"]
    assert "fastest" in page["mac"] and "fastest" not in page["claude-haiku-4-5"]
