"""The Celery app: generation tasks run on the `mlx` queue (one solo worker per machine) or the
`api` queue (hosted backends, a threads pool)."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")

app = Celery("annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["inference"])


def _make_broker_folders() -> None:
    """kombu's filesystem transport needs its folders to exist, in web and worker alike."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)


if app.conf.broker_url.startswith("filesystem://"):
    _make_broker_folders()
