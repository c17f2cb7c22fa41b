from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from inference.demo_model import build_demo_model

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def default_out_dir() -> Path:
    """settings.DEMO_MODEL_DIR (var/models/demo); never MLX_MODEL, which may be a hub id."""
    return Path(settings.DEMO_MODEL_DIR)


class Command(BaseCommand):
    help = (
        "Build the small demo MLX model (a bigram model of the Python standard library, "
        "stored as a one-layer qwen2) offline and deterministically; takes a few seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, default=None, help="Default: DEMO_MODEL_DIR.")
        parser.add_argument("--force", action="store_true", help="Rebuild if already built.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, out: Path | None, force: bool, seed: int, **options):
        out_dir = Path(out or default_out_dir())
        if (out_dir / "config.json").exists() and not force:
            self.stdout.write(f"Demo model already built at {out_dir}; skipping (use --force).")
            return
        started = time.perf_counter()
        build_demo_model(out_dir, seed=seed)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(f"Built the demo model at {out_dir} in {elapsed:.1f} s.")
        )
