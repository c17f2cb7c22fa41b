"""The statistics page's chart data, emitted as JSON (json_script) for static/annotate/stats.js,
which draws it with Observable Plot. Every number is raw (seconds, tokens/s, dollars); the
browser formats them. Each model (configuration and machine) has one colour on every chart.

Charts: speed per model (local decode tokens/s; a hosted model's streaming and end-to-end
tokens/s, different quantities), time to first token per model, latency against output length,
cost per 1k queries against one quality metric (mean rating; win rate) with the Pareto front,
run throughput against batch size or concurrency, and the projection's cost a day against
queries a day paid three ways (`ways_chart`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from annotate.stats.figures import PERCENTILES, Figure, ModelStats
from annotate.stats.paying import Ways
from annotate.stats.projection import pareto
from annotate.stats.speed import ThroughputPoint
from annotate.stats.workload import Projection, Workload
from inference.models import Generation, GenerationStatus, Run

COLORS = [
    "#2f6fdf",
    "#d9480f",
    "#2b8a3e",
    "#9c36b5",
    "#e67700",
    "#0c8599",
    "#c2255c",
    "#5c940d",
    "#364fc7",
    "#868e96",
]
SCATTER_POINTS = 200
LOCAL_DECODE = "local decode"
API_STREAMING = "API streaming"
API_END_TO_END = "API end-to-end"


def label(s: ModelStats) -> str:
    return f"{s.name} · {s.machine}"


def models(stats: list[ModelStats]) -> list[dict]:
    """Each model's key, name, colour and kind: the legend and every chart's colour scale."""
    return [
        {
            "key": s.key,
            "label": label(s),
            "color": COLORS[i % len(COLORS)],
            "hosted": not s.is_local,
        }
        for i, s in enumerate(stats)
    ]


def _box(s: ModelStats, percentiles: dict[int, Figure] | None, **extra) -> dict | None:
    if not percentiles or any(percentiles.get(p) is None for p in PERCENTILES):
        return None
    if percentiles[50].value is None:
        return None
    return {
        "key": s.key,
        "label": label(s),
        **{f"p{p}": percentiles[p].value for p in PERCENTILES},
        "n": percentiles[50].n,
        **extra,
    }


def speed_boxes(stats: list[ModelStats], end_to_end: dict[str, dict[int, Figure]]) -> list[dict]:
    """Tokens/s, 5th to 95th percentile: a local model's decoding; a hosted model's streaming
    (tokens after the first over the stream's time) and end-to-end (output tokens / latency)."""
    boxes = []
    for s in stats:
        tps = s.pct.get("decode_tps")
        if s.is_local:
            boxes.append(_box(s, tps, measure=LOCAL_DECODE))
        else:
            boxes.append(_box(s, tps, measure=API_STREAMING))
            boxes.append(_box(s, end_to_end.get(s.key), measure=API_END_TO_END))
    return [b for b in boxes if b]


def ttft_boxes(stats: list[ModelStats]) -> list[dict]:
    """Time to first token (seconds), 5th to 95th percentile, per model."""
    return [b for s in stats if (b := _box(s, s.pct.get("ttft_s")))]


def _latest_points(config_id: int, machine: str) -> list[tuple[int, float]]:
    """Up to SCATTER_POINTS (output tokens, latency) of a model's newest runs, a few runs at a
    time: each query is a short index scan, where one over all runs walked the whole table."""
    points: list[tuple[int, float]] = []
    run_ids = list(
        Run.objects.filter(model_config_id=config_id).order_by("-pk").values_list("pk", flat=True)
    )
    for start in range(0, len(run_ids), 4):
        wanted = SCATTER_POINTS - len(points)
        if wanted <= 0:
            break
        points += list(
            Generation.objects.filter(
                run_id__in=run_ids[start : start + 4],
                machine=machine,
                status=GenerationStatus.DONE,
                latency_s__isnull=False,
                output_tokens__isnull=False,
            )
            # Run first: PostgreSQL then walks (run, status), not the whole primary key (1 s
            # at 1M generations, bench/stats.py).
            .order_by("-run_id", "-pk")
            .values_list("output_tokens", "latency_s")[:wanted]
        )
    return points


def latency_points(stats: list[ModelStats]) -> list[dict]:
    """The latest generations of each model: latency (s) against output tokens; each point
    carries its model's sample size on the chart (n)."""
    out = []
    for s in stats:
        points = _latest_points(s.config_id, s.machine if s.machine != "unknown" else "")
        out += [
            {"key": s.key, "label": label(s), "tokens": t, "latency_s": y, "n": len(points)}
            for t, y in points
        ]
    return out


# metric: (ModelStats field, the chart's words for it, why a model is missing from it)
QUALITY = {
    "rating": ("mean_rating", "mean rating", "no ratings yet"),
    "win": ("win_rate", "win rate", "no comparison votes yet"),
}
QUALITY_CHARTS = [(metric, title, missing) for metric, (_, title, missing) in QUALITY.items()]


@dataclass
class Tradeoff:
    """Cost per 1k queries against one quality metric: the points (best trade-offs marked),
    and the priced models that lack the metric (listed under the chart, not dropped)."""

    points: list[dict] = field(default_factory=list)
    missing: list[ModelStats] = field(default_factory=list)


def tradeoffs(stats: list[ModelStats]) -> dict[str, Tradeoff]:
    charts = {metric: Tradeoff() for metric in QUALITY}
    for metric, (attr, _, _) in QUALITY.items():
        chart = charts[metric]
        for s in stats:
            quality: Figure | None = getattr(s, attr)
            if s.cost_per_query is None:
                continue  # in unpriced(): the cost axis has no place for it
            if quality is None:
                chart.missing.append(s)
                continue
            chart.points.append(
                {
                    "key": s.key,
                    "label": label(s),
                    "name": s.name,
                    "cost_1k": s.cost_per_query * 1000,
                    "cost_n": s.priced,
                    "quality": quality.value,
                    "n": quality.n,
                }
            )
        best = pareto([(p["key"], p["cost_1k"], p["quality"]) for p in chart.points])
        for p in chart.points:
            p["best"] = p["key"] in best
    return charts


def unpriced(stats: list[ModelStats]) -> list[ModelStats]:
    """Models with outputs but no known cost: off every cost axis, named beside the charts."""
    return [s for s in stats if s.generations and s.cost_per_query is None]


def throughput_points(stats: list[ModelStats], points: list[ThroughputPoint]) -> list[dict]:
    labels = {s.key: label(s) for s in stats}
    return [
        {
            "key": p.key,
            "label": labels[p.key],
            "in_flight": p.in_flight,
            "tokens_per_s": p.tokens_per_s,
            "runs": p.runs,
            "n": p.generations,
        }
        for p in points
    ]


def chart_data(
    stats: list[ModelStats],
    end_to_end: dict[str, dict[int, Figure]],
    throughput: list[ThroughputPoint],
    trade: dict[str, Tradeoff],
) -> dict:
    """Everything stats.js draws, JSON-ready."""
    return {
        "models": models(stats),
        "speed": speed_boxes(stats, end_to_end),
        "ttft": ttft_boxes(stats),
        "latency": latency_points(stats),
        "cost_rating": trade["rating"].points,
        "cost_win": trade["win"].points,
        "throughput": throughput_points(stats, throughput),
    }


# The three ways to pay, one colour each on every ways chart (static/annotate/stats.js).
WAY_COLORS = {"per token": "#2f6fdf", "dedicated": "#d9480f", "serverless": "#2b8a3e"}
WAY_POINTS_PER_DECADE = 12


def _cost_at(r: Projection, queries: float) -> float:
    return r.fixed_per_day + r.per_query * queries


def _grid(low: float, high: float) -> list[float]:
    """Queries a day from `low` to `high` at an even step on a log axis (a power of ten each
    end): enough points that the log-log curves of fixed + per-query costs look smooth."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    steps = (last - first) * WAY_POINTS_PER_DECADE
    return [10 ** (first + i / WAY_POINTS_PER_DECADE) for i in range(steps + 1)]


def ways_chart(ways: list[Ways], w: Workload) -> list[dict]:
    """Per machine priced by the hour: cost a day against queries a day paid each way (the
    lines of annotate/stats/paying.py), where they cross (the break-evens), a daily workload's
    queries a day and what one dedicated machine carries. Both axes are logarithmic:
    break-evens hundreds and tens of thousands of queries apart, and costs cents and hundreds
    of dollars apart, all show. The lines (and so the axis) run from a tenth of the nearest of
    these to three times the furthest."""
    out = []
    for paid in ways:
        modes = {m: r for m, r in paid.modes if r is not None and r.per_query is not None}
        crossings = []
        for key, (_, queries) in paid.break_evens.items():
            if queries:  # 0: cheaper at any number, no crossing to mark
                cheap = modes["dedicated" if key.startswith("dedicated") else "serverless"]
                crossings.append({"q": queries, "cost": _cost_at(cheap, queries), "key": key})
        # The capacity line too: the lines run as far as the axis it stretches.
        marked = [c["q"] for c in crossings] + [w.queries] + [paid.capacity or w.queries]
        grid = _grid(max(min(marked) / 10, 1), max(marked) * 3)
        lines = [
            {"mode": m, "color": WAY_COLORS[m], "q": q, "cost": cost}
            for m, r in modes.items()
            for q in grid
            if (cost := _cost_at(r, q)) > 0  # a log axis has no 0 (free, owned hardware)
        ]
        out.append(
            {
                "name": paid.row.name,
                "lines": lines,
                "crossings": crossings,
                "workload": w.queries if w.per_day else None,
                "capacity": paid.capacity,
            }
        )
    return out
