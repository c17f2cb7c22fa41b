"""The statistics' rollups: a finished run's figures per machine, kept so that the speed & cost
page merges a few hundred rows instead of aggregating every generation (annotate/stats/rollups.py
writes and reads them)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from inference.models import ModelConfig, Run


class RunRollup(models.Model):
    """What model_stats needs of one finished run's done and failed generations on one machine,
    served by one configuration.
    Valid while the run's finished_at is still run_finished_at: a resumed or retried run gets a
    new one, so an old rollup is never read again."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rollups")
    machine = models.CharField(max_length=200, blank=True)
    # The configuration that served these generations: a routed run's leg (Generation.
    # served_by), else the run's. Empty only in rollups stored before legs were split.
    config = models.ForeignKey(
        ModelConfig, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run_finished_at = models.DateTimeField(null=True, blank=True)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    # inference/figures.py's cost figures: the recorded costs and how many done ones had one.
    cost_usd = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    priced = models.PositiveIntegerField(default=0)
    priced_prompt_tokens = models.BigIntegerField(default=0)
    priced_output_tokens = models.BigIntegerField(default=0)
    # The projection's measured means: done generations with output tokens, and their prompts.
    measured = models.PositiveIntegerField(default=0)
    measured_prompt_n = models.PositiveIntegerField(default=0)
    measured_prompt_tokens = models.BigIntegerField(default=0)
    versions = models.JSONField(default=list)
    concurrency = models.JSONField(default=list)
    # The span of the run's throughput (inference.figures.run_span).
    first_start = models.DateTimeField(null=True, blank=True)
    last_finish = models.DateTimeField(null=True, blank=True)
    # {measurement: a log-bucket histogram (annotate/stats/sketch.py)}
    sketches = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "annotate"
        constraints = [
            # One per run, machine and serving configuration: two writers racing keep the
            # first (ignore_conflicts).
            models.UniqueConstraint(
                fields=("run", "machine", "config"), name="run_rollup_unique_machine_config"
            ),
        ]

    def __str__(self) -> str:
        return f"Rollup of run {self.run_id} on {self.machine or 'unknown'}"


class Sweep(models.Model):
    """A speed sweep (annotate/stats/sweeps.py): one seeded sample of a dataset's items run
    through one configuration at each point of `points`, one ordinary run a point, one run
    after another. Its runs carry params["sweep"] = {"id", "point"}."""

    dataset = models.ForeignKey("annotate.Dataset", on_delete=models.PROTECT, related_name="+")
    model_config = models.ForeignKey(
        "annotate.ModelConfig", on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(default=timezone.now)
    seed = models.IntegerField(default=0)
    item_ids = models.JSONField(default=list)
    # [{"in_flight": n, "max_tokens": m}], in the order they run.
    points = models.JSONField(default=list)
    # Why the next point could not start (its run refused), else empty.
    error = models.TextField(blank=True)
    # Cancelled by its creator or staff (annotate.stats.actions.cancel_sweep): no point starts.
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "annotate"

    def __str__(self) -> str:
        return f"Sweep {self.pk} of {self.model_config_id} on dataset {self.dataset_id}"
