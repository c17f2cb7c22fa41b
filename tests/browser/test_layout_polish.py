"""Layout a new user stumbled on, checked by bounding boxes at 1024, 1280 and 1920 px: the
dataset page's "Start a run" on one line with a small count box, a 1-5 rating on one line in
the label page's side panel, the question builder's Required and Remove boxes in the same
place in every row, the Speed & cost page's model list saying how to pick several, and a
gap between an export's Download button and its Manifest link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.exports.models import Export
from tests.browser.conftest import log_in
from tests.conftest import join, make_dataset, make_project
from tests.support.screens import WIDTHS, box, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _same_line(a: dict, b: dict) -> bool:
    """Whether two boxes share a horizontal band (one line of a wrapping row)."""
    return a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_the_dataset_pages_start_a_run_holds_on_one_line(owner_page, owner, mlx_config, shoot):
    dataset = make_dataset(owner, 3)
    page = owner_page
    page.goto(f"/datasets/{dataset.pk}/")
    form = "form.run-start"
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        count = box(page, f"{form} input[name=samples_per_prompt]")
        assert count["width"] <= 8 * 16, (width, count)  # a count of 1 to 100, not 18rem
        go = box(page, f"{form} button")
        sweep = page.locator(form).get_by_role("link", name="Speed sweep…").bounding_box()
        new = page.locator(form).get_by_role("link", name="Add a model configuration")
        assert _same_line(count, go) and _same_line(go, sweep), width
        assert _same_line(new.bounding_box(), sweep), width
        assert wider_than_card(page) == []
        shoot(page, "dataset-start-run", width)


def test_a_one_to_five_rating_stays_on_one_line(page, owner, mlx_config, annotator, shoot):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, "annie", "pw-annie-123")
    rating = page.locator('fieldset[data-kind="rating"]').first
    expect(rating.locator(".choice")).to_have_count(5)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        choices = [c.bounding_box() for c in rating.locator(".choice").all()]
        tops = {round(c["y"]) for c in choices}
        assert len(tops) == 1, (width, choices)
        field = rating.bounding_box()
        assert choices[-1]["x"] + choices[-1]["width"] <= field["x"] + field["width"], width
        shoot(page, "label-rating", width)


def test_every_question_rows_boxes_line_up(owner_page, shoot):
    page = owner_page
    page.goto("/projects/new/")
    rows = page.locator(".question-row")
    assert rows.count() >= 3
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        required = [r.get_by_label("Required").bounding_box() for r in rows.all()]
        remove = [r.get_by_label("Remove").bounding_box() for r in rows.all()[:-1]]
        # The same left edge in every row, and Remove beside Required on its line.
        assert len({round(b["x"]) for b in required}) == 1, (width, required)
        assert len({round(b["x"]) for b in remove}) == 1, (width, remove)
        for a, b in zip(required, remove, strict=False):
            assert _same_line(a, b) and a["x"] < b["x"], width
        shoot(page, "project-form-rows", width)


def test_the_models_list_says_how_to_pick_several(owner_page, mlx_config):
    page = owner_page
    page.goto("/stats/")
    models = page.locator("select[name=config]")
    hint = page.locator("#models-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("Ctrl-click")
    assert models.get_attribute("aria-describedby") == "models-hint"


def test_an_exports_manifest_link_keeps_a_gap_from_the_download_button(owner_page, owner, shoot):
    export = Export.objects.create(
        owner=owner, format="sft", status="done", total=3, done=3, rows=3, filters={}
    )
    page = owner_page
    page.goto(f"/exports/{export.pk}/")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        button = page.locator("#export-progress").get_by_role("link", name="Download")
        manifest = page.locator("#export-progress").get_by_role("link", name="Manifest")
        gap = manifest.bounding_box()["x"] - (
            button.bounding_box()["x"] + button.bounding_box()["width"]
        )
        assert gap >= 10, (width, gap)
        shoot(page, "export-done", width)
