"""Finding items in a dataset: by words of the prompt, reference, external id or metadata,
or by one metadata value (`key=value`). The dataset page and the matrix both search here."""

from __future__ import annotations

import json
import math

from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast

from annotate.datasets.models import Dataset, Item


def search_items(dataset: Dataset, query: str = "") -> QuerySet[Item]:
    """The dataset's items that match `query`, in file order. `key=value` matches the items
    whose metadata has that value under that key (`n=2` the number, `ok=true` the boolean,
    anything else text); other words are looked for, ignoring case, in the prompt, the
    reference, the external id and the metadata's text."""
    rows = Item.objects.filter(dataset=dataset)
    query = query.strip()
    if "\x00" in query:  # no stored text holds a NUL (PostgreSQL refuses one in a query)
        return rows.none()
    if "=" in query:
        key, value = (part.strip() for part in query.split("=", 1))
        # One key, taken literally: a `__` in it is part of the name, not a lookup.
        rows = rows.alias(meta_value=KeyTransform(key, "metadata"))
        rows = rows.filter(meta_value=_json_value(value))
    elif query:
        rows = rows.alias(metadata_text=Cast("metadata", TextField())).filter(
            Q(prompt__icontains=query)
            | Q(reference__icontains=query)
            | Q(external_id__icontains=query)
            | Q(metadata_text__icontains=query)
        )
    return rows.order_by("index")


def _json_value(text: str):
    """`n=2` matches the number 2, `ok=true` the boolean; anything else (`1e999` too, which
    JSON cannot hold as a number) is text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value
