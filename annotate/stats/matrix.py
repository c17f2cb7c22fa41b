"""A dataset as a matrix: items as rows, model configurations as columns, each cell one
output with its rating, latency, tokens and cost."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, OuterRef, Subquery

from annotate.datasets.models import Dataset, Item
from annotate.datasets.search import search_items
from annotate.labeling.models import Annotation
from annotate.labeling.ratings import average, rated_outputs
from inference.models import Generation, Run

SORTS = {"latency": "latency_s", "tokens": "output_tokens", "cost": "cost_usd", "ttft": "ttft_s"}
RATING = "rating"  # the mean of the labels' ratings, counted in Python (labeling/ratings.py)


@dataclass
class Column:
    config_id: int
    name: str
    run_id: int


def columns(dataset: Dataset) -> list[Column]:
    """One column per model configuration: its latest run on the dataset."""
    latest: dict[int, Run] = {}
    for run in dataset.runs.select_related("model_config").order_by("created_at"):
        latest[run.model_config_id] = run
    return [Column(r.model_config_id, r.model_config.name, r.pk) for r in latest.values()]


def items(dataset: Dataset, cols: list[Column], query: str = "", sort: str = ""):
    """The dataset's items that match `query` (datasets.search), sorted by one column's
    measurement or mean rating (`<config id>:<latency|tokens|cost|ttft|rating>`, `-` for
    descending), the unmeasured or unrated last."""
    rows = search_items(dataset, query)
    descending = sort.startswith("-")
    config, _, metric = sort.lstrip("-").partition(":")
    run = next((c.run_id for c in cols if str(c.config_id) == config), None)
    if run is None or (metric not in SORTS and metric != RATING):
        return rows
    if metric == RATING:
        return _by_rating(rows, run, descending)
    value = Generation.objects.filter(run_id=run, item=OuterRef("pk"), sample_index=0)
    rows = rows.annotate(sort_value=Subquery(value.values(SORTS[metric])[:1]))
    order = (
        F("sort_value").desc(nulls_last=True)
        if descending
        else F("sort_value").asc(nulls_last=True)
    )
    return rows.order_by(order, "index")


def _by_rating(rows, run_id: int, descending: bool) -> list[Item]:
    """The items in the order of their output's mean rating in the run (the rating is the
    labels' mean, labeling/ratings.py, counted in Python: one query for the run's labels)."""
    outputs = dict(
        Generation.objects.filter(run_id=run_id, sample_index=0).values_list("pk", "item_id")
    )
    by_item = {outputs[gen_id]: value for gen_id, value in ratings(list(outputs)).items()}
    sign = -1 if descending else 1

    def key(item: Item):
        value = by_item.get(item.pk)
        return (value is None, sign * (value or 0), item.index)

    return sorted(rows, key=key)


def cells(page_items, cols: list[Column]) -> dict[tuple[int, int], Generation]:
    """{(item id, config id): generation} for the items shown, in one query."""
    by_run = {c.run_id: c.config_id for c in cols}
    gens = Generation.objects.filter(run_id__in=by_run, item__in=page_items, sample_index=0)
    return {(g.item_id, by_run[g.run_id]): g for g in gens}


def ratings(generations) -> dict[int, float]:
    """Mean rating per generation (annotate/labeling/ratings.py), in one query."""
    labels = Annotation.objects.filter(task__generation__in=generations)
    return {gen_id: average(values) for (gen_id,), values in rated_outputs(labels) if values}


def table(page_items, cols: list[Column]) -> list[tuple[Item, list[dict | None]]]:
    found = cells(page_items, cols)
    rated = ratings(list(found.values()))
    return [
        (item, [_cell(found.get((item.pk, c.config_id)), rated) for c in cols])
        for item in page_items
    ]


def _cell(generation: Generation | None, rated: dict[int, float]) -> dict | None:
    if generation is None:
        return None
    return {"g": generation, "rating": rated.get(generation.pk)}
