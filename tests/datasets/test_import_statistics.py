"""On PostgreSQL a bulk import refreshes the tables' planner statistics once it is in: the
planner otherwise takes the tables for nearly empty and picks plans that take seconds (the
export's `labeled` filter took 16 s for 500 votes instead of 23 ms)."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection

from annotate.datasets.actions import import_dataset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.requires_database("postgresql")]


def _estimated_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_a_bulk_import_of_outputs_leaves_the_planner_knowing_the_sizes(owner):
    lines = [
        json.dumps(
            {
                "prompt": f"Q{i}?",
                "outputs": [{"model": "a", "output": "x"}, {"model": "b", "output": "y"}],
            }
        )
        for i in range(3000)
    ]
    import_dataset(owner, io.BytesIO("\n".join(lines).encode()), "o.jsonl", project_kind="compare")
    assert _estimated_rows("annotate_item") >= 3000 * 0.9
    assert _estimated_rows("annotate_generation") >= 6000 * 0.9
    assert _estimated_rows("annotate_task") >= 3000 * 0.9
