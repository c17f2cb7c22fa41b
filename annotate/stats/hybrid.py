"""Step 5 of the projection: two measured configurations sharing a workload's queries, a share
to the second (the fallback), the rest to the first (the primary). Either a routed
configuration with a share of traffic (inference/routing.py), or a what-if asked for in the
projection's form or query (any two measured configurations and a share).

1. Each leg is projected as its configuration is priced, for its share of the queries
   (projection.project_hybrid).
2. Time: the legs run side by side, so the longer of the two.
3. Cost: the sum of the two (a dedicated or 24/7 machine is paid in full whatever its share).
A leg measured on several machines: the machine with the most outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from annotate.stats.figures import ModelStats
from annotate.stats.workload import Projection, Workload
from inference.models import ModelConfig


class NoHybrid(ValueError):
    """A what-if hybrid that cannot be projected; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class WhatIf:
    primary: ModelStats
    fallback: ModelStats
    share: float  # of the queries to the fallback, 0 to 1


def legs(stats: list[ModelStats]) -> dict[int, ModelStats]:
    """Each configuration's measured row: of a configuration measured on several machines, the
    machine with the most outputs."""
    found: dict[int, ModelStats] = {}
    for s in sorted(stats, key=lambda s: s.generations):
        found[s.config_id] = s
    return found


def routed(stats: list[ModelStats]) -> list[tuple[ModelConfig, ModelStats, ModelStats]]:
    """Each routed configuration with a share of traffic whose two legs were measured, with
    its legs' rows."""
    measured = legs(stats)
    configs = ModelConfig.objects.filter(
        route_primary_id__in=measured, route_fallback_id__in=measured, route_share__gt=0
    ).select_related("route_primary", "route_fallback")
    return [(c, measured[c.route_primary_id], measured[c.route_fallback_id]) for c in configs]


def ask(
    stats: list[ModelStats],
    primary_id: int | None,
    fallback_id: int | None,
    share_pct: float | None,
) -> WhatIf | None:
    """The what-if hybrid asked for (None when none is): `share_pct` percent of the queries
    to the fallback. Raises NoHybrid, naming the input, when it cannot be projected."""
    given = (primary_id, fallback_id, share_pct)
    if all(v is None for v in given):
        return None
    if any(v is None for v in given):
        missing = [
            n for n, v in zip(("primary", "fallback", "share"), given, strict=True) if v is None
        ]
        raise NoHybrid(
            f"hybrid_{missing[0]}",
            "A hybrid needs its first configuration, its second and the share (%) of queries "
            "sent to the second.",
        )
    if not 0 <= share_pct <= 100:
        raise NoHybrid(
            "hybrid_share",
            f"The hybrid's share is a percentage of the queries, from 0 to 100: not {share_pct:g}.",
        )
    if primary_id == fallback_id:
        raise NoHybrid("hybrid_fallback", "A hybrid needs two different configurations.")
    measured = legs(stats)
    for field, pk in (("hybrid_primary", primary_id), ("hybrid_fallback", fallback_id)):
        if pk not in measured:
            name = ModelConfig.objects.filter(pk=pk).values_list("name", flat=True).first()
            what = name or f"Model configuration {pk}"
            why = "has no measured outputs among the models shown" if name else "does not exist"
            raise NoHybrid(field, f"{what} {why}: a hybrid is projected from measured figures.")
    return WhatIf(measured[primary_id], measured[fallback_id], share_pct / 100)


def combine(
    label: str, parts: list[tuple[float, Projection]], w: Workload, *, what_if: bool = False
) -> Projection:
    """The hybrid's row from its two projected legs, (share, leg) each (steps 2 and 3)."""
    rows = [leg for _, leg in parts]
    hours = [r.hours for r in rows]
    row = Projection(
        rows[0].stats,
        None if None in hours else max(hours),
        _sum(r.cost for r in rows),
        all(r.fits for r in rows),
        meets_bar=all(r.meets_bar for r in rows),
        per_day=w.per_day,
        label=label,
        legs=parts,
        unpriced=any(r.unpriced for r in rows),
        what_if=what_if,
    )
    row.hardware_cost = _sum(r.hardware_cost for r in rows)
    row.electricity_cost = _sum(r.electricity_cost for r in rows if r.electricity_cost is not None)
    said = "; ".join(f"{r.name} {_pct(s)}: {_said(r)}" for s, r in parts)
    row.basis = [
        ("time", f"hybrid: the longer of its legs, run side by side ({said})"),
        ("tokens", w.tokens_source),
        (
            "cost",
            "hybrid: the sum of its legs, each priced as its configuration says "
            "(a machine paid by the day in full, whatever its share)",
        ),
    ]
    (primary_share, primary), (share, fallback) = parts
    row.note = f"hybrid: {_pct(share)} of queries to {fallback.name}, the rest to {primary.name}"
    if what_if:
        row.note = f"what-if {row.note}"
    return row


def _pct(share: float) -> str:
    return f"{share * 100:.3g}%"


def _said(r: Projection) -> str:
    hours = "time unknown" if r.hours is None else f"{r.hours:.2f} h"
    cost = "cost unknown" if r.cost is None else f"${r.cost:,.2f}"
    return f"{hours}, {cost}"


def _sum(values) -> float | None:
    values = list(values)
    return None if not values or None in values else sum(values)
