"""Chart geometry for server-side SVG (the templates draw it, escaping every name): a box plot
of decode tokens/s per model, latency against output length, cost against quality with the
best trade-offs marked. Coordinates are in a 0-100 x 0-100 plot box."""

from __future__ import annotations

from annotate.stats.figures import ModelStats
from annotate.stats.projection import pareto
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


def _scale(lo: float, hi: float):
    span = (hi - lo) or 1.0
    return lambda v: round(100 * (v - lo) / span, 2)


def ticks(lo: float, hi: float, n: int = 4) -> list[tuple[float, str]]:
    x = _scale(lo, hi)
    step = (hi - lo) / n if hi > lo else 1
    return [(x(lo + i * step), f"{lo + i * step:.3g}") for i in range(n + 1)]


def tps_boxes(stats: list[ModelStats]) -> dict | None:
    rows = [
        s
        for s in stats
        if s.pct.get("decode_tps", {}).get(50) and s.pct["decode_tps"][50].value is not None
    ]
    if not rows:
        return None
    lo = min(s.pct["decode_tps"][5].value for s in rows)
    hi = max(s.pct["decode_tps"][95].value for s in rows)
    x = _scale(0, hi * 1.05)
    boxes = [
        {
            "name": f"{s.name} · {s.machine}",
            "color": COLORS[i % len(COLORS)],
            **{f"p{p}": x(s.pct["decode_tps"][p].value) for p in (5, 25, 50, 75, 95)},
            "median": s.pct["decode_tps"][50].value,
            "n": s.pct["decode_tps"][50].n,
            "y": i,
        }
        for i, s in enumerate(rows)
    ]
    del lo
    return {"boxes": boxes, "ticks": ticks(0, hi * 1.05), "height": 30 * len(boxes) + 30}


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
            .order_by("-pk")
            .values_list("output_tokens", "latency_s")[:wanted]
        )
    return points


def latency_scatter(stats: list[ModelStats]) -> dict | None:
    """The latest generations of each model: latency against output tokens."""
    series = []
    for i, s in enumerate(stats):
        points = _latest_points(s.config_id, s.machine if s.machine != "unknown" else "")
        if points:
            series.append({"name": s.name, "color": COLORS[i % len(COLORS)], "points": points})
    if not series:
        return None
    max_x = max(p[0] for sr in series for p in sr["points"]) or 1
    max_y = max(p[1] for sr in series for p in sr["points"]) or 1
    x, y = _scale(0, max_x * 1.05), _scale(0, max_y * 1.05)
    for sr in series:
        sr["points"] = [(x(a), 100 - y(b)) for a, b in sr["points"]]
    return {"series": series, "xticks": ticks(0, max_x * 1.05), "yticks": ticks(0, max_y * 1.05)}


def cost_quality(stats: list[ModelStats]) -> dict | None:
    """Cost per query against quality (mean rating, else win rate); best trade-offs marked.
    A model whose outputs had no price has no place on the cost axis: listed apart."""
    points, unpriced = [], []
    for i, s in enumerate(stats):
        quality = s.mean_rating or s.win_rate
        if quality is not None and s.cost_per_query is None and s.generations:
            unpriced.append(s)
        if quality is None or s.cost_per_query is None:
            continue
        points.append((s.key, s.name, s.cost_per_query, quality.value, COLORS[i % len(COLORS)]))
    if not points:
        return {"points": [], "unpriced": unpriced} if unpriced else None
    best = pareto([(k, c, q) for k, _, c, q, _ in points])
    max_c = max(p[2] for p in points) or 1e-9
    qs = [p[3] for p in points]
    x, y = (
        _scale(0, max_c * 1.1),
        _scale(min(qs) - 0.1 * (max(qs) - min(qs) or 1), max(qs) + 0.1 * (max(qs) - min(qs) or 1)),
    )
    marks = [
        {
            "name": name,
            "x": x(c),
            "y": 100 - y(q),
            "color": color,
            "best": key in best,
            "cost": c,
            "quality": q,
        }
        for key, name, c, q, color in points
    ]
    return {
        "points": marks,
        "xticks": ticks(0, max_c * 1.1),
        "frontier": sorted((m for m in marks if m["best"]), key=lambda m: m["x"]),
        "unpriced": unpriced,
    }
