"""Model configurations, prices, runs and their generations, and the workers that make them.

They belong to the "annotate" Django app (its tables and migrations); a run's dataset and
items are named by label ("annotate.Dataset"), so generation imports nothing of the app.

The database row is the truth: a run's generations are created with it (one per item and
sample, unique), and workers claim, fill and release them. Celery only rings the doorbell.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Count, Q, Sum
from django.utils import timezone

from inference.backends import BACKEND_CHOICES, get_backend_class
from inference.figures import (
    priced_count,
    recorded_cost,
    run_span,
    run_tokens_per_s,
    total_cost,
)
from inference.prompts import build_messages


class GenerationMode(models.TextChoices):
    STREAM = "stream", "Streaming requests"
    BATCH = "batch", "Message Batches (half price, results within 24 h)"


class PricingMode(models.TextChoices):
    TOKEN = "token", "Per token (price table)"
    DEDICATED = "dedicated", "By the hour, dedicated 24/7"
    SERVERLESS = "serverless", "Serverless: per second of use"


class Price(models.Model):
    """A hosted model's list price from a date on, per million tokens. A change is a new row:
    generations keep the cost recorded when they were made."""

    backend = models.CharField(max_length=40, choices=BACKEND_CHOICES)
    model = models.CharField(
        max_length=200, help_text="The model's name, or a prefix of it (e.g. claude-sonnet-4-5)."
    )
    input_per_mtok = models.DecimalField(max_digits=12, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=12, decimal_places=4)
    cache_read_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Empty: the input price."
    )
    cache_write_per_mtok = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, help_text="Empty: the input price."
    )
    batch_discount = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        help_text="Fraction taken off in batch mode: 0.5 is half price.",
    )
    effective_from = models.DateField(help_text="The date the price was taken or took effect.")
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        app_label = "annotate"
        ordering = ("backend", "model", "-effective_from")
        constraints = [
            models.UniqueConstraint(
                fields=("backend", "model", "effective_from"), name="price_unique_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.backend}/{self.model} from {self.effective_from}"


class ModelConfig(models.Model):
    """A model and how to call it: backend, sampling, limits."""

    name = models.CharField(max_length=200, unique=True)
    backend = models.CharField(max_length=40, choices=BACKEND_CHOICES)
    model = models.CharField(
        max_length=500, help_text="MLX: a local path or hub id. APIs: the model's name."
    )
    system_prompt = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True, help_text="Empty: backend default.")
    top_p = models.FloatField(null=True, blank=True, help_text="Empty: backend default.")
    max_tokens = models.PositiveIntegerField(default=256)
    seed = models.IntegerField(null=True, blank=True)
    stop = models.JSONField(default=list, blank=True, help_text="Stop sequences.")
    batch_size = models.PositiveIntegerField(
        default=8, help_text="Sequences generated together (local backends)."
    )
    concurrency = models.PositiveIntegerField(
        default=8, help_text="Requests in flight at once (hosted APIs)."
    )
    base_url = models.URLField(
        blank=True,
        help_text="Hosted backends (OpenAI-compatible, Anthropic). Empty: the provider's API.",
    )
    api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable with the key."
    )
    mode = models.CharField(
        max_length=10,
        choices=GenerationMode,
        default=GenerationMode.STREAM,
        help_text="Anthropic only: batch mode for big runs.",
    )
    queue = models.CharField(
        max_length=100,
        blank=True,
        help_text="The Celery queue of the workers that hold this model (e.g. mlx.qwen7b); "
        "empty: the backend's queue (mlx or api).",
    )
    # None: never set, so costs stay unknown; 0: the hardware is free (inference/pricing.py).
    hourly_usd = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        default=None,
        help_text="The hardware's cost per hour (local backends, and hosted models with no "
        "price); empty: unknown, 0: free.",
    )
    # How a run is priced (inference/pricing.py): per token, the machine's hour 24/7, or per
    # second of use at the hourly rate (serverless), with cold starts and a minimum billed.
    pricing = models.CharField(
        max_length=12,
        choices=PricingMode,
        default=PricingMode.TOKEN,
        help_text="Per token: the price table (by the hour where it lists no price, and for "
        "local machines). Dedicated: the hourly price, 24/7. Serverless: the hourly price per "
        "second of use.",
    )
    cold_start_s = models.FloatField(
        null=True, blank=True, help_text="Serverless: seconds billed each time a worker starts."
    )
    min_billed_s = models.FloatField(
        null=True, blank=True, help_text="Serverless: the least billed for one request, seconds."
    )
    power_watts = models.FloatField(
        null=True, blank=True, help_text="The machine's power draw while it works, watts."
    )
    # A machine paid 24 h a day draws this while it waits (annotate/stats/paying.py).
    idle_watts = models.FloatField(
        null=True,
        blank=True,
        help_text="The machine's power draw while it waits, watts (counted for a machine paid "
        "24 h a day); empty: not counted.",
    )
    kwh_usd = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="The price of electricity per kWh (with the power draw).",
    )
    # Routed (hybrid) configuration, inference/routing.py: set, its runs go to these two.
    route_primary = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Routed: the configuration that serves items first (empty: not routed).",
    )
    route_fallback = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Routed: the configuration that serves what the rule sends away.",
    )
    route_on_errors = models.BooleanField(
        default=True,
        help_text="Routed: a primary item that fails after its retries goes to the fallback.",
    )
    route_share = models.FloatField(
        null=True, blank=True, help_text="Routed: the share of items (0-1) sent to the fallback."
    )
    route_ttft_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Routed: once a primary answer's first token took longer (seconds), the "
        "primary's waiting items go to the fallback.",
    )
    route_queue_depth = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Routed: items go to the fallback while the primary has this many unfinished.",
    )
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "annotate"
        ordering = ("name",)
        # The manager permission (inference.access.MANAGE_PERMISSION).
        permissions = [
            ("manage_generation", "Can manage datasets, model configurations, runs and prices")
        ]

    def __str__(self) -> str:
        return self.name

    def target_queue(self) -> str:
        return self.queue or get_backend_class(self.backend).queue

    def in_flight(self) -> str:
        """What it generates at once, in its backend's words: "batch 8" or "concurrency 16"."""
        return in_flight_label(self.params())

    def params(self) -> dict:
        """The settings a run keeps, so that editing the configuration later changes no run."""
        if self.route_primary_id:  # routed: the primary's, and both legs' (inference/routing.py)
            legs = {"primary": self.route_primary, "fallback": self.route_fallback}
            route = {
                leg: {"id": c.pk, "name": c.name, "params": c.params()} for leg, c in legs.items()
            }
            route.update(
                on_errors=self.route_on_errors,
                share=self.route_share,
                queue_depth=self.route_queue_depth,
                ttft_s=self.route_ttft_s,
            )
            return {**self.route_primary.params(), "route": route}
        return {
            "backend": self.backend,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop),
            "batch_size": self.batch_size,
            "concurrency": self.concurrency,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            **self.pricing_params(),
            "mode": self.mode,
            "queue": self.target_queue(),
        }

    def pricing_params(self) -> dict:
        """Every field of inference.pricing.PRICING_FIELDS as a run keeps it (decimals as text),
        so that an export carries them and its re-import restores them."""
        from inference.pricing import PRICING_FIELDS  # pricing imports this module

        values = {name: getattr(self, name) for name in PRICING_FIELDS}
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def in_flight_label(params: dict) -> str:
    backend = get_backend_class(params["backend"])
    word = "batch" if backend.is_local else "concurrency"
    return f"{word} {backend.in_flight(params)}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors", "Completed with errors"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class GenerationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Run(models.Model):
    dataset = models.ForeignKey("annotate.Dataset", on_delete=models.PROTECT, related_name="runs")
    model_config = models.ForeignKey(ModelConfig, on_delete=models.PROTECT, related_name="runs")
    samples_per_prompt = models.PositiveIntegerField(default=1)
    params = models.JSONField(help_text="The model configuration as it was when the run began.")
    status = models.CharField(max_length=30, choices=RunStatus, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set each time the run is (re)queued: the ETA counts work done since then.
    resumed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched by workers while they work on the run; stall detection reads it.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # What a worker is doing before it generates (downloading or loading the model); empty
    # once it is done. Written by inference/runner.py at most every second.
    status_text = models.CharField(max_length=300, blank=True)

    class Meta:
        app_label = "annotate"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Run {self.pk}: {self.params.get('model', '')} on {self.dataset_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def queue(self) -> str:
        """Runs for a model go to the workers that hold it: the configuration's queue."""
        return self.params.get("queue") or get_backend_class(self.params["backend"]).queue

    def in_flight(self) -> str:
        """What the run generates at once: "batch 8" (local) or "concurrency 16" (hosted)."""
        return in_flight_label(self.params)

    def _set(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=tuple(fields))

    def mark_requeued(self) -> None:
        now = timezone.now()
        self._set(status=RunStatus.QUEUED, resumed_at=now, finished_at=None, error="")

    def mark_failed(self, error: str) -> None:
        self._set(status=RunStatus.FAILED, error=error, finished_at=timezone.now())

    def mark_cancelled(self) -> None:
        self._set(status=RunStatus.CANCELLED, finished_at=timezone.now())

    def is_stalled(self, now=None) -> bool:
        """Work left, and no worker has touched the run for RUN_STALL_S seconds."""
        if not self.is_active:
            return False
        now = now or timezone.now()
        since = self.last_activity_at or self.resumed_at or self.created_at
        return (now - since).total_seconds() > settings.RUN_STALL_S

    def progress(self) -> RunProgress:
        return RunProgress.of(self)


class RunProgress:
    """Counts and rates for a run, computed in the database in one query."""

    def __init__(self, run: Run, row: dict, now) -> None:
        self.run = run
        self.total = run.total
        self.done = row["done"] or 0
        self.failed = row["failed"] or 0
        self.running = row["running"] or 0
        self.pending = row["pending"] or 0
        self.cancelled = row["cancelled"] or 0
        self.output_tokens = row["output_tokens"] or 0
        # None while any done output has no price: unknown is not zero (inference/figures.py).
        self.cost_usd = total_cost(row["cost"], row["priced"], self.done)
        self.unpriced = self.done - row["priced"]
        self.retries = row["retries"] or 0
        self.finished = self.done + self.failed
        self.tokens_per_s = run_tokens_per_s(
            row["output_tokens"], row["first_start"], row["last_finish"]
        )
        recent = row["recent"] or 0
        elapsed = _seconds(run.resumed_at, now if run.is_active else run.finished_at)
        self.items_per_s = recent / elapsed if recent and elapsed else None
        left = self.pending + self.running
        self.eta_s = left / self.items_per_s if self.items_per_s and run.is_active else None
        self.percent = round(100 * self.finished / self.total) if self.total else 0
        self.stalled = run.is_stalled(now)
        self.stall_s = settings.RUN_STALL_S

    @classmethod
    def of(cls, run: Run) -> RunProgress:
        gens = Generation.objects.filter(run=run)
        since = run.resumed_at or run.created_at
        row = gens.aggregate(
            **{s: Count("pk", filter=Q(status=s)) for s in GenerationStatus.values},
            **run_span(),
            cost=recorded_cost(),
            priced=priced_count(),
            retries=Sum("retries"),
            recent=Count("pk", filter=Q(finished_at__gte=since)),
        )
        return cls(run, row, timezone.now())


def _seconds(start, end) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0) or None


class Generation(models.Model):
    """One output: (run, item, sample). Measurements are defined in inference/measurement.py."""

    # generation_run_id (run, id) stands for the foreign key's own index.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="generations", db_index=False
    )
    item = models.ForeignKey("annotate.Item", on_delete=models.CASCADE, related_name="generations")
    sample_index = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=GenerationStatus, default=GenerationStatus.PENDING
    )
    output = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_read_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_s = models.FloatField(null=True, blank=True)
    latency_s = models.FloatField(null=True, blank=True)
    decode_tps = models.FloatField(null=True, blank=True)
    # Local backends only (hosted APIs report no prefill split; left empty): prompt tokens over
    # the time to first token, as mlx-lm's prompt_tps; the worker's peak memory (MB, 10^6
    # bytes) over the batch this generation ran in (inference/measurement.py).
    prefill_tps = models.FloatField(null=True, blank=True)
    peak_memory_mb = models.FloatField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    # How many sequences (MLX) or requests (APIs) were in flight beside this one.
    concurrency = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Workers that took it on.")
    retries = models.PositiveIntegerField(default=0, help_text="API requests retried.")
    # Message Batches mode: the provider's batch holding this generation.
    provider_batch = models.ForeignKey(
        "ProviderBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
        db_index=False,  # generation_provider_batch: only the rows that have one
    )
    backend_version = models.CharField(max_length=100, blank=True)
    machine = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Routed runs (inference/routing.py): the configuration that serves it, and why.
    served_by = models.ForeignKey(
        ModelConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A database default too: bulk inserts of other rows (imports, benchmarks) need not name it.
    route_reason = models.CharField(max_length=300, blank=True, default="", db_default="")
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "annotate"
        ordering = ("run", "item__index", "sample_index")
        constraints = [
            models.UniqueConstraint(
                fields=("run", "item", "sample_index"), name="generation_unique_sample"
            ),
        ]
        indexes = [
            # The keyset pages of a run's outputs (inference/outputs.py): filter(run=...,
            # id__gt=after).order_by("id") reads a page, with no sort of the whole run.
            models.Index(fields=("run", "id"), name="generation_run_id"),
            # Claiming pending work and counting progress: filter(run=..., status=...).
            models.Index(fields=("run", "status"), name="generation_run_status"),
            # Giving back expired leases: filter(status=RUNNING, lease_expires_at__lt=now).
            # Only generations under a lease have an expiry: the others (all the done ones)
            # are left out.
            models.Index(
                fields=("status", "lease_expires_at"),
                condition=Q(lease_expires_at__isnull=False),
                name="generation_lease",
            ),
            # Deleting a provider batch sets its generations' batch to null; most generations
            # (streamed, imported) have none, and are left out of the index.
            models.Index(
                fields=("provider_batch",),
                condition=Q(provider_batch__isnull=False),
                name="generation_provider_batch",
            ),
        ]

    def __str__(self) -> str:
        return f"Generation {self.pk} ({self.status})"

    @property
    def messages(self) -> list[dict]:
        return build_messages(self.item.messages, self.run.params.get("system_prompt", ""))


class ProviderBatch(models.Model):
    """A batch submitted to a provider's batch API. Its id is stored before anything else
    happens, so a restarted worker polls it again instead of paying twice."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="provider_batches")
    batch_id = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=40, default="in_progress")
    submitted_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    # The lease its generations are held under while the provider works on them.
    lease_token = models.UUIDField()

    class Meta:
        app_label = "annotate"

    def __str__(self) -> str:
        return self.batch_id


class WorkerHeartbeat(models.Model):
    """A Celery worker, as its watchdog last reported it: its queues and the models it holds."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    loaded = models.JSONField(default=list, help_text="Models loaded in the worker process.")
    # Per loaded model (inference/backends/mlx.py model_facts): load time (cold or warm), size
    # on disk, quantization, KV cache.
    model_facts = models.JSONField(default=list, blank=True)
    # The models in the worker's Hugging Face cache (inference/hub.py cached_models).
    on_disk = models.JSONField(default=list, blank=True)
    pid = models.PositiveIntegerField(null=True)
    machine = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "annotate"

    def __str__(self) -> str:
        return self.hostname
