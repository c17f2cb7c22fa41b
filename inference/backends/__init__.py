"""Backends by name. Each backend is one module with one class of the same shape (see base.py);
a new backend is a new module and a line here, not a branch in a switch.

Classes are imported on first use, so the web process never imports MLX.
"""

from __future__ import annotations

from importlib import import_module

from inference.backends.base import Backend, BackendError

# name -> (label, "module:Class")
BACKENDS: dict[str, tuple[str, str]] = {
    "mlx": ("MLX (local, mlx-lm)", "inference.backends.mlx:MLXBackend"),
    "anthropic": ("Anthropic API", "inference.backends.anthropic:AnthropicBackend"),
    "openai": ("OpenAI-compatible API", "inference.backends.openai_compat:OpenAICompatBackend"),
    "transformers": (
        "Transformers on the CPU (PyTorch)",
        "inference.backends.transformers_cpu:TransformersBackend",
    ),
    "imported": (
        "Imported outputs (made elsewhere)",
        "inference.backends.imported:ImportedBackend",
    ),
}
# What a configuration may be made with: imported outputs come only from a file.
BACKEND_CHOICES = [(name, label) for name, (label, _) in BACKENDS.items() if name != "imported"]


class UnknownBackend(BackendError):
    pass


def get_backend_class(name: str) -> type[Backend]:
    try:
        _, target = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise UnknownBackend(f"Unknown backend {name!r}; known backends: {known}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)


_instances: dict[tuple, Backend] = {}


def loaded_models() -> list[str]:
    """The models this process holds, e.g. ["mlx:/models/qwen"]."""
    return sorted(f"{key[0]}:{key[1]}" for key in _instances)


def model_facts() -> list[dict]:
    """What the loaded models' backends tell of them (load time, size, quantization, KV
    cache: MLXBackend.facts), for the worker's heartbeat."""
    return [facts for b in _instances.values() if (facts := getattr(b, "facts", None))]


def get_backend(params: dict) -> Backend:
    """The backend for a run's params, kept for the life of the worker process, so that a model
    is loaded once per process and never per task."""
    cls = get_backend_class(params["backend"])
    key = (params["backend"], *cls.cache_key(params))
    if key not in _instances:
        _instances[key] = cls(params)
    return _instances[key]
