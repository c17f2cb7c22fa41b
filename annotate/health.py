"""Is everything up? The web process, the database, the broker, the workers (with their
queues and models) and the work waiting per queue."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from annotate.celery import app
from inference.models import Generation, GenerationStatus, Run
from inference.workers import workers


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # a health check reports every failure, it never raises
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return {"ok": ok, "ms": round(1000 * (time.perf_counter() - started), 1), "detail": detail}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _broker() -> str:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return str(conn.transport_cls)


def queue_depth() -> dict[str, int]:
    """Generations waiting, per queue: the database's count, whatever the broker."""
    rows = (
        Generation.objects.filter(status=GenerationStatus.PENDING)
        .values("run_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    runs = Run.objects.in_bulk([row["run_id"] for row in rows])
    depth: dict[str, int] = {}
    for row in rows:
        try:
            queue = runs[row["run_id"]].queue
        except Exception:  # a backend this install lacks still shows its waiting work
            queue = "unknown"
        depth[queue] = depth.get(queue, 0) + row["n"]
    return depth


def reachable() -> dict[str, bool]:
    """For load balancers: do the database and the broker answer?"""
    return {"database": _timed(_database)["ok"], "broker": _timed(_broker)["ok"]}


def report() -> dict:
    checks = {
        "web": {"ok": True, "ms": 0.0, "detail": "up"},
        "database": _timed(_database),
        "broker": _timed(_broker),
    }
    online = [w for w in workers() if w["online"]]
    checks["workers"] = {
        "ok": bool(online),
        "ms": 0.0,
        "detail": f"{len(online)} online" if online else "no worker online",
    }
    return {
        "ok": all(c["ok"] for c in checks.values()),
        "checks": checks,
        "workers": workers(),
        "queue_depth": queue_depth() if checks["database"]["ok"] else {},
        "time": timezone.now().isoformat(),
    }


def _when(epoch) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if isinstance(epoch, int | float) else None


def models_on_disk() -> list[dict]:
    """Each worker's models, as its heartbeat tells (inference/watchdog.py): those in its
    Hugging Face cache (size, quantization, last read) and those it has loaded (load time,
    weights on disk, quantization, KV cache, last used)."""
    rows = []
    for w in workers():
        on_disk = [m | {"last_used": _when(m.get("last_used"))} for m in w["on_disk"] or []]
        loaded = [
            m | {"last_used": _when(m.get("last_used")), "loaded_at": _when(m.get("loaded_at"))}
            for m in w["model_facts"] or []
        ]
        if on_disk or loaded or "mlx" in w["queues"]:
            rows.append({**w, "on_disk": on_disk, "model_facts": loaded})
    return rows
