"""What the benchmarks share besides where they run (bench/environment.py) and PostgreSQL
(bench/pg.py): timing a call, the demo model and a copy of it that never stops early, waiting
for a run to end."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from environment import ROOT

from inference.demo_model import build_demo_model


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call(*args, **kwargs)
    return result, time.perf_counter() - start


def demo_model_path() -> Path:
    """MLX_MODEL, else the settings' default (var/models/demo), built there if missing."""
    if path := os.environ.get("MLX_MODEL"):
        return Path(path)
    path = Path(os.environ.get("ANNOTATE_VAR_DIR", ROOT / "var")) / "models" / "demo"
    if not (path / "config.json").exists():
        print(f"Building the demo model into {path} ...", flush=True)
        build_demo_model(path)
    return path


def _patch_json(path: Path, **values: Any) -> None:
    if path.exists():
        path.write_text(json.dumps(json.loads(path.read_text()) | values, indent=2))


def copy_without_eos(src: Path, dst: Path) -> Path:
    """A copy of the model whose only end-of-sequence id is vocab_size, which the model can
    never emit: every sequence runs to max_tokens, in mlx_lm and in the app alike, so runs
    compared with each other do the same work."""
    shutil.copytree(src, dst)
    never = int(json.loads((dst / "config.json").read_text())["vocab_size"])
    # mlx_lm reads eos ids from config.json, overridden by generation_config.json, and adds
    # the tokenizer's own eos_token: declare none there.
    _patch_json(dst / "config.json", eos_token_id=[never])
    _patch_json(dst / "generation_config.json", eos_token_id=[never])
    _patch_json(dst / "tokenizer_config.json", eos_token=None)
    return dst


def wait_finished(run_id: int, timeout: float, poll_s: float = 0.05) -> str:
    """The run's final status, once it has one; RuntimeError after timeout seconds."""
    from inference.models import ACTIVE_RUN_STATUSES, Run  # the models: after django.setup()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Run.objects.filter(pk=run_id).values_list("status", flat=True).get()
        if status not in ACTIVE_RUN_STATUSES:
            return status
        time.sleep(poll_s)
    raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s")
