"""Models on disk: a local configuration's model is a folder or a Hugging Face repository
(`mlx-community/Qwen2.5-Coder-7B-Instruct-4bit`), resolved through the worker's Hugging Face
cache (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub) and downloaded into it on
first use when the hub is reachable. HF_HUB_OFFLINE=1 never asks the hub.

Also what the worker's heartbeat says about a model folder and about the cache: size of the
weights, quantization (config.json's "quantization"), when last used.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from inference.backends.base import BackendError

# What a model needs from a repository (not its README images or other formats' weights).
MODEL_FILES = ["*.json", "*.safetensors", "*.py", "*.model", "*.tiktoken", "*.txt", "*.jinja"]
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# The cache is scanned at most this often by a worker's heartbeat.
SCAN_EVERY_S = 300.0
# A download's progress is reported at most this often (each report is a database write).
PROGRESS_EVERY_S = 1.0
TRANSFER_BAR = "Downloading bytes"


def cache_dir() -> Path:
    """The Hugging Face hub cache this process uses, read from the environment each time."""
    if folder := os.environ.get("HF_HUB_CACHE"):
        return Path(folder).expanduser()
    home = os.environ.get("HF_HOME") or Path("~/.cache/huggingface").expanduser()
    return Path(home).expanduser() / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def is_repo_id(name: str) -> bool:
    """A repository id (org/name) rather than a folder: no leading / . ~ and not a folder here."""
    return bool(REPO_ID.match(name)) and not Path(name).exists()


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.1f}"


def progress_bar(name: str, report: Callable[[str], None]) -> type:
    """A tqdm class for snapshot_download's tqdm_class that prints nothing and says, at most
    every PROGRESS_EVERY_S, "Downloading <repository>: 1.2 of 4.3 GB" through report. Of the
    bars snapshot_download makes, the one counting the bytes written to the cache is read."""
    from tqdm.auto import tqdm  # lazy, as huggingface_hub (which needs it) is

    last = {"at": -1e9}

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            # The bytes written (not "Downloading bytes": the network's, for Xet files only,
            # whose total huggingface_hub inflates as they come).
            self.counts_bytes = kwargs.get("unit") == "B" and kwargs.get("desc") != TRANSFER_BAR
            kwargs.pop("name", None)
            super().__init__(*args, **{**kwargs, "disable": True})

        def update(self, n=1):
            self.n += n or 0  # a disabled tqdm counts nothing itself
            now = time.monotonic()
            if self.counts_bytes and now - last["at"] >= PROGRESS_EVERY_S:
                last["at"] = now
                total = f" of {gigabytes(self.total)}" if self.total else ""
                report(f"Downloading {name}: {gigabytes(self.n)}{total} GB")

    return Bar


def resolve(name: str, progress: Callable[[str], None] | None = None) -> tuple[Path, bool]:
    """(the model's folder, whether it was downloaded now). A folder is taken as it is; a
    repository comes from the cache, or is downloaded into it, telling progress (a callable
    taking a short text) how far the download is. Raises BackendError naming the repository
    and the cache folder when it is in neither."""
    if not is_repo_id(name):
        return Path(name).expanduser(), False
    from huggingface_hub import snapshot_download  # lazy: only workers resolve models

    folder = cache_dir()
    try:
        path = snapshot_download(
            repo_id=name, cache_dir=folder, allow_patterns=MODEL_FILES, local_files_only=True
        )
        return Path(path), False
    except Exception as cached_exc:  # not (completely) in the cache
        if offline():
            raise BackendError(
                f"The model {name} is not in the Hugging Face cache {folder}, and HF_HUB_OFFLINE "
                f"is set, so it cannot be downloaded. Download it on a machine that reaches the "
                f"hub (`hf download {name}`) into that folder, or name a model folder."
            ) from cached_exc
    try:
        path = snapshot_download(
            repo_id=name,
            cache_dir=folder,
            allow_patterns=MODEL_FILES,
            tqdm_class=progress_bar(name, progress) if progress else None,
        )
    except Exception as exc:  # network errors, 401/404 for an unknown or gated repository
        raise BackendError(
            f"The model {name} is not in the Hugging Face cache {folder} and could not be "
            f"downloaded: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
    return Path(path), True


def folder_facts(path: Path) -> dict:
    """Size of the weights on disk and quantization of a model folder (config.json)."""
    weights = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    quant = config.get("quantization") or config.get("quantization_config") or {}
    return {
        "weights_bytes": weights,
        "bits": quant.get("bits"),
        "group_size": quant.get("group_size"),
        "model_type": config.get("model_type", ""),
    }


_scan: dict = {"at": -1e9, "models": []}


def cached_models() -> list[dict]:
    """The models in this worker's hub cache: repository, revision, size on disk,
    quantization and when a file of it was last read (the file system's access time). Scanned
    at most every SCAN_EVERY_S; an empty list where there is no cache."""
    now = time.monotonic()
    if now - _scan["at"] < SCAN_EVERY_S:
        return _scan["models"]
    models = []
    folder = cache_dir()
    if folder.is_dir():
        from huggingface_hub import scan_cache_dir  # lazy: only workers scan

        try:
            info = scan_cache_dir(folder)
        except Exception:  # an unreadable cache is not the heartbeat's failure
            info = None
        for repo in sorted(info.repos if info else (), key=lambda r: r.repo_id):
            if repo.repo_type != "model":
                continue
            newest = max(repo.revisions, key=lambda r: r.last_modified, default=None)
            facts = folder_facts(newest.snapshot_path) if newest else {}
            models.append(
                {
                    "repo": repo.repo_id,
                    "revision": newest.commit_hash[:12] if newest else "",
                    "size_bytes": repo.size_on_disk,
                    "bits": facts.get("bits"),
                    "group_size": facts.get("group_size"),
                    "last_used": repo.last_accessed,
                }
            )
    _scan.update(at=now, models=models)
    return models
