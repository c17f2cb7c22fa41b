"""The Anthropic backend through the real SDK against a local server speaking its protocol."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from inference.actions import create_run, retry_failed
from inference.models import GenerationStatus, ModelConfig, Run, RunStatus
from inference.runner import process_run
from tests.conftest import make_dataset
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_text import count_words

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_prices")]
MODEL = "claude-haiku-4-5"  # seeded price: $1 in, $5 out, $0.10 cache read, $1.25 cache write


@pytest.fixture
def server():
    with FakeAnthropic(api_key="sk-test", retry_after=0.05) as server:
        yield server


@pytest.fixture(autouse=True)
def api_env(monkeypatch, settings):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    settings.API_MAX_ATTEMPTS = 4


def config_for(server, owner, **fields) -> ModelConfig:
    defaults = dict(
        name="haiku",
        backend="anthropic",
        model=MODEL,
        base_url=server.url,
        max_tokens=64,
        concurrency=4,
        owner=owner,
        system_prompt="Be brief.",
    )
    return ModelConfig.objects.create(**{**defaults, **fields})


def run_to_end(run, worker="api-test") -> None:
    """Process the run in this process, as the worker's task would, until it needs no task."""
    while process_run(run.pk, worker=worker) is not None:
        pass
    run.refresh_from_db()


@pytest.fixture
def start(owner, django_capture_on_commit_callbacks):
    def start(config, n=6, **kwargs):
        with django_capture_on_commit_callbacks(execute=False):
            return create_run(owner, make_dataset(owner, n, **kwargs).pk, config.pk)

    return start


def test_a_streamed_run_records_true_usage_and_its_cost(server, owner, start):
    server.cache_read_tokens, server.cache_creation_tokens = 100, 20
    run = start(config_for(server, owner, temperature=0.5, top_p=0.9))
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    for g in run.generations.select_related("item"):
        assert g.output.startswith("Reply to: Write a function number")
        assert g.output_tokens == count_words([g.output])
        # input = system + user words, plus the cache tokens the server reported
        assert g.prompt_tokens == count_words(["Be brief.", g.item.prompt]) + 120
        assert (g.cache_read_tokens, g.cache_write_tokens) == (100, 20)
        fresh = g.prompt_tokens - 120
        expected = (
            fresh * Decimal(1)
            + 100 * Decimal("0.10")
            + 20 * Decimal("1.25")
            + g.output_tokens * Decimal(5)
        ) / 1_000_000
        assert g.cost_usd == expected.quantize(Decimal("1e-8"))
        assert 0 < g.ttft_s <= g.latency_s and g.decode_tps > 0
        assert g.finish_reason == "stop" and g.concurrency == 4
        assert g.backend_version.startswith("anthropic ")


def test_requests_run_concurrently_up_to_the_configured_limit(server, owner, start):
    server.faults.latency = 0.3
    run = start(config_for(server, owner, concurrency=4), n=12)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert server.ledger.max_in_flight == 4


def test_a_run_from_before_concurrency_had_its_name_keeps_its_requests_in_flight(
    server, owner, start
):
    server.faults.latency = 0.3
    run = start(config_for(server, owner, concurrency=8), n=9)
    older = {key: value for key, value in run.params.items() if key != "concurrency"}
    Run.objects.filter(pk=run.pk).update(params={**older, "batch_size": 3})
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert server.ledger.max_in_flight == 3
    assert set(run.generations.values_list("concurrency", flat=True)) == {3}


def test_faults_are_retried_and_every_item_completes_once(server, owner, start):
    server.faults.set_script(["429", "529", "500", "drop", "stream_error", "slow"])
    server.faults.slow_seconds = 0.2
    run = start(config_for(server, owner), n=8)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    assert run.generations.filter(status=GenerationStatus.DONE).count() == 8
    assert sum(run.generations.values_list("retries", flat=True)) == 5
    assert set(server.ledger.completed.values()) == {1}  # no item answered twice
    assert len(server.ledger.completed) == 8


def test_retry_after_is_honoured(server, owner, start):
    server.faults.retry_after = 0.6
    server.faults.set_script(["429"])
    run = start(config_for(server, owner, concurrency=1), n=1)
    run_to_end(run)
    first, second = [r for r in server.ledger.records if r.path == "/v1/messages"]
    assert first.status == 429
    assert second.started - first.finished >= 0.6


def test_a_request_that_keeps_failing_records_its_error_and_can_be_retried(server, owner, start):
    server.faults.marker = "number 2."
    server.faults.rate_500 = 1.0
    run = start(config_for(server, owner), n=4)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    failed = run.generations.get(status=GenerationStatus.FAILED)
    assert failed.item.index == 2
    assert "500 api_error" in failed.error and "after 4 attempts" in failed.error
    assert failed.cost_usd is None
    server.faults.rate_500 = 0.0
    assert retry_failed(owner, run.pk) == 1
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED


def test_a_refused_parameter_shows_the_apis_message(owner, start):
    with FakeAnthropic(api_key="sk-test", no_sampling_models=[MODEL]) as server:
        run = start(config_for(server, owner, temperature=0.7), n=2)
        run_to_end(run)
    assert run.status == RunStatus.COMPLETED_WITH_ERRORS
    errors = set(run.generations.values_list("error", flat=True))
    assert len(errors) == 1 and "400 invalid_request_error" in errors.pop()


def test_a_wrong_key_fails_the_run_at_start_and_uses_no_item(server, owner, start, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong")
    run = start(config_for(server, owner))
    run_to_end(run)
    assert run.status == RunStatus.FAILED
    assert "Anthropic refused the key in ANTHROPIC_API_KEY" in run.error
    assert "sk-wrong" not in run.error
    assert set(run.generations.values_list("attempts", flat=True)) == {0}
    assert not server.ledger.completed


def test_a_missing_key_fails_the_run_with_the_variable_to_set(server, owner, start, monkeypatch):
    run = start(config_for(server, owner, api_key_env="TEAM_ANTHROPIC_KEY"))
    monkeypatch.delenv("TEAM_ANTHROPIC_KEY", raising=False)
    run_to_end(run)
    assert run.status == RunStatus.FAILED
    assert "set the environment variable TEAM_ANTHROPIC_KEY" in run.error


def test_batch_mode_submits_once_polls_and_costs_half(server, owner, start, settings):
    settings.BATCH_POLL_S = 1
    server.batch_delay = 0.5
    run = start(config_for(server, owner, mode="batch"), n=10)
    assert process_run(run.pk, worker="a") == 1.0  # submitted: poll again in BATCH_POLL_S
    assert server.batches_created == 1
    batch = run.provider_batches.get()
    assert batch.size == 10
    # A worker that restarts now polls the stored batch: it does not submit it again.
    assert process_run(run.pk, worker="b") == 1.0

    time.sleep(0.6)
    run_to_end(run, worker="b")
    assert run.status == RunStatus.COMPLETED
    assert server.batches_created == 1
    for g in run.generations.all():
        full = (g.prompt_tokens * Decimal(1) + g.output_tokens * Decimal(5)) / 1_000_000
        assert g.cost_usd == (full / 2).quantize(Decimal("1e-8"))
        assert g.provider_batch_id == batch.pk and g.latency_s > 0.5 and g.ttft_s is None
