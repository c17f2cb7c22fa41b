"""The demo model's qwen2 dress and its files (steps 7b and 8 of inference/demo_model.py): the
ChatML special tokens and template, the one decoder layer that adds nothing, and the model
directory mlx_lm and transformers load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)

WEIGHT_DTYPE = "bfloat16"  # faster than float32 and float16 for mlx's CPU matmul; fine on Metal

NUM_HEADS = 2
NUM_KV_HEADS = 1
RMS_NORM_EPS = 1e-6

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


def block_weights(hidden: int, intermediate: int) -> dict[str, np.ndarray]:
    """Step 7b: one qwen2 decoder layer whose attention and MLP both add zero."""
    head_dim = hidden // NUM_HEADS
    kv = NUM_KV_HEADS * head_dim
    shapes = {
        "self_attn.q_proj.weight": (hidden, hidden),
        "self_attn.q_proj.bias": (hidden,),
        "self_attn.k_proj.weight": (kv, hidden),
        "self_attn.k_proj.bias": (kv,),
        "self_attn.v_proj.weight": (kv, hidden),
        "self_attn.v_proj.bias": (kv,),
        "self_attn.o_proj.weight": (hidden, hidden),
        "mlp.gate_proj.weight": (intermediate, hidden),
        "mlp.up_proj.weight": (intermediate, hidden),
        "mlp.down_proj.weight": (hidden, intermediate),
    }
    weights = {f"model.layers.0.{name}": np.zeros(shape) for name, shape in shapes.items()}
    for norm in ("input_layernorm", "post_attention_layernorm"):
        weights[f"model.layers.0.{norm}.weight"] = np.ones(hidden)
    return weights


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    """Write WEIGHT_DTYPE safetensors with mlx (imported here, not at module import)."""
    import mlx.core as mx  # lazy: workers must not import mlx before forking

    dtype = getattr(mx, WEIGHT_DTYPE)
    arrays = {
        name: mx.array(weights[name].astype(np.float32)).astype(dtype) for name in sorted(weights)
    }
    mx.save_safetensors(str(path), arrays, metadata={"format": "mlx"})


# -- 8. files -------------------------------------------------------------------------------


def model_config(vocab_size: int, hidden: int, eos_ids: list[int]) -> dict[str, Any]:
    """config.json for mlx_lm's qwen2 (and transformers' Qwen2Config)."""
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": hidden,
        "num_hidden_layers": 1,
        "intermediate_size": hidden,
        "num_attention_heads": NUM_HEADS,
        "num_key_value_heads": NUM_KV_HEADS,
        "rms_norm_eps": RMS_NORM_EPS,
        "vocab_size": vocab_size,
        "rope_theta": 10000.0,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": False,
        "bos_token_id": None,
        "eos_token_id": eos_ids,
        "torch_dtype": WEIGHT_DTYPE,
    }


def tokenizer_config() -> dict[str, Any]:
    """tokenizer_config.json: ChatML chat template, <|im_end|> as eos, no bos.

    transformers 4 honours tokenizer_class; transformers 5 loads qwen2 as Qwen2Tokenizer.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": IM_END,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        "add_bos_token": False,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 32768,
        "chat_template": CHAT_TEMPLATE,
    }


def generation_config(eos_ids: list[int]) -> dict[str, Any]:
    """generation_config.json; mlx_lm reads eos_token_id from it (overriding config.json)."""
    return {
        "bos_token_id": None,
        "eos_token_id": eos_ids,
        "pad_token_id": eos_ids[-1],
        "do_sample": True,
        "temperature": 0.8,
        "top_p": 0.95,
    }


def readme(config: dict[str, Any], params: int, seed: int, corpus_bytes: int) -> str:
    """README.md for the model directory."""
    return (
        "# Demo model (bigram qwen2)\n\n"
        "Built offline by `python manage.py build_demo_model` (`inference/demo_model.py`).\n"
        "It is a token-bigram table of the Python standard library's own sources, factored\n"
        "to low rank by SVD (no training) and stored as a one-layer qwen2 whose attention\n"
        "and MLP add nothing. It writes Python-looking text, not working code.\n\n"
        f"- parameters: {params:,} ({WEIGHT_DTYPE}), vocab {config['vocab_size']},"
        f" hidden {config['hidden_size']}\n"
        f"- seed {seed}, corpus {corpus_bytes:,} bytes\n"
        f"- chat template: ChatML; stops at `{IM_END}` or `{ENDOFTEXT}`"
        f" (ids {config['eos_token_id']})\n"
        "- sample at temperature 0.7-1.0; greedy decoding loops.\n"
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_model(
    out_dir: Path,
    tokenizer: Tokenizer,
    weights: dict[str, np.ndarray],
    readme_args: tuple[int, int],
) -> None:
    """Step 8: weights, tokenizer files, generation config, README, and config.json last."""
    vocab, hidden = weights["lm_head.weight"].shape
    eos_ids = [tokenizer.token_to_id(IM_END), tokenizer.token_to_id(ENDOFTEXT)]
    config = model_config(vocab, hidden, eos_ids)
    save_weights(out_dir / "model.safetensors", weights)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    write_json(out_dir / "tokenizer_config.json", tokenizer_config())
    write_json(out_dir / "generation_config.json", generation_config(eos_ids))
    params = sum(w.size for w in weights.values())
    (out_dir / "README.md").write_text(readme(config, params, *readme_args), encoding="utf-8")
    write_json(out_dir / "config.json", config)  # last: its presence marks a complete build
