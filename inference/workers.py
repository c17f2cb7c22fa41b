"""The workers online, as their heartbeats tell (the watchdog writes one every few seconds)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inference.models import WorkerHeartbeat


def workers() -> list[dict]:
    """Every worker heard from, with its queues and models; those heard from within two
    watchdog periods count as online."""
    fresh = timezone.now() - timedelta(seconds=max(settings.GENERATION_LEASE_S, 10))
    return [
        {
            "hostname": w.hostname,
            "queues": w.queues,
            "models": w.loaded,
            "model_facts": w.model_facts,
            "on_disk": w.on_disk,
            "machine": w.machine,
            "last_seen": w.last_seen,
            "online": w.last_seen >= fresh,
        }
        for w in WorkerHeartbeat.objects.order_by("hostname")
    ]


def online_on(queue: str) -> int:
    """How many workers online consume `queue`."""
    return sum(1 for w in workers() if w["online"] and queue in w["queues"])


def report_loaded(hostname: str, models: list[str], facts: list[dict] | None = None) -> None:
    """Say at once which models a worker holds (a load just ended), and what it measured of
    them, rather than at the watchdog's next heartbeat, up to half a lease later."""
    fields = {"loaded": models} if facts is None else {"loaded": models, "model_facts": facts}
    WorkerHeartbeat.objects.filter(hostname=hostname).update(**fields)


def loaded_model_facts() -> dict[tuple[str, str], dict]:
    """{(machine, model): what the latest worker to load that model there measured of it
    (load time, weights on disk, quantization, KV cache)}, from every heartbeat on record:
    a worker gone offline still tells what it measured."""
    latest: dict[tuple[str, str], dict] = {}
    for machine, facts in WorkerHeartbeat.objects.values_list("machine", "model_facts"):
        for f in facts or []:
            key = (machine, f.get("model", ""))
            if (f.get("loaded_at") or 0) >= (latest.get(key, {}).get("loaded_at") or 0):
                latest[key] = f
    return latest
