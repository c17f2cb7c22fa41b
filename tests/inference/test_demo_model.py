"""The demo MLX model: builds offline and deterministically, loads with mlx_lm, generates
(serially and batched) text that looks like Python, and applies its ChatML template."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import mlx.core as mx
import pytest
from django.core.management import call_command
from mlx_lm import batch_generate, load, stream_generate
from mlx_lm.sample_utils import make_sampler
from tokenizers import Tokenizer

import inference.demo_model
from inference.demo_model import build_demo_model
from inference.demo_model_files import ENDOFTEXT, IM_END, IM_START

SMALL = {"vocab_size": 512, "rank": 14, "corpus_bytes": 400_000}
PYTHON_WORDS = {"self", "return", "def", "import", "if", "in", "for", "not", "None", "class"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The model with default settings (a few seconds to build)."""
    return build_demo_model(tmp_path_factory.mktemp("demo-model"))


@pytest.fixture(scope="module")
def loaded(model_dir):
    return load(str(model_dir))


def test_writes_a_qwen2_checkpoint(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert {"generation_config.json", "README.md"} <= names
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["num_hidden_layers"] == 1
    assert config["tie_word_embeddings"] is False
    raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert config["vocab_size"] == raw.get_vocab_size()
    assert config["eos_token_id"] == [raw.token_to_id(IM_END), raw.token_to_id(ENDOFTEXT)]
    assert config["hidden_size"] % config["num_attention_heads"] == 0


def test_loads_with_both_eos_ids(loaded, model_dir):
    _, tokenizer = loaded
    ids = {tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT)}
    assert tokenizer.eos_token_ids == ids
    assert tokenizer.eos_token == IM_END


def test_transformers_tokenizes_like_tokenizer_json(loaded, model_dir):
    """transformers may load it as Qwen2Tokenizer, which rebuilds the pre-tokenizer."""
    _, tokenizer = loaded
    raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    text = "class A:\n    def f(self, x=12):\n\n        return x  # héllo ½ 日本\r\n\t\tpass\n"
    assert tokenizer.encode(text, add_special_tokens=False) == raw.encode(text).ids
    assert tokenizer.decode(raw.encode(text).ids) == text


def test_chat_template(loaded):
    _, tokenizer = loaded
    messages = [
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write a parser."},
    ]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
    assert isinstance(ids, list) and all(isinstance(i, int) for i in ids)
    text = tokenizer.decode(ids)
    assert text == (
        f"{IM_START}system\nYou write Python.{IM_END}\n"
        f"{IM_START}user\nWrite a parser.{IM_END}\n"
        f"{IM_START}assistant\n"
    )
    assert ids.count(tokenizer.convert_tokens_to_ids(IM_START)) == 3
    without = tokenizer.apply_chat_template(messages, add_generation_prompt=False)
    assert ids[: len(without)] == without and len(ids) > len(without)


def test_stream_generate_yields_tokens(loaded):
    model, tokenizer = loaded
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write a function."}], add_generation_prompt=True
    )
    mx.random.seed(0)
    responses = list(
        stream_generate(model, tokenizer, prompt, max_tokens=32, sampler=make_sampler(temp=0.8))
    )
    assert 1 <= len(responses) <= 32
    assert responses[-1].generation_tokens == len(responses)
    assert "".join(r.text for r in responses)


def test_batch_generate_four_prompts(loaded):
    model, tokenizer = loaded
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": f"Task {i}"}], add_generation_prompt=True
        )
        for i in range(4)
    ]
    mx.random.seed(0)
    result = batch_generate(
        model, tokenizer, prompts, max_tokens=24, sampler=make_sampler(temp=0.8)
    )
    assert len(result.texts) == 4
    assert all(isinstance(text, str) for text in result.texts)
    assert sum(len(text) for text in result.texts) > 40


def test_block_is_identity_so_logits_depend_on_last_token_only(loaded):
    model, tokenizer = loaded
    ids = tokenizer.encode("import os\nfor name in os.listdir(path):\n    if name")
    full = model(mx.array(ids)[None])[0, -1].astype(mx.float32)
    alone = model(mx.array(ids[-1:])[None])[0, -1].astype(mx.float32)
    assert mx.allclose(full, alone, atol=1e-2).item()


def test_greedy_output_reads_like_python(loaded):
    model, tokenizer = loaded
    text = "".join(r.text for r in stream_generate(model, tokenizer, "def ", max_tokens=200))
    assert text
    printable = sum(ch.isascii() and (ch.isprintable() or ch in "\n\t") for ch in text)
    assert printable / len(text) > 0.95
    assert PYTHON_WORDS & set(re.findall(r"[A-Za-z_]+", text))


def test_sampled_output_reads_like_python(loaded):
    model, tokenizer = loaded
    mx.random.seed(1)
    responses = stream_generate(
        model, tokenizer, "\n", max_tokens=200, sampler=make_sampler(temp=0.8)
    )
    text = "".join(r.text for r in responses)
    words = set(re.findall(r"[A-Za-z_]+", text))
    assert len(PYTHON_WORDS & words) >= 3, text
    assert "\n    " in text  # indented lines


def test_same_seed_same_bytes(tmp_path):
    first = build_demo_model(tmp_path / "a", seed=3, **SMALL)
    second = build_demo_model(tmp_path / "b", seed=3, **SMALL)
    other = build_demo_model(tmp_path / "c", seed=4, **SMALL)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "tokenizer_config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()


def test_small_model_loads_and_generates(tmp_path):
    model, tokenizer = load(str(build_demo_model(tmp_path / "small", **SMALL)))
    config = json.loads((tmp_path / "small" / "config.json").read_text())
    assert config["vocab_size"] == 512 and config["hidden_size"] == 16
    assert list(stream_generate(model, tokenizer, "import ", max_tokens=8))


def test_management_command_builds_then_skips(tmp_path, monkeypatch):
    calls = []

    def fake_build(out_dir: Path, *, seed: int = 0) -> Path:
        calls.append((out_dir, seed))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")
        return out_dir

    monkeypatch.setattr(inference.demo_model, "build_demo_model", fake_build)
    out = tmp_path / "model"
    stdout = io.StringIO()
    call_command("build_demo_model", "--out", str(out), "--seed", "7", stdout=stdout)
    assert calls == [(out, 7)]
    assert f"Built the demo model at {out}" in stdout.getvalue()
    call_command("build_demo_model", "--out", str(out), stdout=stdout)
    assert len(calls) == 1 and "skipping" in stdout.getvalue()
    call_command("build_demo_model", "--out", str(out), "--force", stdout=stdout)
    assert calls[-1] == (out, 0)
