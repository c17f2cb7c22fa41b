"""The OpenAI-compatible backend through the real `openai` SDK: against a local server speaking
the chat completions protocol with faults, and against a real `mlx_lm.server`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import pytest
from django.test import Client
from django.utils.html import escape

from annotate.accounts.models import ApiToken
from inference.actions import create_run
from inference.backends.openai_compat import request_options
from inference.models import GenerationStatus, ModelConfig, RunStatus
from inference.runner import process_run
from tests.conftest import make_dataset
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("seeded_prices")]


@pytest.fixture
def start(owner, django_capture_on_commit_callbacks):
    def start(config, n=5):
        with django_capture_on_commit_callbacks(execute=False):
            return create_run(owner, make_dataset(owner, n).pk, config.pk)

    return start


def run_to_end(run) -> None:
    while process_run(run.pk, worker="api-test") is not None:
        pass
    run.refresh_from_db()


def test_usage_comes_from_the_stream_and_prices_from_the_table(owner, start, monkeypatch, settings):
    settings.API_MAX_ATTEMPTS = 3
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-openai")
    with FakeOpenAI(
        api_key="sk-openai", cached_tokens=10, retry_after=0.05, script=["429", "503", "drop"]
    ) as server:
        config = ModelConfig.objects.create(
            name="mini",
            backend="openai",
            model="gpt-4o-mini",
            base_url=server.base_url,
            api_key_env="OPENAI_TEST_KEY",
            max_tokens=32,
            concurrency=2,
            seed=3,
            owner=owner,
        )
        run = start(config)
        run_to_end(run)
    assert run.status == RunStatus.COMPLETED
    for g in run.generations.all():
        assert g.output.startswith("Reply to:")
        assert g.prompt_tokens > 10 and g.cache_read_tokens == 10 and g.output_tokens > 3
        expected = (
            (g.prompt_tokens - 10) * Decimal("0.15")
            + 10 * Decimal("0.075")
            + g.output_tokens * Decimal("0.60")
        ) / 1_000_000
        assert g.cost_usd == expected.quantize(Decimal("1e-8"))
    assert sum(run.generations.values_list("retries", flat=True)) == 3


def test_a_wrong_key_fails_the_run_at_start(owner, start, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with FakeOpenAI(api_key="sk-right") as server:
        config = ModelConfig.objects.create(
            name="m", backend="openai", model="gpt-4o", base_url=server.base_url, owner=owner
        )
        run = start(config)
        run_to_end(run)
    assert run.status == RunStatus.FAILED
    assert "refused the key in OPENAI_API_KEY" in run.error
    assert set(run.generations.values_list("attempts", flat=True)) == {0}


def test_a_gpt_5_run_sends_what_reasoning_models_take(owner, start, monkeypatch):
    # The fake refuses max_tokens, stop and top_p for gpt-5 models, as OpenAI does.
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-openai")
    with FakeOpenAI(api_key="sk-openai") as server:
        config = ModelConfig.objects.create(
            name="gpt5",
            backend="openai",
            model="gpt-5-mini",
            base_url=server.base_url,
            api_key_env="OPENAI_TEST_KEY",
            max_tokens=20,
            stop=["function"],
            seed=1,
            owner=owner,
        )
        run = start(config, n=3)
        run_to_end(run)
    assert run.status == RunStatus.COMPLETED, list(run.generations.values_list("error"))
    assert {r.status for r in server.ledger.records} == {200}
    for g in run.generations.all():
        # The stop sequence, which the model may not be sent, is applied to the text received.
        assert (g.output, g.finish_reason) == ("Reply to: Write a ", "stop")
        # Usage counts every token generated (the text kept is 4), as OpenAI bills them, at
        # the seeded gpt-5-mini price.
        assert 4 < g.output_tokens <= 20
        expected = (g.prompt_tokens * Decimal("0.25") + g.output_tokens * 2) / 1_000_000
        assert g.cost_usd == expected.quantize(Decimal("1e-8"))


def test_a_temperature_on_an_o_series_model_fails_the_run_at_start_with_the_reason(
    owner, start, monkeypatch
):
    monkeypatch.setenv("OPENAI_TEST_KEY", "sk-openai")
    with FakeOpenAI(api_key="sk-openai") as server:
        config = ModelConfig.objects.create(
            name="o4",
            backend="openai",
            model="o4-mini",
            base_url=server.base_url,
            api_key_env="OPENAI_TEST_KEY",
            temperature=0.2,
            owner=owner,
        )
        run = start(config, n=2)
        run_to_end(run)
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("o4-mini takes no temperature 0.2: OpenAI's reasoning models")
    assert set(run.generations.values_list("attempts", flat=True)) == {0}
    assert not [r for r in server.ledger.records if r.path.endswith("/chat/completions")]
    _, token = ApiToken.issue(owner, "runs")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(f"/api/runs/{run.pk}")
    assert api.json()["error"] == run.error
    page = Client()
    page.force_login(owner)
    assert escape(run.error) in page.get(f"/runs/{run.pk}/").content.decode()


@pytest.mark.parametrize(
    "model, base_url, sent",
    [
        # OpenAI deprecates max_tokens for every model.
        ("gpt-4o", "https://api.openai.com/v1", {"max_completion_tokens": 9, "temperature": 0.5}),
        # Local servers keep the name they all read.
        ("qwen", "http://127.0.0.1:8080/v1", {"max_tokens": 9, "temperature": 0.5}),
        # A reasoning model's name gets the new name and no sampling anywhere (a proxy).
        ("o3", "http://127.0.0.1:8080/v1", {"max_completion_tokens": 9}),
        ("gpt-5.1", "https://api.openai.com/v1", {"max_completion_tokens": 9}),
    ],
)
def test_the_token_limit_and_sampling_go_under_the_names_the_server_takes(model, base_url, sent):
    params = {"model": model, "max_tokens": 9, "temperature": 0.5, "top_p": 1, "stop": ["x"]}
    sent_sampling = {"top_p": 1, "stop": ["x"]} if len(sent) == 2 else {}

    assert request_options(params, base_url) == {**sent, **sent_sampling}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlx_server(demo_model_path, tmp_path_factory):
    """A real mlx_lm.server on the demo model."""
    port = _free_port()
    log = tmp_path_factory.mktemp("mlx-server") / "server.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlx_lm",
            "server",
            "--model",
            str(demo_model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"mlx_lm.server exited:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_a_run_through_a_real_mlx_lm_server(owner, start, mlx_server, demo_model_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server needs no key
    config = ModelConfig.objects.create(
        name="mlx-server",
        backend="openai",
        model=str(demo_model_path),
        base_url=mlx_server,
        max_tokens=24,
        temperature=0.8,
        # Seeded: an unseeded sample once opened with a token that decodes to no text, so the
        # output had no first text delta to time (and the check below failed at random).
        seed=7,
        concurrency=4,
        hourly_usd=Decimal("0.60"),
        owner=owner,
    )
    run = start(config, n=6)
    run_to_end(run)
    assert run.status == RunStatus.COMPLETED, list(run.generations.values_list("error"))
    for g in run.generations.all():
        assert g.status == GenerationStatus.DONE
        assert g.prompt_tokens > 5 and 0 < g.output_tokens <= 24
        assert g.ttft_s is not None and g.latency_s >= g.ttft_s
        assert g.finish_reason in ("stop", "length")
        # No price row for a local model: priced by the hour of its machine.
        assert g.cost_usd > 0
