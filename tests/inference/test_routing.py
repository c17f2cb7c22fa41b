"""Hybrid runs (inference/routing.py): a routed configuration sends a run's items to a
primary and a fallback configuration. Counted from the database: every item served once, by
the leg the rule says, nothing lost and nothing doubled."""

from __future__ import annotations

import socket

import pytest
from django.db.models import Count

from inference.actions import create_run, save_model_config
from inference.errors import Invalid
from inference.leases import Lease
from inference.models import Generation, GenerationStatus, ModelConfig, RunStatus
from inference.routing import FALLBACK, PRIMARY, route
from inference.runner import process_run
from tests.conftest import make_dataset
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_prices")]


@pytest.fixture(autouse=True)
def _api(settings, monkeypatch):
    settings.API_MAX_ATTEMPTS = 2
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-openai")


def api_config(owner, base_url, name="api"):
    return ModelConfig.objects.create(
        name=name,
        backend="openai",
        model="gpt-4o-mini",
        base_url=base_url,
        api_key_env="OPENAI_TEST_KEY",
        max_tokens=16,
        concurrency=4,
        owner=owner,
    )


def routed(owner, primary, fallback, **rule):
    return save_model_config(
        owner,
        None,
        {
            "name": "hybrid",
            "backend": "mlx",
            "model": "-",
            "route_primary": primary,
            "route_fallback": fallback,
            **rule,
        },
    )


def run_through(owner, config, n, django_capture_on_commit_callbacks):
    """Create a run and work each leg to its end as its own worker would (the mlx and api
    queues' workers), until no task is asked for again."""
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, n).pk, config.pk)
    for _ in range(20):
        delays = [
            process_run(run.pk, worker=f"w-{leg}", budget_s=30, leg=leg)
            for leg in (PRIMARY, FALLBACK)
        ]
        if all(d is None for d in delays):
            break
    run.refresh_from_db()
    return run


def served(run) -> dict[str, int]:
    rows = run.generations.values("served_by__name").annotate(n=Count("pk"))
    return {r["served_by__name"]: r["n"] for r in rows}


def assert_each_item_once(run, n):
    per_item = run.generations.values("item_id", "sample_index").annotate(n=Count("pk"))
    assert len(per_item) == n and {r["n"] for r in per_item} == {1}
    assert run.generations.filter(status=GenerationStatus.DONE).count() == n


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_api_that_is_down_sends_every_item_to_the_local_model(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    primary = api_config(owner, f"http://127.0.0.1:{closed_port()}/v1")
    config = routed(owner, primary, mlx_config)
    run = run_through(owner, config, 10, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.COMPLETED
    assert_each_item_once(run, 10)
    assert served(run) == {"demo": 10}
    reasons = set(run.generations.values_list("route_reason", flat=True))
    assert len(reasons) == 1 and reasons.pop().startswith("Primary failed after retries")
    assert set(run.generations.values_list("backend_version", flat=True)) != {""}
    assert all(
        v.startswith("mlx-lm") for v in run.generations.values_list("backend_version", flat=True)
    )


def test_an_api_failing_every_request_falls_back_item_by_item(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    with FakeOpenAI(api_key="sk-openai", rate_500=1.0, retry_after=0.01) as server:
        primary = api_config(owner, server.base_url)
        config = routed(owner, primary, mlx_config)
        run = run_through(owner, config, 8, django_capture_on_commit_callbacks)
        asked = server.ledger.completed
        statuses = [r.status for r in server.ledger.records if "chat" in r.path]
    assert run.status == RunStatus.COMPLETED
    assert_each_item_once(run, 8)
    assert served(run) == {"demo": 8}
    assert not asked  # the API answered none: every output is the local model's
    assert all(
        "500" in r or "rror" in r for r in run.generations.values_list("route_reason", flat=True)
    )
    assert statuses == [500] * 16  # each item tried twice (API_MAX_ATTEMPTS) before falling back


def test_a_share_of_traffic_goes_to_the_fallback_and_the_rest_to_the_primary(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    with FakeOpenAI(api_key="sk-openai") as server:
        primary = api_config(owner, server.base_url)
        config = routed(owner, mlx_config, primary, route_share=0.25)
        run = run_through(owner, config, 20, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.COMPLETED
    assert_each_item_once(run, 20)
    assert served(run) == {"demo": 15, "api": 5}
    api_outputs = run.generations.filter(served_by=primary).values_list("output", flat=True)
    assert all(o.startswith("Reply to:") for o in api_outputs)
    local = run.generations.filter(served_by=mlx_config)
    assert not any(o.startswith("Reply to:") for o in local.values_list("output", flat=True))
    assert set(local.values_list("worker", flat=True)) == {"w-primary"}


def test_a_local_model_that_cannot_load_sends_every_item_to_the_api(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    mlx_config.model = "/nonexistent/model"
    mlx_config.save()
    with FakeOpenAI(api_key="sk-openai") as server:
        config = routed(owner, mlx_config, api_config(owner, server.base_url))
        run = run_through(owner, config, 6, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.COMPLETED
    assert_each_item_once(run, 6)
    assert served(run) == {"api": 6}
    assert "No MLX model at /nonexistent/model" in run.generations.first().route_reason


def test_without_fallback_on_errors_the_primary_failures_stay_failed(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    with FakeOpenAI(api_key="sk-openai", rate_500=1.0, retry_after=0.01) as server:
        config = routed(
            owner, api_config(owner, server.base_url), mlx_config, route_on_errors=False
        )
        run = run_through(owner, config, 4, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    assert run.generations.filter(status=GenerationStatus.FAILED).count() == 4
    assert served(run) == {"api": 4}


def test_a_deep_primary_queue_overflows_to_the_fallback(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    other = ModelConfig.objects.create(
        name="other", backend="mlx", model=mlx_config.model, max_tokens=8, owner=owner
    )
    config = routed(owner, mlx_config, other, route_queue_depth=3)
    with django_capture_on_commit_callbacks(execute=False):
        run = create_run(owner, make_dataset(owner, 7).pk, config.pk)
    assert served(run) == {"demo": 3, "other": 4}
    first = run.generations.order_by("pk").first()
    assert first.served_by == mlx_config
    assert "queue 3 deep" in run.generations.filter(served_by=other).first().route_reason
    # Each leg's worker claims only its own.
    assert {r.key for r in _claim(run, other.pk, 10)} == set(
        run.generations.filter(served_by=other).values_list("pk", flat=True)
    )


def _claim(run, served_by, n):
    lease = Lease(run, "w")
    lease.served_by = served_by
    return lease.claim(n)


def test_the_share_is_exact_and_spread_evenly():
    rule = {"share": 0.2, "on_errors": True, "queue_depth": None}
    legs = [route(rule, position=i)[0] for i in range(10)]
    assert legs.count(FALLBACK) == 2 and legs[4] == FALLBACK and legs[9] == FALLBACK


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"route_fallback": None}, "needs both"),
        ({"route_share": 1.5}, "between 0 and 1"),
        ({"same": True}, "must differ"),
    ],
)
def test_a_wrong_route_is_refused_with_a_reason(owner, mlx_config, rule, message):
    other = ModelConfig.objects.create(name="o", backend="mlx", model="m", owner=owner)
    fields = {"route_fallback": mlx_config if rule.pop("same", False) else other, **rule}
    with pytest.raises(Invalid, match=message):
        routed(owner, mlx_config, fields.pop("route_fallback"), **fields)
    assert not ModelConfig.objects.filter(name="hybrid").exists()


def test_a_routed_configuration_and_run_through_the_api_and_the_run_page(
    owner_client, mlx_config, django_capture_on_commit_callbacks
):
    other = ModelConfig.objects.create(
        name="other", backend="mlx", model=mlx_config.model, max_tokens=8, owner=mlx_config.owner
    )
    body = {"name": "hybrid", "backend": "mlx", "model": "-"}
    refused = owner_client.post(
        "/api/models", {**body, "route_primary_id": mlx_config.pk}, content_type="application/json"
    )
    assert refused.status_code == 422 and "needs both" in refused.json()["detail"]
    created = owner_client.post(
        "/api/models",
        {
            **body,
            "route_primary_id": mlx_config.pk,
            "route_fallback_id": other.pk,
            "route_share": 0.5,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    config = created.json()
    assert config["route_primary_id"] == mlx_config.pk and config["route_fallback_id"] == other.pk
    assert config["model"] == mlx_config.model  # the primary's
    with django_capture_on_commit_callbacks(execute=False):
        run = owner_client.post(
            "/api/runs",
            {"dataset_id": make_dataset(mlx_config.owner, 6).pk, "model_config_id": config["id"]},
            content_type="application/json",
        ).json()
    for leg in (PRIMARY, FALLBACK):
        process_run(run["id"], worker=leg, leg=leg)
    page = owner_client.get(f"/api/runs/{run['id']}/generations?limit=10").json()["items"]
    assert sorted(g["served_by_id"] for g in page) == [mlx_config.pk] * 3 + [other.pk] * 3
    assert {g["status"] for g in page} == {"done"}
    html = owner_client.get(f"/runs/{run['id']}/").content.decode()
    assert 'data-testid="route-split"' in html
    assert "Share of traffic: 50% to the fallback." in html
    db = dict(
        Generation.objects.filter(run_id=run["id"])
        .values_list("served_by__name")
        .annotate(n=Count("pk"))
    )
    assert db == {"demo": 3, "other": 3}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_exports_say_who_served_each_output_and_why(
    owner, mlx_config, fmt, django_capture_on_commit_callbacks
):
    import csv
    import json
    from pathlib import Path

    from annotate.exports.models import Export
    from annotate.exports.rows import run_export

    other = ModelConfig.objects.create(
        name="other", backend="mlx", model=mlx_config.model, max_tokens=8, owner=owner
    )
    config = routed(owner, mlx_config, other, route_share=0.4)
    run = run_through(owner, config, 5, django_capture_on_commit_callbacks)
    done = run_export(Export.objects.create(owner=owner, format=fmt, filters={"run": run.pk}))
    text = Path(done.path).read_text()
    if fmt == "jsonl":
        rows = [json.loads(line)["generation"] for line in text.splitlines()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    exported = sorted((r["served_by"], r["route_reason"]) for r in rows)
    db = sorted(run.generations.values_list("served_by__name", "route_reason"))
    assert exported == db and len(db) == 5
    assert sum(name == "other" for name, _ in db) == 2


def test_a_slow_first_token_sends_the_primarys_waiting_items_to_the_fallback(
    owner, mlx_config, django_capture_on_commit_callbacks
):
    with FakeOpenAI(api_key="sk-openai", latency=0.3) as server:
        primary = api_config(owner, server.base_url)
        primary.concurrency = 1
        primary.save()
        config = routed(owner, primary, mlx_config, route_ttft_s=0.1)
        run = run_through(owner, config, 6, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.COMPLETED
    assert_each_item_once(run, 6)
    split = served(run)
    assert split["api"] == 1 and split["demo"] == 5  # one in flight at a time: one answered
    slow = run.generations.filter(served_by=primary).get()
    assert slow.ttft_s > 0.1 and slow.output.startswith("Reply to:")
    reasons = set(
        run.generations.filter(served_by=mlx_config).values_list("route_reason", flat=True)
    )
    assert len(reasons) == 1 and "time to first token" in reasons.pop()


def test_the_form_makes_a_routed_configuration_and_says_what_is_wrong(owner_client, mlx_config):
    other = ModelConfig.objects.create(
        name="other", backend="openai", model="gpt-4o-mini", owner=mlx_config.owner
    )
    form = {"name": "hybrid", "backend": "openai", "model": "x", "max_tokens": 8}
    form |= {"pricing": "token", "route_on_errors": "on", "route_primary": mlx_config.pk}
    page = owner_client.post("/models/new/", form)
    assert page.status_code == 400
    assert "A routed configuration needs both a primary and a fallback." in page.content.decode()
    assert (
        owner_client.post("/models/new/", {**form, "route_fallback": other.pk}).status_code == 302
    )
    config = ModelConfig.objects.get(name="hybrid")
    assert (config.backend, config.model) == ("mlx", mlx_config.model)
    route = config.params()["route"]
    assert (route["primary"]["name"], route["fallback"]["name"]) == ("demo", "other")


def test_each_leg_is_rung_on_its_own_queue(owner, mlx_config, django_capture_on_commit_callbacks):
    from unittest import mock

    api = api_config(owner, "http://127.0.0.1:9/v1")
    config = routed(owner, api, mlx_config, route_share=0.5)
    with (
        mock.patch("inference.doorbell.current_app") as app,
        django_capture_on_commit_callbacks(execute=True),
    ):
        create_run(owner, make_dataset(owner, 4).pk, config.pk)
    rung = sorted((c.kwargs["queue"], c.kwargs["kwargs"]) for c in app.send_task.call_args_list)
    assert rung == [("api", {"leg": "primary"}), ("mlx", {"leg": "fallback"})]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_queues_workers_share_a_routed_run_none_lost_none_doubled(
    owner, mlx_config, start_worker, monkeypatch
):
    from tests.conftest import run_status, wait_for

    # The API fails every request for items 1, 10 and 11 (their prompts hold "number 1"):
    # those go to the local model on the mlx queue, the other nine stay with the API.
    with FakeOpenAI(api_key="sk-openai", rate_500=1.0, marker="number 1", retry_after=0.01) as api:
        start_worker("api-worker", queues="api", env={"API_MAX_ATTEMPTS": "2"})
        start_worker("mlx-worker", queues="mlx")
        config = routed(owner, api_config(owner, api.base_url), mlx_config)
        run = create_run(owner, make_dataset(owner, 12).pk, config.pk)
        wait_for(lambda: run_status(run) == RunStatus.COMPLETED, what="the routed run")
        answered = api.ledger.completed
    assert_each_item_once(run, 12)
    assert served(run) == {"api": 9, "demo": 3}
    by_worker = {
        name: {
            w.split("@")[0]
            for w in run.generations.filter(served_by__name=name).values_list("worker", flat=True)
        }
        for name in ("api", "demo")
    }
    assert by_worker == {"api": {"api-worker"}, "demo": {"mlx-worker"}}
    assert len(answered) == 9 and set(answered.values()) == {1}
    fallen = run.generations.filter(served_by=mlx_config)
    assert sorted(fallen.values_list("item__index", flat=True)) == [1, 10, 11]


def test_a_configuration_that_serves_a_route_cannot_become_routed(owner, mlx_config):
    other = ModelConfig.objects.create(name="o", backend="mlx", model="m", owner=owner)
    third = ModelConfig.objects.create(name="t", backend="mlx", model="m", owner=owner)
    routed(owner, mlx_config, other)
    with pytest.raises(Invalid, match="serves a routed configuration"):
        save_model_config(owner, other.pk, {"route_primary": third, "route_fallback": mlx_config})
    assert ModelConfig.objects.get(pk=other.pk).route_primary_id is None
