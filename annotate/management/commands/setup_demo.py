from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotate.datasets.importing import import_dataset
from annotate.datasets.models import Dataset
from inference.models import ModelConfig

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "coding_prompts.jsonl"
DEMO_DATASET = "Demo: coding prompts"
DEMO_CONFIG = "demo-mlx"


class Command(BaseCommand):
    help = (
        "Make a fresh install usable: build the demo model, create an admin account, a demo "
        "dataset and a demo model configuration. Safe to run again."
    )

    def handle(self, **options):
        call_command("build_demo_model", stdout=self.stdout)
        admin = self._admin()
        if not Dataset.objects.filter(name=DEMO_DATASET).exists():
            with DEMO_FILE.open("rb") as stream:
                import_dataset(
                    stream,
                    DEMO_FILE.name,
                    DEMO_DATASET,
                    admin,
                    "Short programming tasks for trying the app.",
                )
            self.stdout.write(f"Loaded the dataset {DEMO_DATASET!r}.")
        ModelConfig.objects.get_or_create(
            name=DEMO_CONFIG,
            defaults=dict(
                backend="mlx",
                model=settings.MLX_MODEL,
                temperature=0.8,
                top_p=0.95,
                max_tokens=128,
                seed=0,
                batch_size=settings.MLX_BATCH_SIZE,
                owner=admin,
                system_prompt="You are a helpful coding assistant.",
            ),
        )

    def _admin(self):
        users = get_user_model().objects
        admin = users.filter(is_superuser=True).order_by("pk").first()
        if admin:
            self.stdout.write(f"Admin account: {admin.username} (exists already).")
            return admin
        password = secrets.token_urlsafe(9)
        admin = users.create_superuser("admin", "admin@localhost", password)
        path = settings.VAR_DIR / "admin-password.txt"
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                # No address: run.sh prints it, with the port ANNOTATE_PORT picked.
                f"Created the admin account. Log in as admin / {password} (also saved in {path})."
            )
        )
        return admin
