"""The blind comparison page at the widths people use (issue 16): both answers get the same
width from 1024 px up and stack below it, nothing lies over either one, and long answers
scroll in step while "Scroll together" is on. Layout is asserted by bounding boxes."""

from __future__ import annotations

from unittest import mock

import pytest
from playwright.sync_api import expect

from annotate.comparisons.pairs import compare_questions
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.browser.conftest import log_in
from tests.conftest import join, make_dataset
from tests.support.screens import HEIGHT, WIDTHS, box, covering

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A short answer against a long one with an unbroken line: the case that used to give the
# left answer 854 px and the right one 314 px.
SHORT = "Use a dict."
LONG = "\n\n".join(f"Paragraph {i}: " + "words " * 60 for i in range(40)) + "\n\n" + "x" * 400


@pytest.fixture
def arena(owner, annotator, demo_model_path):
    """A blind comparison of two runs over three items, with guidelines, annie a member."""
    dataset = make_dataset(owner, 3)
    for name, output in (("local-small", SHORT), ("api-large", LONG)):
        config = ModelConfig.objects.create(
            name=name, backend="mlx", model=str(demo_model_path), owner=owner
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(status=GenerationStatus.DONE, output=output)
        if name == "local-small":
            project = Project.objects.create(
                name="Arena",
                kind=ProjectKind.COMPARE,
                owner=owner,
                overlap=1,
                guidelines="Prefer the **correct** answer; length is not quality.\n\n" * 4,
            )
            project.questions = compare_questions(project)
            project.save()
        project.runs.add(run)
    assert sync_tasks(project) == 3
    join(project, annotator)
    return project


def _open(page, project) -> None:
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, "annie", "pw-annie-123")
    expect(page.locator("[data-pair]")).to_be_visible()


def test_both_answers_get_the_same_width_and_nothing_covers_them(page, arena, shoot):
    _open(page, arena)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        left = box(page, ".output-card[data-side=left]")
        right = box(page, ".output-card[data-side=right]")
        assert abs(left["width"] - right["width"]) <= 2, (width, left, right)
        assert left["y"] == pytest.approx(right["y"], abs=1)  # side by side
        assert left["x"] + left["width"] <= right["x"]
        for side in ("left", "right"):
            assert covering(page, f".output-card[data-side={side}]") == [], (width, side)
        # The question panel, Skip and the guidelines are all there, below the pair.
        bottom = max(left["y"] + left["height"], right["y"] + right["height"])
        for panel in ("#label-form", "#skip-form", "details.guidelines"):
            assert box(page, panel)["y"] >= bottom, (width, panel)
        shoot(page, "compare", width)


def test_below_1024_px_the_answers_stack_at_full_width(page, arena, shoot):
    _open(page, arena)
    page.set_viewport_size({"width": 800, "height": HEIGHT})
    left = box(page, ".output-card[data-side=left]")
    right = box(page, ".output-card[data-side=right]")
    column = box(page, ".pair")
    assert left["width"] == pytest.approx(column["width"], abs=2)
    assert right["width"] == pytest.approx(column["width"], abs=2)
    assert right["y"] >= left["y"] + left["height"]
    for side in ("left", "right"):
        assert covering(page, f".output-card[data-side={side}]") == [], side
    shoot(page, "compare", 800)


def _scroll_tops(page) -> list[float]:
    return page.eval_on_selector_all(
        "[data-pair] [data-scroll]", "els => els.map(e => e.scrollTop)"
    )


def _fraction(page, side: str) -> float:
    return page.eval_on_selector(
        f"[data-side={side}] [data-scroll]",
        "e => e.scrollTop / Math.max(1, e.scrollHeight - e.clientHeight)",
    )


def test_a_long_pair_scrolls_in_step_while_sync_is_on(page, arena, owner, annotator):
    # Both sides long, the right one twice as long: in step means the same fraction.
    from inference.models import Generation

    Generation.objects.filter(output=SHORT).update(output=LONG[: len(LONG) // 2])
    _open(page, arena)
    toggle = page.get_by_label("Scroll together")
    expect(toggle).to_be_checked()
    page.hover("[data-side=left] [data-scroll]")
    page.mouse.wheel(0, 900)
    page.wait_for_function(
        "() => document.querySelector('[data-side=right] [data-scroll]').scrollTop > 0"
    )
    assert _fraction(page, "left") > 0
    assert _fraction(page, "right") == pytest.approx(_fraction(page, "left"), abs=0.02)

    # Off (by keyboard: Tab reaches the box, Space unticks it), it stays off on the next item.
    toggle.focus()
    page.keyboard.press(" ")
    expect(toggle).not_to_be_checked()
    page.reload()
    expect(page.get_by_label("Scroll together")).not_to_be_checked()
    before = _scroll_tops(page)
    page.hover("[data-side=left] [data-scroll]")
    page.mouse.wheel(0, 600)
    page.wait_for_function(
        "() => document.querySelector('[data-side=left] [data-scroll]').scrollTop > 0"
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert _scroll_tops(page)[1] == before[1]


def test_the_progress_line_counts_what_the_annotator_did(page, arena, annotator, shoot):
    _open(page, arena)
    first = page.url
    with page.expect_navigation():
        page.keyboard.press("s")
    line = page.locator("[data-progress]")
    expect(line).to_be_visible()
    mine = Annotation.objects.filter(annotator=annotator, task__project=arena)
    done = mine.filter(state=AnnotationState.SUBMITTED).count()
    skipped = mine.filter(state=AnnotationState.SKIPPED).count()
    total = arena.tasks.count()
    number = int(page.url.rstrip("/").split("/")[-1])
    expect(line).to_have_text(f"{done} of {total} done · {skipped} skipped · item {number}")
    assert (done, skipped) == (0, 1)
    # The skip is offered back, visibly, with its key.
    undo = page.get_by_role("button", name="Undo skip")
    expect(undo).to_be_visible()
    for width in WIDTHS:
        shoot(page, "compare-undo-skip", width)
    with page.expect_navigation():
        page.keyboard.press("u")
    assert page.url == first


def test_the_reviewers_page_lays_out_a_pair_the_same_way(owner_page, arena, shoot):
    number = arena.tasks.order_by("number").first().number
    owner_page.goto(f"/projects/{arena.pk}/review/{number}/")
    expect(owner_page.locator("[data-pair]")).to_be_visible()
    for width in WIDTHS:
        owner_page.set_viewport_size({"width": width, "height": HEIGHT})
        left = box(owner_page, ".output-card[data-side=left]")
        right = box(owner_page, ".output-card[data-side=right]")
        assert abs(left["width"] - right["width"]) <= 2, (width, left, right)
        for side in ("left", "right"):
            assert covering(owner_page, f".output-card[data-side={side}]") == [], (width, side)
        shoot(owner_page, "review-compare", width)
