"""The labeling pages a person uses all day, in Chromium at 1024, 1280 and 1920 px (issue 16):
the progress line, the item's system prompt and metadata, "Label this run", the dataset's
search and an item's own page, the matrix sorted by rating. Each is screenshotted."""

from __future__ import annotations

import io
import json
import re
from unittest import mock

import pytest
from playwright.sync_api import expect

from annotate.datasets.importing import import_dataset
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import GenerationStatus
from tests.browser.conftest import log_in
from tests.conftest import join
from tests.support.screens import HEIGHT, WIDTHS, covering, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SYSTEM = "You are a terse senior engineer. Answer in one code block."


@pytest.fixture
def run(owner, mlx_config):
    """A finished run over four chat items with a system prompt and metadata."""
    rows = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": f"Write function {i}. " + "Explain it. " * 40 * i + f"END-{i}",
                },
            ],
            "topic": "maths" if i % 2 else "strings",
            "difficulty": i,
        }
        for i in range(4)
    ]
    lines = "".join(json.dumps(r) + "\n" for r in rows).encode()
    dataset = import_dataset(io.BytesIO(lines), "chat.jsonl", "chat prompts", owner)
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, dataset.pk, mlx_config.pk)
    for g in run.generations.select_related("item"):
        g.status, g.latency_s, g.output_tokens = GenerationStatus.DONE, 0.5, 12
        g.output = f"```python\ndef f{g.item.index}():\n    return {g.item.index}\n```"
        g.save()
    return run


@pytest.fixture
def project(run, owner, annotator):
    project = Project.objects.create(name="Quality", owner=owner, questions=DEFAULT_QUESTIONS)
    project.runs.add(run)
    sync_tasks(project)
    join(project, annotator)
    return project


def test_an_annotator_sees_where_they_stand_and_the_items_context(page, project, annotator, shoot):
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, "annie", "pw-annie-123")
    page.keyboard.press("4")
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    with page.expect_navigation():
        page.keyboard.press("s")

    mine = Annotation.objects.filter(annotator=annotator, task__project=project)
    done = mine.filter(state=AnnotationState.SUBMITTED).count()
    skipped = mine.filter(state=AnnotationState.SKIPPED).count()
    number = int(re.search(r"/tasks/(\d+)/", page.url).group(1))
    line = page.locator("[data-progress]")
    expect(line).to_have_text(
        f"{done} of {project.tasks.count()} done · {skipped} skipped · item {number}"
    )
    assert (done, skipped) == (1, 1)
    expect(page.get_by_role("button", name="Undo skip")).to_be_visible()

    # The system prompt and the metadata are there, collapsed; a click opens them.
    system = page.locator("details.system-prompt")
    expect(system.locator("summary")).to_have_text("System prompt")
    expect(system.get_by_text(SYSTEM)).to_be_hidden()
    system.locator("summary").click()
    expect(system.get_by_text(SYSTEM)).to_be_visible()
    metadata = page.locator("details.item-metadata")
    metadata.locator("summary").click()
    expect(metadata.locator("dt", has_text="topic")).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        assert covering(page, ".output-card") == [], width
        shoot(page, "label", width)


def test_a_manager_labels_a_run_from_its_page(owner_page, run, shoot):
    owner_page.goto(f"/runs/{run.pk}/")
    button = owner_page.get_by_role("button", name="Label this run")
    expect(button).to_be_visible()
    for width in WIDTHS:
        shoot(owner_page, "run-label-this-run", width)
    with owner_page.expect_navigation():
        button.click()
    project = Project.objects.get(runs=run)
    assert owner_page.url.endswith(f"/projects/{project.pk}/")
    expect(owner_page.get_by_text(f"{project.tasks.count()} items to label")).to_be_visible()
    assert project.tasks.count() == run.generations.count() == 4


def test_a_manager_searches_a_dataset_and_opens_an_item(owner_page, run, shoot):
    dataset = run.dataset
    owner_page.goto(f"/datasets/{dataset.pk}/")
    owner_page.get_by_label("Search").fill("topic=maths")
    with owner_page.expect_navigation():
        owner_page.get_by_role("button", name="Search").click()
    maths = dataset.items.filter(metadata__topic="maths").count()
    expect(owner_page.locator("[data-found]")).to_contain_text(
        f"{maths} of {dataset.items.count()} items match"
    )
    rows = owner_page.locator("table.items tbody tr")
    expect(rows).to_have_count(maths)
    # A long prompt opens in place, whole.
    long_prompt = owner_page.locator("details.long").filter(has_text="Write function 3.")
    expect(long_prompt.get_by_text("END-3")).to_be_hidden()
    long_prompt.locator("summary").click()
    expect(long_prompt.get_by_text("END-3")).to_be_visible()
    for width in WIDTHS:
        owner_page.set_viewport_size({"width": width, "height": HEIGHT})
        assert wider_than_card(owner_page, "table.items") == [], width
        shoot(owner_page, "dataset-search", width)

    # Numbered from 1 on the pages: the item stored at index 3 is the fourth.
    with owner_page.expect_navigation():
        owner_page.get_by_role("link", name="4", exact=True).click()
    expect(owner_page.get_by_role("heading", name="Item 4")).to_be_visible()
    expect(owner_page.locator(".item-output")).to_have_count(1)
    expect(owner_page.locator(".item-output")).to_contain_text("return 3")
    for width in WIDTHS:
        shoot(owner_page, "item", width)


def test_the_matrix_sorts_by_rating(owner_page, project, annotator, mlx_config, shoot):
    ratings = {0: 2, 1: 5, 2: 4, 3: 1}
    while (held := annotation_queue.next_task(project, annotator)) is not None:
        index = held.task.generation.item.index
        annotation_queue.submit(held, {"quality": ratings[index], "correct": "pass"}, 1)
    dataset = project.runs.get().dataset
    owner_page.goto(f"/datasets/{dataset.pk}/matrix/")
    with owner_page.expect_navigation():
        owner_page.get_by_title("Sort by demo's mean rating, best first").click()
    indexes = owner_page.locator("table.matrix-table tbody tr td:first-child").all_inner_texts()
    # Items are numbered from 1 on the page: the stored index plus one.
    assert [int(i) - 1 for i in indexes] == sorted(ratings, key=lambda i: -ratings[i])
    for width in WIDTHS:
        shoot(owner_page, "matrix-by-rating", width)
