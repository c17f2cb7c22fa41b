"""A randomly initialised mlx-lm model of a given shape, written as a model folder, offline.

Hubs are out of reach on the bench machines, so a "7B" is built here: a qwen2 config of the
shape asked for, weights drawn by mlx's own layer initialisers (mx.random, seeded), cast to
bfloat16 and, optionally, quantized by `mlx_lm.utils.quantize_model` as mlx-community's 4-bit
models are. The tokenizer files are the demo model's (inference/demo_model.py): a 1024-token
byte-level BPE with the ChatML template. The model's vocab is larger; ids the tokenizer lacks
decode to nothing, which costs the same work per step as real text.

Every sequence runs to max_tokens: config.json and generation_config.json declare one
end-of-sequence id, vocab_size, which the model cannot emit (bench/common.py copy_without_eos).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

SHAPES = {
    # Qwen2.5-7B(-Instruct / -Coder): 7.6 B parameters.
    "7b": {
        "hidden_size": 3584,
        "num_hidden_layers": 28,
        "intermediate_size": 18944,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "rope_theta": 1000000.0,
    },
    # Big enough that prefill takes measurable time on a CPU (~150 M parameters), small enough
    # to build and run in a minute or two there.
    "small": {
        "hidden_size": 1024,
        "num_hidden_layers": 8,
        "intermediate_size": 2816,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "vocab_size": 32768,
        "rope_theta": 1000000.0,
    },
    # Seconds to build anywhere: checks the code path on a CPU.
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 2048,
        "rope_theta": 10000.0,
    },
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def qwen2_config(shape: dict) -> dict:
    never = shape["vocab_size"]  # an id the model cannot emit (its logits have vocab_size rows)
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
        "bos_token_id": None,
        "eos_token_id": [never],
        "torch_dtype": "bfloat16",
        **shape,
    }


def build_random_model(out_dir: Path, shape: str = "tiny", bits: int = 0, seed: int = 0) -> Path:
    """Write a random qwen2 of SHAPES[shape] into out_dir (bits 4 or 8: quantized, group 64)."""
    import mlx.core as mx
    from mlx_lm.models import qwen2
    from mlx_lm.utils import quantize_model, save_config, save_model

    from inference.demo_model import build_demo_model

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {sorted(SHAPES)}")
    if bits not in (0, 4, 8):
        raise ValueError(f"bits must be 0 (bfloat16), 4 or 8, not {bits}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo_model(Path(tmp) / "demo")
        for name in TOKENIZER_FILES:
            shutil.copy(demo / name, out_dir / name)
    # mlx_lm adds the tokenizer's own eos_token to the config's ids: declare none.
    tok_config = out_dir / "tokenizer_config.json"
    tok_config.write_text(
        json.dumps({**json.loads(tok_config.read_text()), "eos_token": None}), encoding="utf-8"
    )
    config = qwen2_config(SHAPES[shape])
    mx.random.seed(seed)
    model = qwen2.Model(qwen2.ModelArgs.from_dict(config))
    model.set_dtype(mx.bfloat16)
    mx.eval(model.parameters())
    if bits:
        model, config = quantize_model(model, config, group_size=64, bits=bits)
    save_model(out_dir, model, donate_model=True)
    (out_dir / "generation_config.json").write_text(
        f'{{"eos_token_id": [{config["vocab_size"]}]}}\n', encoding="utf-8"
    )
    save_config(config, out_dir / "config.json")
    return out_dir
