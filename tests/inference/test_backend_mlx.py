"""The MLX backend's measurements on the demo model, checked against mlx-lm's own stream:
decode tokens/s times exactly the output tokens it counts (not the end-of-sequence step), and
a batch that is not full does not ask the database for work between decode steps."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from mlx_lm import load

from inference.actions import create_run
from inference.backends.mlx import RECLAIM_S
from inference.leases import Lease
from inference.models import GenerationStatus
from inference.runner import process_run
from tests.conftest import make_dataset

pytestmark = pytest.mark.django_db

# mlx_lm's package exports a function named `generate`, which hides the module of that name.
BatchGenerator = sys.modules["mlx_lm.generate"].BatchGenerator


@pytest.fixture
def early_eos_config(mlx_config, demo_model_path, tmp_path) -> Path:
    """The demo model with its newline token declared end-of-sequence too, so that outputs
    end naturally well before max_tokens (the demo model itself rarely writes one)."""
    path = Path(shutil.copytree(demo_model_path, tmp_path / "demo-early-eos"))
    _, tokenizer = load(str(demo_model_path))
    eos = [*tokenizer.eos_token_ids, tokenizer.convert_tokens_to_ids("\u010a")]  # "\n"
    for name in ("config.json", "generation_config.json"):
        config = json.loads((path / name).read_text())
        (path / name).write_text(json.dumps(config | {"eos_token_id": eos}))
    mlx_config.model, mlx_config.max_tokens = str(path), 64
    mlx_config.save()
    return mlx_config


@pytest.fixture
def stream(monkeypatch):
    """What mlx-lm hands the backend, recorded apart from the app's Timing: each inserted
    prompt, and each response with the moment the backend takes it from the step's list."""
    prompts: dict[tuple[int, int], list[int]] = {}
    responses: dict[tuple[int, int], list[tuple[int, str | None, float]]] = defaultdict(list)
    insert, next_generated = BatchGenerator.insert, BatchGenerator.next_generated

    def recording_insert(self, batch, *args, **kwargs):
        uids = insert(self, batch, *args, **kwargs)
        prompts.update({(id(self), uid): list(p) for uid, p in zip(uids, batch, strict=True)})
        return uids

    def recording_next_generated(self):
        for r in next_generated(self):
            responses[(id(self), r.uid)].append((r.token, r.finish_reason, time.perf_counter()))
            yield r

    monkeypatch.setattr(BatchGenerator, "insert", recording_insert)
    monkeypatch.setattr(BatchGenerator, "next_generated", recording_next_generated)
    return prompts, responses


def run_of(owner, config, n, capture):
    with capture(execute=False):  # no broker: the task's body runs here
        run = create_run(owner, make_dataset(owner, n).pk, config.pk)
    assert process_run(run.pk, worker="test") is None
    return run


def test_decode_tokens_per_s_times_only_the_tokens_it_counts(
    owner, owner_client, early_eos_config, stream, django_capture_on_commit_callbacks
):
    run = run_of(owner, early_eos_config, 20, django_capture_on_commit_callbacks)
    _, tokenizer = load(early_eos_config.model)
    prompts, responses = stream
    by_prompt = {tokenizer.decode(p): key for key, p in prompts.items()}
    stopped_early = 0
    for g in run.generations.select_related("item"):
        assert g.status == GenerationStatus.DONE
        [key] = [k for text, k in by_prompt.items() if g.item.messages[-1]["content"] in text]
        steps = responses[key]
        counted = [(token, at) for token, finish, at in steps if finish != "stop"]
        tokens = [token for token, _ in counted]
        # What the model wrote, end-of-sequence left out, is the output and its count (not a
        # re-encoding of the text: a sampled output may split words as BPE would not).
        assert g.output_tokens == len(tokens)
        assert tokenizer.decode(tokens) == g.output
        if g.finish_reason == "length":
            assert len(tokens) == 64 and len(steps) == 64
            continue
        assert steps[-1][0] in tokenizer.eos_token_ids and len(steps) == len(tokens) + 1
        if len(tokens) < 2:
            assert g.decode_tps is None
            continue
        stopped_early += 1
        first, last, eos = counted[0][1], counted[-1][1], steps[-1][2]
        recorded_decode_s = (g.output_tokens - 1) / g.decode_tps
        # The stream's times and the app's differ by microseconds; counting the end-of-sequence
        # step would add a whole decode step (eos - last).
        assert abs(recorded_decode_s - (last - first)) < (eos - last) / 4
        assert g.latency_s >= g.ttft_s + recorded_decode_s
        api = owner_client.get(f"/api/generations/{g.pk}").json()
        assert api["decode_tps"] == g.decode_tps and api["output_tokens"] == len(tokens)
        page = owner_client.get(f"/generations/{g.pk}/").content.decode()
        shown = re.search(r"<dt>Decode tokens/s</dt><dd>([\d.]+)</dd>", page)[1]
        # The page shows the recorded figure, rounded to the digits it prints.
        digits = len(shown.partition(".")[2])
        assert abs(float(shown) - g.decode_tps) <= 0.5 * 10**-digits + 1e-9
    assert stopped_early >= 3


def test_a_batch_that_is_not_full_does_not_claim_between_decode_steps(
    owner, mlx_config, stream, django_capture_on_commit_callbacks, monkeypatch
):
    """Each claim is a database transaction: one per decode step cost the one prompt of a
    run (or the last ones of any run) most of its decode speed."""
    claims = []
    claim = Lease.claim

    def counting_claim(self, n):
        claims.append(n)
        return claim(self, n)

    monkeypatch.setattr(Lease, "claim", counting_claim)
    mlx_config.max_tokens = 64
    mlx_config.save()
    started = time.monotonic()
    run = run_of(owner, mlx_config, 3, django_capture_on_commit_callbacks)
    elapsed = time.monotonic() - started
    _, responses = stream
    assert [g.output_tokens for g in run.generations.all()] == [64, 64, 64]
    assert [len(steps) for steps in responses.values()] == [64, 64, 64]
    # The first claim (3 of 8: short), one when nothing is left in flight, and at most one a
    # second in between (RECLAIM_S), where there had been one a step.
    assert claims[0] == 8 and claims[-1] == 8
    assert len(claims) <= 2 + elapsed / RECLAIM_S
