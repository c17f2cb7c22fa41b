"""Speed, cost and quality per model configuration, computed in the database from measured
generations. Rows are per (model configuration, machine): numbers from different machines are
never mixed silently. A figure carries its sample size; below MIN_SAMPLES it says so.

Percentiles: PostgreSQL's percentile_cont in the query; elsewhere (SQLite on a laptop) the
column is streamed and numpy takes the percentile.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Max, Q, Sum
from django.db.models.fields.json import KT

from annotate.comparisons.verdicts import left_score
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind
from annotate.labeling.ratings import labelled_outputs, rating_values
from inference.backends import get_backend_class
from inference.figures import (
    cost_per_query,
    priced_count,
    recorded_cost,
    run_span,
    run_tokens_per_s,
    total_cost,
)
from inference.models import Generation, GenerationStatus, ModelConfig, Run

MIN_SAMPLES = 20
PERCENTILE_FIELDS = ("ttft_s", "latency_s", "decode_tps")
PERCENTILES = (5, 25, 50, 75, 95)  # the box plots need the quartiles and whiskers


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(p) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=percentile, **extra)


@dataclass
class Figure:
    value: float | None
    n: int

    @property
    def too_few(self) -> bool:
        return self.n < MIN_SAMPLES


@dataclass
class ModelStats:
    config_id: int
    name: str
    backend: str
    model: str
    machine: str
    versions: list[str]
    concurrency: list[int]
    generations: int
    failed: int
    prompt_tokens: int
    output_tokens: int
    priced_cost: Decimal | None  # the costs the priced outputs recorded
    pct: dict[str, dict[int, Figure]] = field(default_factory=dict)
    throughput: Figure | None = None
    mean_rating: Figure | None = None
    pass_rate: Figure | None = None
    win_rate: Figure | None = None
    hourly_usd: Decimal | None = None  # None: never set (unknown), 0: free
    priced: int = 0  # done generations that recorded a cost; the rest had no price
    priced_prompt_tokens: int = 0
    priced_output_tokens: int = 0

    @property
    def error_rate(self) -> float | None:
        total = self.generations + self.failed
        return self.failed / total if total else None

    @property
    def unpriced(self) -> int:
        return self.generations - self.priced

    @property
    def total_cost(self) -> Decimal | None:
        return total_cost(self.priced_cost, self.priced, self.generations)

    @property
    def cost_per_query(self) -> float | None:
        return cost_per_query(self.priced_cost, self.priced)

    @property
    def cost_per_m_output(self) -> float | None:
        return _per_million(self.priced_cost, self.priced_output_tokens)

    @property
    def cost_per_m_input(self) -> float | None:
        return _per_million(self.priced_cost, self.priced_prompt_tokens)

    @property
    def is_local(self) -> bool:
        return get_backend_class(self.backend).is_local

    @property
    def mean_prompt_tokens(self) -> float | None:
        return self.prompt_tokens / self.generations if self.generations else None

    @property
    def mean_output_tokens(self) -> float | None:
        return self.output_tokens / self.generations if self.generations else None

    @property
    def key(self) -> str:
        return f"{self.config_id}:{self.machine}"


def _per_million(priced_cost: Decimal | None, priced_tokens: int) -> float | None:
    """Cost per 1M tokens of the priced outputs (None: none priced, or no tokens)."""
    if priced_cost is None or not priced_tokens:
        return None
    return float(priced_cost) * 1e6 / priced_tokens


def _base(config_ids=None, run_ids=None):
    gens = Generation.objects.all()
    if config_ids:
        gens = gens.filter(run__model_config_id__in=config_ids)
    if run_ids:
        gens = gens.filter(run_id__in=run_ids)
    return gens


def model_stats(config_ids=None, run_ids=None) -> list[ModelStats]:
    """One row per (configuration, machine), with the generations done and failed."""
    gens = _base(config_ids, run_ids)
    done = Q(status=GenerationStatus.DONE)
    priced_done = done & Q(cost_usd__isnull=False)
    rows = (
        gens.filter(status__in=(GenerationStatus.DONE, GenerationStatus.FAILED))
        .values(config=F("run__model_config_id"), host=F("machine"))
        .annotate(
            n=Count("pk", filter=done),
            failed=Count("pk", filter=Q(status=GenerationStatus.FAILED)),
            prompt=Sum("prompt_tokens", filter=done),
            output=Sum("output_tokens", filter=done),
            cost=recorded_cost(),
            priced=priced_count(),
            priced_prompt=Sum("prompt_tokens", filter=priced_done),
            priced_output=Sum("output_tokens", filter=priced_done),
        )
        .order_by("config", "host")
    )
    configs = ModelConfig.objects.in_bulk({r["config"] for r in rows})
    stats = [
        ModelStats(
            r["config"],
            configs[r["config"]].name,
            configs[r["config"]].backend,
            configs[r["config"]].model,
            r["host"] or "unknown",
            [],
            [],
            r["n"],
            r["failed"],
            r["prompt"] or 0,
            r["output"] or 0,
            r["cost"],
            hourly_usd=configs[r["config"]].hourly_usd,
            priced=r["priced"],
            priced_prompt_tokens=r["priced_prompt"] or 0,
            priced_output_tokens=r["priced_output"] or 0,
        )
        for r in rows
    ]
    by_key = {(s.config_id, s.machine if s.machine != "unknown" else ""): s for s in stats}
    _percentiles(gens.filter(done), by_key)
    _environment(gens.filter(done), by_key)
    _throughput(gens.filter(done), by_key)
    _quality(stats)
    return stats


def _percentiles(gens, by_key) -> None:
    if connection.vendor == "postgresql":
        aggregates = {
            f"{f}_{p}": Percentile(f, p / 100) for f in PERCENTILE_FIELDS for p in PERCENTILES
        }
        counts = {f"{f}_n": Count(f) for f in PERCENTILE_FIELDS}
        rows = (
            gens.values(config=F("run__model_config_id"), host=F("machine"))
            .annotate(**aggregates, **counts)
            .order_by()
        )
        for r in rows:
            s = by_key.get((r["config"], r["host"]))
            if s:
                s.pct = {
                    f: {p: Figure(r[f"{f}_{p}"], r[f"{f}_n"]) for p in PERCENTILES}
                    for f in PERCENTILE_FIELDS
                }
        return
    for (config, host), s in by_key.items():
        mine = gens.filter(run__model_config_id=config, machine=host)
        s.pct = {}
        for f in PERCENTILE_FIELDS:
            values = np.fromiter(
                (
                    v
                    for v in mine.exclude(**{f"{f}__isnull": True})
                    .values_list(f, flat=True)
                    .iterator()
                ),
                dtype=float,
            )
            s.pct[f] = {
                p: Figure(float(np.percentile(values, p)) if len(values) else None, len(values))
                for p in PERCENTILES
            }


def _environment(gens, by_key) -> None:
    rows = (
        gens.values(
            "backend_version", "concurrency", config=F("run__model_config_id"), host=F("machine")
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    for r in rows:
        s = by_key.get((r["config"], r["host"]))
        if s is None:
            continue
        if r["backend_version"] and r["backend_version"] not in s.versions:
            s.versions.append(r["backend_version"])
        if r["concurrency"] and r["concurrency"] not in s.concurrency:
            s.concurrency.append(r["concurrency"])
    for s in by_key.values():
        s.concurrency.sort()


def _throughput(gens, by_key) -> None:
    """Whole-run tokens/s (inference/figures.py) per run on each machine; the median over
    the runs."""
    rows = (
        gens.values("run_id", config=F("run__model_config_id"), host=F("machine"))
        .annotate(**run_span(), n=Count("pk"))
        .order_by()
    )
    per: dict = defaultdict(list)
    counts: dict = defaultdict(int)
    for r in rows:
        tps = run_tokens_per_s(r["output_tokens"], r["first_start"], r["last_finish"])
        if tps is not None:
            per[(r["config"], r["host"])].append(tps)
            counts[(r["config"], r["host"])] += r["n"]
    for key, values in per.items():
        if key in by_key:
            by_key[key].throughput = Figure(float(np.median(values)), counts[key])


def _quality(stats: list[ModelStats]) -> None:
    """Mean rating (annotate/labeling/ratings.py) and pass rate from labeling projects, win
    rate from comparisons (annotate/comparisons/verdicts.py)."""
    if not stats:
        return
    config_ids = {s.config_id for s in stats}
    ratings, passes = _label_figures(config_ids)
    wins = _win_scores(config_ids)
    for s in stats:
        s.mean_rating = _mean(ratings.get(s.config_id))
        s.pass_rate = _mean(passes.get(s.config_id))
        s.win_rate = _mean(wins.get(s.config_id))


def _label_figures(config_ids: set[int]) -> tuple[dict, dict]:
    """{configuration id: ratings} and {configuration id: pass or not, per label}."""
    ratings: dict[int, list[float]] = defaultdict(list)
    passes: dict[int, list[bool]] = defaultdict(list)
    labels = Annotation.objects.filter(task__generation__run__model_config_id__in=config_ids)
    # One pass over the labels: each output's ratings, and each label's pass or fail.
    config = "task__generation__run__model_config_id"
    for (_, config_id), output_labels in labelled_outputs(labels, config):
        ratings[config_id].extend(rating_values(output_labels))
        for questions, answers in output_labels:
            if (verdict := _pass_or_fail(questions, answers)) is not None:
                passes[config_id].append(verdict)
    return ratings, passes


def _pass_or_fail(questions: list[dict], answers: dict) -> bool | None:
    """A label's answer to its project's first pass/fail question, if it gave one."""
    for q in questions:
        if q["kind"] == "passfail" and answers.get(q["key"]) in ("pass", "fail"):
            return answers[q["key"]] == "pass"
    return None


def _win_scores(config_ids: set[int]) -> dict[int, list[float]]:
    """{configuration id: its score in each comparison vote it took part in}."""
    wins: dict[int, list[float]] = defaultdict(list)
    either_side = Q(task__generation__run__model_config_id__in=config_ids) | Q(
        task__generation_b__run__model_config_id__in=config_ids
    )
    votes = Annotation.objects.filter(
        either_side, state=AnnotationState.SUBMITTED, task__project__kind=ProjectKind.COMPARE
    ).values_list(
        KT("answers__verdict"),
        "task__generation__run__model_config_id",
        "task__generation_b__run__model_config_id",
    )
    for verdict, left, right in votes.iterator():
        score = left_score(verdict)
        if score is None:  # no verdict, no vote
            continue
        wins[left].append(score)
        if right:
            wins[right].append(1 - score)
    return wins


def _mean(values) -> Figure | None:
    return Figure(float(np.mean(values)), len(values)) if values else None


def stats_rows(stats: list[ModelStats]) -> list[dict]:
    """The figures as flat rows: the CSV download and the API share them."""
    rows = []
    for s in stats:
        row = {
            "config_id": s.config_id,
            "model_config": s.name,
            "backend": s.backend,
            "model": s.model,
            "machine": s.machine,
            "versions": "; ".join(s.versions),
            "concurrency": ";".join(map(str, s.concurrency)),
            "generations": s.generations,
            "failed": s.failed,
            "error_rate": s.error_rate,
            "prompt_tokens": s.prompt_tokens,
            "output_tokens": s.output_tokens,
            "total_cost_usd": None if s.total_cost is None else float(s.total_cost),
            "unpriced_generations": s.unpriced,
            "cost_per_query_usd": s.cost_per_query,
            "cost_per_1m_input_usd": s.cost_per_m_input,
            "cost_per_1m_output_usd": s.cost_per_m_output,
            "throughput_tps": s.throughput.value if s.throughput else None,
            "mean_rating": s.mean_rating.value if s.mean_rating else None,
            "rating_n": s.mean_rating.n if s.mean_rating else 0,
            "pass_rate": s.pass_rate.value if s.pass_rate else None,
            "win_rate": s.win_rate.value if s.win_rate else None,
        }
        for f in PERCENTILE_FIELDS:
            for p in (50, 95):
                figure = s.pct.get(f, {}).get(p)
                row[f"{f}_p{p}"] = figure.value if figure else None
            row[f"{f}_n"] = s.pct.get(f, {}).get(50).n if s.pct.get(f) else 0
        rows.append(row)
    return rows


def stats_version() -> str:
    """A cheap fingerprint of what the figures depend on (runs' activity, labels): a few
    milliseconds, where the figures take seconds at a million generations. Runs touch
    last_activity_at at every lease renewal, so figures lag running work by at most that."""
    runs = Run.objects.aggregate(
        n=Count("pk"), a=Max("last_activity_at"), f=Max("finished_at"), r=Max("resumed_at")
    )
    labels = Annotation.objects.aggregate(n=Count("pk"), s=Max("submitted_at"))
    return hashlib.sha1(repr((runs, labels)).encode()).hexdigest()


def cached_model_stats(config_ids=None, run_ids=None) -> list[ModelStats]:
    """model_stats, computed once per version of the data (the page, CSV and API share it)."""
    scope = f"{sorted(config_ids or [])}:{sorted(run_ids or [])}"
    key = f"model-stats:v2:{stats_version()}:{hashlib.sha256(scope.encode()).hexdigest()[:32]}"
    stats = cache.get(key)
    if stats is None:
        stats = model_stats(config_ids, run_ids)
        cache.set(key, stats, timeout=600)
    return stats
