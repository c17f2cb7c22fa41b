"""Speed figures the statistics page shows beside ModelStats (figures.py):

- end-to-end tokens/s of a generation: its output tokens over its latency (the whole request,
  first token included). For a hosted model this is what a caller gets; its "decode tokens/s"
  (tokens after the first over the streaming time) measures how fast the stream arrives, which
  is not comparable with a local model's decoding.
- run throughput against what a run generates at once (its batch size or concurrency): the
  median over runs of inference/figures.py's run throughput, per in-flight setting.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from annotate.stats.figures import Figure, ModelStats
from inference.backends import get_backend_class
from inference.models import Run


def end_to_end_tps(stats: list[ModelStats], run_ids=None) -> dict[str, dict[int, Figure]]:
    """{ModelStats.key: {percentile: Figure}} of output tokens / latency, per generation:
    summed up with the other figures (annotate/stats/rollups.py), over the same runs."""
    return {s.key: s.end_to_end for s in stats if s.end_to_end and s.end_to_end[50].n}


@dataclass
class ThroughputPoint:
    key: str
    in_flight: int
    tokens_per_s: float
    runs: int
    generations: int


def throughput_by_in_flight(stats: list[ModelStats], run_ids=None) -> list[ThroughputPoint]:
    """Median run throughput per (model and machine, batch size or concurrency of the run),
    from the runs' throughputs the figures carry (over the same runs)."""
    runs = {run_id for s in stats for run_id, _, _ in s.run_throughput}
    params = dict(Run.objects.filter(pk__in=runs).values_list("pk", "params")) if runs else {}
    per: dict[tuple[str, int], list[float]] = defaultdict(list)
    counts: dict[tuple[str, int], int] = defaultdict(int)
    for s in stats:
        for run_id, tps, n in s.run_throughput:
            run_params = params[run_id]
            group = (s.key, get_backend_class(run_params["backend"]).in_flight(run_params))
            per[group].append(tps)
            counts[group] += n
    return [
        ThroughputPoint(key, in_flight, float(np.median(v)), len(v), counts[(key, in_flight)])
        for (key, in_flight), v in sorted(per.items())
    ]
