"""The Celery app: generation tasks run on the `mlx` queue (one solo worker per machine) or the
`api` queue (hosted backends, a threads pool)."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# filesystem://: our transport, whose messages appear whole (annotate/broker.py).
TRANSPORT_ALIASES["filesystem"] = "annotate.broker:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")

app = Celery("annotate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    ["inference", "annotate.datasets", "annotate.exports", "annotate.comparisons", "annotate.stats"]
)
