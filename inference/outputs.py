"""A run's outputs a page at a time, by keyset: the page after a generation's id.

An offset page makes the database walk every row before it, and a count walks them all
again, so page 1000 of a big run costs what the whole run does. A keyset page walks only its
own rows, through the (run, status) and run indexes, whatever its depth. Generations are
created in item order, then sample order (`actions._add_generations`), so id order is the
order of the items.
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.models import Generation, GenerationStatus, Run


@dataclass(frozen=True)
class OutputPage:
    generations: list[Generation] | list[dict]
    # The cursor of the next page (the last id shown), None on the last page.
    next_after: int | None


def outputs_of(run: Run, status: str | None = None):
    """The run's generations in page order, of one status if given."""
    gens = Generation.objects.filter(run=run).order_by("pk")
    return gens.filter(status=status) if status else gens


def output_page(
    run: Run,
    *,
    status: str | None = None,
    after: int | None = None,
    limit: int = 50,
    fields: tuple[str, ...] = (),
) -> OutputPage:
    """Up to `limit` generations of `run` with an id above `after` (the first page if None):
    with their items (a page shows the item's index), or, if `fields` are named, as dicts of
    those fields ("id" among them), without making model instances (the API's JSON).

    One more row than asked tells whether a next page exists, without a count.
    """
    gens = outputs_of(run, status)
    if after is not None:
        gens = gens.filter(pk__gt=after)
    rows = list((gens.values(*fields) if fields else gens.select_related("item"))[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return OutputPage(rows, _pk(rows[-1]) if more else None)


def _pk(row) -> int:
    return row["id"] if isinstance(row, dict) else row.pk


def output_count(run: Run, status: str | None = None) -> int:
    """How many outputs the list holds: the run's stored total when unfiltered (no count)."""
    if not status:
        return run.total
    return outputs_of(run, status).count()


__all__ = ["GenerationStatus", "OutputPage", "output_count", "output_page", "outputs_of"]
