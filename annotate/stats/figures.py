"""Speed, cost and quality per model configuration, from measured generations. Rows are per
(model configuration, machine): numbers from different machines are never mixed silently. A
figure carries its sample size; below MIN_SAMPLES it says so. A routed run's outputs count under
the configuration that served each (its legs' rows), never under the routed configuration.

The generations' figures are their runs' rollups added up (annotate/stats/rollups.py): a
finished run's are computed once, a running run's live at each call. Counts, tokens and costs
are exact; percentiles (percentile_cont's, interpolated) within sketch.RELATIVE_ERROR (0.5%).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.fields.json import KT

from annotate.comparisons.verdicts import left_score
from annotate.labeling.models import Annotation, AnnotationState, ProjectKind
from annotate.labeling.ratings import labelled_outputs, rating_values
from annotate.stats import sketch
from annotate.stats.models import RunRollup
from annotate.stats.rollups import END_TO_END, PERCENTILE_FIELDS, rollups_in_scope
from inference.backends import get_backend_class
from inference.figures import cost_per_query, run_tokens_per_s, total_cost
from inference.models import ModelConfig, Run
from inference.routing import served_config
from inference.workers import loaded_model_facts

MIN_SAMPLES = 20
PERCENTILES = (5, 25, 50, 75, 95)  # the box plots need the quartiles and whiskers


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
    pricing: str = "token"  # the configuration's pricing mode (inference.models.PricingMode)
    priced: int = 0  # done generations that recorded a cost; the rest had no price
    priced_prompt_tokens: int = 0
    priced_output_tokens: int = 0
    end_to_end: dict[int, Figure] = field(default_factory=dict)  # percentiles (speed.py)
    # projection.measured_tokens: done outputs with output tokens, their prompts' tokens
    measured: int = 0
    measured_prompt_n: int = 0
    measured_prompt_tokens: int = 0
    # (run id, whole-run tokens/s, done generations) of each run with a throughput
    run_throughput: list[tuple[int, float, int]] = field(default_factory=list)
    # A local model's facts on this machine, as its worker measured them at load
    # (inference.workers.loaded_model_facts); None where no worker told.
    model_facts: dict | None = None

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


def model_stats(config_ids=None, run_ids=None) -> list[ModelStats]:
    """One row per (configuration, machine), with the generations done and failed: the
    runs' rollups (annotate/stats/rollups.py) added up."""
    groups: dict[tuple[int, str], list[RunRollup]] = defaultdict(list)
    for config_id, rollup in rollups_in_scope(config_ids, run_ids):
        groups[(config_id, rollup.machine)].append(rollup)
    configs = ModelConfig.objects.in_bulk({config_id for config_id, _ in groups})
    stats = [
        _merged(configs[config_id], machine, rollups)
        for (config_id, machine), rollups in sorted(groups.items())
    ]
    _quality(stats)
    return stats


def _merged(config: ModelConfig, machine: str, rollups: list[RunRollup]) -> ModelStats:
    costs = [r.cost_usd for r in rollups if r.cost_usd is not None]
    s = ModelStats(
        config.pk,
        config.name,
        config.backend,
        config.model,
        machine or "unknown",
        list(dict.fromkeys(v for r in rollups for v in r.versions)),
        sorted({c for r in rollups for c in r.concurrency}),
        sum(r.done for r in rollups),
        sum(r.failed for r in rollups),
        sum(r.prompt_tokens for r in rollups),
        sum(r.output_tokens for r in rollups),
        sum(costs, Decimal(0)) if costs else None,
        hourly_usd=config.hourly_usd,
        pricing=config.pricing,
        priced=sum(r.priced for r in rollups),
        priced_prompt_tokens=sum(r.priced_prompt_tokens for r in rollups),
        priced_output_tokens=sum(r.priced_output_tokens for r in rollups),
        measured=sum(r.measured for r in rollups),
        measured_prompt_n=sum(r.measured_prompt_n for r in rollups),
        measured_prompt_tokens=sum(r.measured_prompt_tokens for r in rollups),
    )
    for name in PERCENTILE_FIELDS:
        s.pct[name] = _percentiles(rollups, name)
    s.end_to_end = _percentiles(rollups, END_TO_END)
    s.run_throughput = [
        (r.run_id, tps, r.done)
        for r in rollups
        if (tps := run_tokens_per_s(r.output_tokens, r.first_start, r.last_finish)) is not None
    ]
    if s.run_throughput:
        # Whole-run tokens/s (inference/figures.py): the median over the runs on this machine.
        tps = [t for _, t, _ in s.run_throughput]
        s.throughput = Figure(float(np.median(tps)), sum(n for _, _, n in s.run_throughput))
    return s


def _percentiles(rollups: list[RunRollup], name: str) -> dict[int, Figure]:
    merged = sketch.merge(r.sketches.get(name) for r in rollups)
    return {p: Figure(merged.percentile(p), merged.n) for p in PERCENTILES}


def _quality(stats: list[ModelStats]) -> None:
    """Mean rating (annotate/labeling/ratings.py) and pass rate from labeling projects, win
    rate from comparisons (annotate/comparisons/verdicts.py)."""
    if not stats:
        return
    config_ids = sorted({s.config_id for s in stats})
    # Labels change apart from generations: a worker's result leaves these figures cached.
    key = f"model-stats:quality:v2:{_labels_version()}:{_digest(config_ids)}"
    figures = cache.get(key)
    if figures is None:
        ratings, passes = _label_figures(set(config_ids))
        wins = _win_scores(set(config_ids))
        figures = {
            c: (_mean(ratings.get(c)), _mean(passes.get(c)), _mean(wins.get(c))) for c in config_ids
        }
        cache.set(key, figures, timeout=600)
    for s in stats:
        s.mean_rating, s.pass_rate, s.win_rate = figures[s.config_id]


def _label_figures(config_ids: set[int]) -> tuple[dict, dict]:
    """{configuration id: ratings} and {configuration id: pass or not, per label}, each
    output's labels under the configuration that served it (a routed run's leg)."""
    ratings: dict[int, list[float]] = defaultdict(list)
    passes: dict[int, list[bool]] = defaultdict(list)
    labels = Annotation.objects.filter(_either_config("task__generation__", config_ids))
    labels = labels.annotate(served=served_config("task__generation__"))
    # One pass over the labels: each output's ratings, and each label's pass or fail.
    for (_, config_id), output_labels in labelled_outputs(labels, "served"):
        ratings[config_id].extend(rating_values(output_labels))
        for questions, answers in output_labels:
            if (verdict := _pass_or_fail(questions, answers)) is not None:
                passes[config_id].append(verdict)
    return ratings, passes


def _either_config(path: str, config_ids: set[int]) -> Q:
    """Generations (reached by `path`) of these configurations' runs or served by them."""
    return Q(**{f"{path}run__model_config_id__in": config_ids}) | Q(
        **{f"{path}served_by_id__in": config_ids}
    )


def _pass_or_fail(questions: list[dict], answers: dict) -> bool | None:
    """A label's answer to its project's first pass/fail question, if it gave one."""
    for q in questions:
        if q["kind"] == "passfail" and answers.get(q["key"]) in ("pass", "fail"):
            return answers[q["key"]] == "pass"
    return None


def _win_scores(config_ids: set[int]) -> dict[int, list[float]]:
    """{configuration id: its score in each comparison vote it took part in}, each side
    under the configuration that served it."""
    wins: dict[int, list[float]] = defaultdict(list)
    either_side = _either_config("task__generation__", config_ids) | _either_config(
        "task__generation_b__", config_ids
    )
    votes = (
        Annotation.objects.filter(
            either_side, state=AnnotationState.SUBMITTED, task__project__kind=ProjectKind.COMPARE
        )
        .annotate(
            left=served_config("task__generation__"), right=served_config("task__generation_b__")
        )
        .values_list(KT("answers__verdict"), "left", "right")
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
        row.update(_facts_row(s.model_facts or {}))
        rows.append(row)
    return rows


def _facts_row(facts: dict) -> dict:
    """A local model's load and build, as the statistics' rows carry them (empty: unknown)."""
    weights = facts.get("weights_bytes")
    return {
        "weights_mb": round(weights / 1e6, 1) if weights else None,
        "bits": facts.get("bits"),
        "group_size": facts.get("group_size"),
        "load_s": facts.get("load_s"),
        "load": ("cold" if facts["cold"] else "warm") if "cold" in facts else None,
        "kv_cache": facts.get("kv_cache"),
        "max_kv_size": facts.get("max_kv_size"),
        "kv_bits": facts.get("kv_bits"),
    }


def stats_version() -> str:
    """A cheap fingerprint of what the figures depend on (runs' activity, labels): a few
    milliseconds, where the figures take seconds at a million generations. Runs touch
    last_activity_at at every lease renewal, so figures lag running work by at most that."""
    runs = Run.objects.aggregate(
        n=Count("pk"), a=Max("last_activity_at"), f=Max("finished_at"), r=Max("resumed_at")
    )
    return hashlib.sha1(repr((runs, _labels_version())).encode()).hexdigest()


def _labels_version() -> str:
    labels = Annotation.objects.aggregate(n=Count("pk"), s=Max("submitted_at"))
    return hashlib.sha1(repr(labels).encode()).hexdigest()


def _digest(ids) -> str:
    return hashlib.sha256(repr(ids).encode()).hexdigest()[:32]


def cached_model_stats(config_ids=None, run_ids=None) -> list[ModelStats]:
    """model_stats, computed once per version of the data (the page, CSV and API share it)."""
    scope = (sorted(config_ids or []), sorted(run_ids or []))
    key = f"model-stats:v4:{stats_version()}:{_digest(scope)}"
    stats = cache.get(key)
    if stats is None:
        stats = model_stats(config_ids, run_ids)
        cache.set(key, stats, timeout=600)
    # A configuration's name and price change apart from the figures (a price set after a
    # run): read them afresh, one query, or the page would show the old ones for minutes.
    configs = ModelConfig.objects.in_bulk({s.config_id for s in stats})
    facts = loaded_model_facts()  # heartbeats change apart from the figures: never cached
    for s in stats:
        if config := configs.get(s.config_id):
            s.name, s.hourly_usd, s.pricing = config.name, config.hourly_usd, config.pricing
        s.model_facts = facts.get((s.machine, s.model)) if s.is_local else None
    return stats
