"""Hybrid runs: a routed model configuration names a primary and a fallback configuration
(any two backends, e.g. a hosted API with a local MLX model behind it, or the reverse) and a
rule. `route` is the one routing decision; the rest applies it.

- Share of traffic: `share` (0-1) of a run's generations go to the fallback, spread evenly
  (position i goes there when floor((i+1)·share) > floor(i·share), so the count is exact).
- Queue depth: when the primary already has `queue_depth` unfinished generations (all active
  runs), the next ones go to the fallback.
- Errors after retries: a primary result that failed after its backend's retries (or a
  primary that cannot start: down, wrong key) goes back to pending for the fallback.

Every generation of a routed run is given its leg when the run is made (`served_by`, with
`route_reason`): each leg's worker claims only its own (inference/leases.py), on its own
queue, so two queues' workers share a run without doing an item twice. A rerouted item
changes leg under its lease, in one update, so it is never held by both.
"""

from __future__ import annotations

import math

from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce

from inference.backends import get_backend_class
from inference.errors import Invalid
from inference.models import ACTIVE_RUN_STATUSES, Generation, GenerationStatus, ModelConfig, Run

PRIMARY, FALLBACK = "primary", "fallback"
LEGS = (PRIMARY, FALLBACK)
UNFINISHED = (GenerationStatus.PENDING, GenerationStatus.RUNNING)
REASON_MAX = 300


def route(
    rule: dict,
    *,
    position: int = 0,
    primary_depth: int = 0,
    error: str = "",
    ttft_s: float | None = None,
) -> tuple[str, str]:
    """The leg that serves a generation, and why. `rule` is a run's params["route"];
    `position`: the generation's place in the run; `primary_depth`: the primary's unfinished
    generations ahead of it; `error`: the primary's error after its retries (a result);
    `ttft_s`: the time to first token of the primary's last answer (the items still waiting
    for the primary follow it)."""
    if error:
        if rule.get("on_errors"):
            return FALLBACK, f"Primary failed after retries: {error}"[:REASON_MAX]
        return PRIMARY, "Primary failed; this rule does not fall back on errors."
    limit_s = rule.get("ttft_s")
    if ttft_s is not None and limit_s is not None and ttft_s > limit_s:
        return FALLBACK, f"Primary's time to first token {ttft_s:.2f} s above {limit_s:g} s."
    share = float(rule.get("share") or 0)
    if share and math.floor((position + 1) * share) > math.floor(position * share):
        return FALLBACK, f"Share of traffic: {share:.0%} to the fallback."
    limit = rule.get("queue_depth")
    if limit is not None and primary_depth >= limit:
        return FALLBACK, f"Primary queue {primary_depth} deep (limit {limit})."
    return PRIMARY, "Primary."


def check_route(config: ModelConfig) -> None:
    """Invalid unless `config`, about to be saved, keeps every route sound: a routed one names
    two plain, streamed configurations that differ, and a share between 0 and 1; one that
    serves a route stays plain and streamed. The page, the API (inference.actions) and the
    admin ask this; who may see the legs is the caller's check."""
    primary, fallback = config.route_primary, config.route_fallback
    serves = ModelConfig.objects.filter(Q(route_primary=config.pk) | Q(route_fallback=config.pk))
    routed_by = serves.order_by("pk").first() if config.pk else None
    if routed_by is not None:
        if primary is not None or fallback is not None:
            raise Invalid(
                f"{config.name!r} serves a routed configuration: it cannot be routed too."
            )
        _check_leg(config, routed_by)
    if primary is None and fallback is None:
        return
    if primary is None or fallback is None:
        raise Invalid("A routed configuration needs both a primary and a fallback.")
    if primary.pk == fallback.pk or config.pk in (primary.pk, fallback.pk):
        raise Invalid("The primary, the fallback and the routed configuration must differ.")
    for leg in (primary, fallback):
        if leg.route_primary_id:
            raise Invalid(f"{leg.name!r} is routed itself: name two plain configurations.")
        _check_leg(leg, config)
    if config.route_share is not None and not 0 <= config.route_share <= 1:
        raise Invalid("The share sent to the fallback must be between 0 and 1.")


def _check_leg(leg: ModelConfig, routed: ModelConfig) -> None:
    what = f"{leg.name!r} cannot be a leg of the routed configuration {routed.name!r}"
    if not get_backend_class(leg.backend).generates:
        raise Invalid(f"{what}: its outputs are imported, never generated.")
    if leg.mode == "batch":
        # A provider batch answers within hours: no first token to time, no error in time.
        raise Invalid(
            f"{what}: it uses provider batches, which answer within hours, so neither a "
            "time-to-first-token rule nor a fallback on errors could act in time. "
            "Route streamed configurations."
        )


def rule_of(params: dict) -> dict | None:
    return params.get("route")


def legs(params: dict) -> list[tuple[str | None, str]]:
    """(leg, Celery queue) of each leg of a run: [(None, queue)] for an unrouted run."""
    rule = rule_of(params)
    if not rule:
        return [(None, params.get("queue") or get_backend_class(params["backend"]).queue)]
    return [(leg, rule[leg]["params"]["queue"]) for leg in LEGS]


def leg_params(params: dict, leg: str | None) -> dict:
    """The settings a leg's worker generates with: the leg's configuration's, with what the
    run adds (response schema) kept."""
    rule = rule_of(params)
    if not rule:
        return params
    return {**params, **rule[leg or PRIMARY]["params"]}


def served_config(path: str = "") -> Coalesce:
    """The configuration a generation counts under in every figure: the routed leg that
    served it, else its run's. `path` leads from the query's model to the generation
    (e.g. "task__generation__")."""
    return Coalesce(F(f"{path}served_by_id"), F(f"{path}run__model_config_id"))


def leg_config_id(params: dict, leg: str | None) -> int | None:
    rule = rule_of(params)
    return rule[leg or PRIMARY]["id"] if rule else None


def primary_depth(config_id: int) -> int:
    """Unfinished generations the primary configuration has in active runs."""
    return Generation.objects.filter(
        Q(served_by_id=config_id) | Q(served_by__isnull=True, run__model_config_id=config_id),
        status__in=UNFINISHED,
        run__status__in=ACTIVE_RUN_STATUSES,
    ).count()


def assign(run: Run) -> dict[str, int]:
    """Give each generation of a new routed run its leg (`route`). Returns counts by leg."""
    rule = rule_of(run.params)
    ids = list(run.generations.order_by("pk").values_list("pk", flat=True))
    depth = primary_depth(rule[PRIMARY]["id"]) if rule.get("queue_depth") is not None else 0
    by_choice: dict[tuple[str, str], list[int]] = {}
    for position, pk in enumerate(ids):
        choice = route(rule, position=position, primary_depth=depth)
        depth += choice[0] == PRIMARY
        by_choice.setdefault(choice, []).append(pk)
    for (leg, reason), pks in by_choice.items():
        for start in range(0, len(pks), 2000):
            Generation.objects.filter(pk__in=pks[start : start + 2000]).update(
                served_by_id=rule[leg]["id"], route_reason=reason
            )
    counts = {leg: 0 for leg in LEGS}
    for (leg, _), pks in by_choice.items():
        counts[leg] += len(pks)
    return counts


def reroute_result(lease, result) -> bool | None:
    """A primary result that failed after its retries: hand it to the fallback (pending, its
    lease dropped, in one update). None when the rule keeps it failed (the caller writes it)."""
    rule = rule_of(lease.run.params)
    if not rule or lease.served_by != rule[PRIMARY]["id"]:
        return None
    leg, reason = route(rule, error=result.error)
    if leg != FALLBACK:
        return None
    moved = (
        lease.held()
        .filter(pk=result.key)
        .update(
            status=GenerationStatus.PENDING,
            served_by_id=rule[FALLBACK]["id"],
            route_reason=reason,
            retries=result.retries,
            error="",
            lease_token=None,
            lease_expires_at=None,
        )
    )
    lease.rerouted += moved
    return bool(moved)


def slow_primary(lease, result) -> int:
    """A primary answer whose first token came later than the rule's limit: the primary's
    waiting generations of the run go to the fallback (the answer itself is kept). Returns
    how many moved."""
    rule = rule_of(lease.run.params)
    if not rule or lease.served_by != rule[PRIMARY]["id"] or rule.get("ttft_s") is None:
        return 0
    leg, reason = route(rule, ttft_s=result.timing.ttft_s)
    if leg != FALLBACK:
        return 0
    moved = Generation.objects.filter(
        run=lease.run, served_by_id=lease.served_by, status=GenerationStatus.PENDING
    ).update(served_by_id=rule[FALLBACK]["id"], route_reason=reason)
    lease.rerouted += moved
    return moved


def reroute_unstartable(run: Run, config_id: int, error: str) -> int:
    """The primary cannot start (down, refused its key): its pending generations go to the
    fallback. 0 when the rule does not fall back on errors, or the fallback is what failed
    (the caller fails the run)."""
    rule = rule_of(run.params)
    leg, reason = route(rule, error=error)
    if leg != FALLBACK or config_id != rule[PRIMARY]["id"]:
        return 0
    return Generation.objects.filter(
        run=run, served_by_id=rule[PRIMARY]["id"], status=GenerationStatus.PENDING
    ).update(served_by_id=rule[FALLBACK]["id"], route_reason=reason)


def leg_has_work(run: Run, config_id: int) -> bool:
    return Generation.objects.filter(
        run=run, served_by_id=config_id, status__in=UNFINISHED
    ).exists()


def split(run: Run) -> list[dict]:
    """Who served a run's generations and why: rows of (config name, reason, status, count)."""
    rows = (
        Generation.objects.filter(run=run)
        .values("served_by__name", "route_reason", "status")
        .order_by("served_by__name", "route_reason", "status")
    )
    return list(rows.annotate(n=Count("pk")))
