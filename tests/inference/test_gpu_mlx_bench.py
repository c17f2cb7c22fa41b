"""bench/gpu_mlx.py and its random model, on MLX's CPU build: the code path the CUDA build runs.

The model folder must hold the shape asked for (parameters recounted from the saved tensors
against the Qwen2 formula), load with mlx-lm, and never stop early, so that raw mlx-lm and the
app's backend generate the same number of tokens."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlx.core as mx
from mlx_lm import load

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from _random_model import SHAPES, build_random_model  # noqa: E402
from gpu_mlx import main  # noqa: E402


def qwen2_parameters(s: dict) -> int:
    head_dim = s["hidden_size"] // s["num_attention_heads"]
    kv = s["num_key_value_heads"] * head_dim
    h, i = s["hidden_size"], s["intermediate_size"]
    attention = (h * h + h) + 2 * (h * kv + kv) + h * h  # q, k, v with biases; o without
    layer = attention + 3 * h * i + 2 * h  # gate, up, down; two norms
    return 2 * s["vocab_size"] * h + s["num_hidden_layers"] * layer + h  # embed, head, final norm


def test_random_model_has_the_shape_asked_for_and_loads(tmp_path):
    path = build_random_model(tmp_path / "m", "tiny")
    config = json.loads((path / "config.json").read_text())
    for key, value in SHAPES["tiny"].items():
        assert config[key] == value
    weights = {}
    for file in path.glob("*.safetensors"):
        weights.update(mx.load(str(file)))
    assert sum(w.size for w in weights.values()) == qwen2_parameters(SHAPES["tiny"])
    assert {w.dtype for w in weights.values()} == {mx.bfloat16}
    model, tokenizer = load(str(path))
    assert tokenizer.eos_token_ids == {SHAPES["tiny"]["vocab_size"]}  # never emitted


def test_quantized_random_model_is_four_bit(tmp_path):
    path = build_random_model(tmp_path / "m", "tiny", bits=4)
    config = json.loads((path / "config.json").read_text())
    assert config["quantization"]["bits"] == 4
    load(str(path))


def test_bench_compares_raw_and_app_on_the_same_tokens(tmp_path):
    out = tmp_path / "figures.json"
    figures = main(["--quick", "--out", str(out)])
    assert json.loads(out.read_text()) == figures
    assert figures["device"].startswith("Device(cpu")
    for side in ("raw", "app"):
        assert figures["batch"][side]["output_tokens"] == 4 * 16
        assert figures["single"][side]["output_tokens"] == 16
    assert figures["batch"]["app_vs_raw"] > 0
    assert figures["single"]["app_decode_vs_raw"] > 0
