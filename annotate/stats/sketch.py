"""A mergeable sketch of a measurement's distribution: counts in log-spaced buckets, as
DDSketch (Masson et al., VLDB 2019) keeps them, so that percentiles of a million generations
come from a few hundred stored rollups.

A value x > 0 falls in bucket i = floor(ln x / ln GAMMA), i.e. GAMMA**i <= x < GAMMA**(i+1),
and reads back as 2 GAMMA**(i+1) / (GAMMA + 1): within RELATIVE_ERROR of x. Negative values
mirror that, zeros are counted apart. The database computes the buckets (rollups.py), so the
values never travel; no bucket is ever collapsed, so the bound holds at any size.

A percentile is percentile_cont's (PostgreSQL) and numpy's default (linear): the order
statistics at ranks floor and ceil of p (n - 1), interpolated. Each order statistic is read
within RELATIVE_ERROR, so is a positive interpolation of two of them. (The `ddsketch`
package reads one order statistic per quantile, without the interpolation; and it takes
values one by one in Python, where here the database counts them.)

A sketch is stored as JSON: {"n": count, "z": zeros, "pos": [first bucket, [counts]],
"neg": [first bucket, [counts]]} ("pos"/"neg" null when empty).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

RELATIVE_ERROR = 0.005  # the page says "percentiles within 0.5%"
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
LOG_GAMMA = math.log(GAMMA)


def from_buckets(rows: Iterable[tuple[int, int | None, int]]) -> dict:
    """A stored sketch from (sign, bucket, count) rows: sign 1, -1 or 0 (a zero, no bucket)."""
    sides: dict[int, dict[int, int]] = {1: {}, -1: {}}
    zeros = n = 0
    for sign, bucket, count in rows:
        n += count
        if sign == 0:
            zeros += count
        else:
            side = sides[sign]
            side[int(bucket)] = side.get(int(bucket), 0) + count
    return {"n": n, "z": zeros, "pos": _dense(sides[1]), "neg": _dense(sides[-1])}


def _dense(buckets: dict[int, int]) -> list | None:
    if not buckets:
        return None
    lo, hi = min(buckets), max(buckets)
    return [lo, [buckets.get(i, 0) for i in range(lo, hi + 1)]]


@dataclass
class Merged:
    """Sketches added up: the values (bucket representatives) ascending, with their counts."""

    n: int
    values: np.ndarray
    counts: np.ndarray

    def percentile(self, p: float) -> float | None:
        """percentile_cont(p / 100) of the sketched values, within RELATIVE_ERROR."""
        if not self.n:
            return None
        rank = p / 100 * (self.n - 1)
        below, above = math.floor(rank), math.ceil(rank)
        ends = np.cumsum(self.counts)
        low, high = self.values[np.searchsorted(ends, [below, above], side="right")]
        return float(low + (rank - below) * (high - low))


def merge(sketches: Iterable[dict]) -> Merged:
    """One distribution from many stored sketches."""
    sketches = [s for s in sketches if s and s["n"]]
    positive, pos_counts = _side([s["pos"] for s in sketches if s["pos"]])
    negative, neg_counts = _side([s["neg"] for s in sketches if s["neg"]])
    zeros = sum(s["z"] for s in sketches)
    values = np.concatenate([-negative[::-1], [0.0] if zeros else [], positive])
    counts = np.concatenate([neg_counts[::-1], [zeros] if zeros else [], pos_counts])
    keep = counts > 0
    return Merged(sum(s["n"] for s in sketches), values[keep], counts[keep].astype(np.int64))


def _side(parts: list[list]) -> tuple[np.ndarray, np.ndarray]:
    """(representatives ascending, counts) of one sign's buckets, added up."""
    if not parts:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    lo = min(first for first, _ in parts)
    hi = max(first + len(counts) for first, counts in parts)
    total = np.zeros(hi - lo, dtype=np.int64)
    for first, counts in parts:
        total[first - lo : first - lo + len(counts)] += counts
    buckets = np.arange(lo, hi, dtype=float)
    return 2 * GAMMA ** (buckets + 1) / (GAMMA + 1), total
