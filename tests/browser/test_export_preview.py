"""The export page counts what the chosen export would include as the form changes (htmx), warns
of failed and unlabeled outputs in an SFT export, and the finished export says what it wrote;
shot at 1024, 1280 and 1920 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.exports.models import Export
from tests.exports.test_export_included import labeled_four
from tests.support.screens import WIDTHS, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_form_counts_and_warns_before_an_sft_export(
    owner_page, owner, mlx_config, annotator, annotator2, shoot
):
    page = owner_page
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    project = labeled_four(owner, mlx_config, annotator, annotator2)
    page.goto("/exports/", wait_until="networkidle")
    preview = page.locator("#export-preview")
    page.get_by_label("Format").select_option("sft")
    page.get_by_label("Project").select_option(str(project.pk))
    expect(preview).to_contain_text("4 outputs would be written: 3 labeled (1 pass, 2 fail)")
    expect(preview.locator(".warning")).to_have_count(2)
    expect(preview).to_contain_text("2 outputs labeled “fail” would be written")
    expect(preview).to_contain_text("1 output nobody labeled")
    for width in WIDTHS:
        shoot(page, "export-preview-sft", width)
        assert wider_than_card(page) == []

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_label("Only outputs that pass").check()
    expect(preview).to_contain_text("1 output would be written: 1 labeled (1 pass, 0 fail)")
    expect(preview.locator(".warning")).to_have_count(0)
    page.get_by_role("button", name="Export", exact=True).click()
    page.wait_for_url("**/exports/*/")
    expect(page.locator("#export-progress")).to_contain_text(
        "1 labeled (1 pass, 0 fail) and 0 unlabeled"
    )
    assert Export.objects.get().rows == 1
    for width in WIDTHS:
        shoot(page, "export-done-sft", width)
    assert problems == []
