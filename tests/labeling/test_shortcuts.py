"""The ? list of keys says what the page's keys do there, and only that."""

from __future__ import annotations

import pytest

from annotate.labeling import annotation_queue
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


def test_the_shortcut_list_names_only_the_keys_of_its_page(
    client, owner, mlx_config, annotator, reviewer
):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    join(project, reviewer, "reviewer")
    held = annotation_queue.next_task(project, annotator)

    client.force_login(annotator)
    label_page = client.get(f"/projects/{project.pk}/tasks/{held.task.number}/").text
    for words in ("Skip this item", "Undo the skip", "Ctrl</kbd>+<kbd>Enter", "a new line"):
        assert words in label_page
    assert "{#" not in label_page and "Show / hide the differences" not in label_page

    annotation_queue.submit(held, {"quality": 3, "correct": "pass"}, 5.0)
    client.force_login(reviewer)
    review_page = client.get(f"/projects/{project.pk}/review/{held.task.number}/").text
    assert "Ctrl</kbd>+<kbd>Enter" in review_page
    assert "Skip this item" not in review_page and "Undo the skip" not in review_page
