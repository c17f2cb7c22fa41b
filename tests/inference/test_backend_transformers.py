"""The transformers backend on PyTorch's CPU build, on the demo model: runs through the runner
with every measurement, greedy output equal to model.generate's own, stop strings, cancelling,
and a missing model that fails the run at start.

Needs `pip install -r requirements-transformers.txt`; skipped without torch."""

from __future__ import annotations

import pytest

from inference.actions import create_run
from inference.backends.base import GenerationRequest
from inference.backends.transformers_cpu import TransformersBackend
from inference.models import GenerationStatus, ModelConfig, RunStatus
from inference.prompts import render_chat
from inference.runner import process_run
from tests.conftest import make_dataset

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.django_db


@pytest.fixture
def torch_config(owner, demo_model_path):
    return ModelConfig.objects.create(
        name="demo on torch",
        backend="transformers",
        model=str(demo_model_path),
        temperature=0.8,
        top_p=0.95,
        max_tokens=24,
        seed=0,
        batch_size=1,
        owner=owner,
    )


@pytest.fixture
def start(owner, django_capture_on_commit_callbacks):
    def start(config, n=4):
        with django_capture_on_commit_callbacks(execute=False):  # no broker: we run the body here
            return create_run(owner, make_dataset(owner, n).pk, config.pk)

    return start


def test_a_run_fills_every_measurement(torch_config, start):
    run = start(torch_config)
    assert process_run(run.pk, worker="test") is None
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    gens = list(run.generations.all())
    assert len(gens) == 4
    assert {g.status for g in gens} == {GenerationStatus.DONE}
    for g in gens:
        assert g.output_tokens is not None and g.output_tokens <= 24
        assert g.finish_reason == ("length" if g.output_tokens == 24 else "stop")
        assert g.prompt_tokens > 5
        assert 0 < g.ttft_s <= g.latency_s
        assert g.output_tokens < 2 or g.decode_tps > 0
        assert g.concurrency == 1 and g.attempts == 1
        assert g.backend_version.startswith("transformers ")
        assert "torch 2." in g.backend_version and "cpu" in g.backend_version
        assert g.machine and g.worker == "test"
        assert g.cost_usd is None  # no hourly price set: unknown, not free
    assert sum(bool(g.output.strip()) for g in gens) >= 3
    assert run.progress().tokens_per_s > 0


def test_greedy_output_is_what_model_generate_gives(torch_config, start, demo_model_path):
    torch_config.temperature = 0.0
    torch_config.save()
    run = start(torch_config, n=1)
    process_run(run.pk, worker="test")
    [g] = run.generations.all()

    # lazy: transformers is optional (importorskip above)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_path)
    model = AutoModelForCausalLM.from_pretrained(demo_model_path, dtype=torch.float32)
    prompt = render_chat(tokenizer, g.messages)
    ids = model.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False)
    new = ids[0, len(prompt) :].tolist()
    eos = set(model.generation_config.eos_token_id)
    if new[-1] in eos:
        new = new[:-1]
    assert g.prompt_tokens == len(prompt)
    assert g.output_tokens == len(new)
    assert g.output == tokenizer.decode(new)
    assert g.finish_reason == ("length" if len(new) == 24 else "stop")


def test_the_seed_decides_the_samples(torch_config, start):
    def sample(seed):
        torch_config.seed = seed
        torch_config.save()
        run = start(torch_config, n=2)
        process_run(run.pk, worker="test")
        return list(run.generations.order_by("pk").values_list("output", flat=True))

    first = sample(0)
    assert sample(0) == first
    assert sample(1) != first


def test_a_stop_string_cuts_the_output(torch_config, start):
    torch_config.temperature = 0.0
    torch_config.save()
    run = start(torch_config, n=1)
    process_run(run.pk, worker="test")
    full = run.generations.get().output
    stop = full[len(full) // 2 :][:3]  # a stop string from the middle of the greedy output
    torch_config.stop = [stop]
    torch_config.save()
    run = start(torch_config, n=1)
    process_run(run.pk, worker="test")
    g = run.generations.get()
    assert g.finish_reason == "stop"
    assert g.output == full[: full.find(stop)]
    assert g.output_tokens < 24


def test_a_cancel_stops_the_request_in_flight(demo_model_path):
    backend = TransformersBackend(
        {"backend": "transformers", "model": str(demo_model_path), "max_tokens": 200}
    )
    requests = [GenerationRequest(k, [{"role": "user", "content": "def"}]) for k in (1, 2)]
    emitted = []
    calls = iter(range(10_000))

    backend.generate(
        {"max_tokens": 200, "temperature": 0.0},
        claim=lambda n: [requests.pop(0)] if requests else [],
        emit=emitted.append,
        should_stop=lambda: next(calls) >= 5,  # a few tokens into the first request
    )
    assert [(r.key, r.cancelled) for r in emitted] == [(1, True)]
    assert len(requests) == 1  # the second was never claimed


def test_a_missing_model_fails_the_run_at_start_and_uses_no_item(torch_config, start):
    torch_config.model = "/nonexistent/model"
    torch_config.save()
    run = start(torch_config, n=3)
    process_run(run.pk, worker="test")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "No transformers model at /nonexistent/model" in run.error
    assert set(run.generations.values_list("attempts", flat=True)) == {0}
