"""Property tests of re-importing Annotate's own export (hypothesis): a row damaged anywhere is
restored whole or refused by line with nothing written, never a crash."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from annotate.datasets.importing import (
    ImportFailed,
    import_dataset,
)
from annotate.datasets.models import Dataset, Item
from annotate.exports.models import Export
from annotate.exports.rows import run_export
from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, Project
from inference.models import Generation
from tests.conftest import join, make_project
from tests.datasets.import_fuzzing import FUZZ, assert_names_lines, encode, json_values, undone

pytestmark = pytest.mark.django_db


# --- re-import of Annotate's own export -------------------------------------------------------


@pytest.fixture
def export_rows(owner, mlx_config, annotator, reviewer):
    """The rows of a full JSONL export: two outputs, labeled, one reviewed."""
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    for _ in range(2):
        annotation_queue.submit(
            annotation_queue.next_task(project, annotator), {"quality": 4, "correct": "pass"}, 1.0
        )
    project.tasks.update(final={"quality": 5, "correct": "pass"}, reviewed_by=reviewer)
    export = Export.objects.create(owner=owner, format="jsonl", filters={"project": project.pk})
    path = Path(run_export(export).path)
    return [json.loads(line) for line in path.read_text().splitlines()]


def _paths(value, path=()):
    """The path to every value inside a JSON document."""
    yield path
    if isinstance(value, dict | list):
        for key, child in value.items() if isinstance(value, dict) else enumerate(value):
            yield from _paths(child, (*path, key))


@settings(max_examples=500, **FUZZ)
@given(data=st.data())
def test_any_damage_to_an_export_row_is_restored_or_refused_by_line(
    owner, export_rows, django_user_model, data
):
    """One value anywhere in an exported row replaced by any JSON, its authors kept or not:
    the file is restored whole (items, outputs, labels) or refused by line with nothing
    written, never a crash."""
    rows = json.loads(json.dumps(export_rows))
    row = rows[data.draw(st.integers(0, len(rows) - 1), label="row")]
    path = data.draw(st.sampled_from(list(_paths(row))[1:]), label="path")
    *parents, last = path
    target = row
    for key in parents:
        target = target[key]
    target[last] = data.draw(json_values, label="value")
    body = b"".join(encode(r, ascii_only=True) + b"\n" for r in rows)
    keep = data.draw(st.booleans(), label="keep_authors")
    tables = (Dataset, Item, Generation, Project, Annotation, django_user_model)
    with undone():
        before = [t.objects.count() for t in tables]
        try:
            dataset = import_dataset(io.BytesIO(body), "export.jsonl", "", owner, keep_authors=keep)
        except ImportFailed as failed:
            event("refused")
            assert [t.objects.count() for t in tables] == before, "a refused file wrote something"
            assert_names_lines(failed.errors)
            return
        event("restored")
        assert Generation.objects.filter(item__dataset=dataset).count() == 2
        # A label list made empty (or null) is a row without labels; nothing else is dropped.
        assert dataset.restored.outputs == 2 and dataset.restored.labels <= 2
