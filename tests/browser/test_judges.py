"""Judges in Chromium at 1024, 1280 and 1920 px: an owner attaches a judge by keyboard from the
project page, starts it, and reads its page (runs, labels, consistency, agreement with people);
the pages are screenshotted and fit their cards."""

from __future__ import annotations

import json
import re
from unittest import mock

import pytest
from playwright.sync_api import expect

from annotate.judges.models import Judge, JudgeRun
from annotate.labeling import annotation_queue
from tests.browser.conftest import log_in
from tests.comparisons.conftest import compare_project  # noqa: F401  (a fixture)
from tests.conftest import join, make_project
from tests.judges.conftest import answer, start
from tests.support.screens import WIDTHS, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# The judge page's own tables and form (the agreement section is checked by its own tests).
MINE = "[data-testid=judge-runs], [data-testid=judge-labels], #settings textarea, #settings select"


def test_an_owner_attaches_and_starts_a_judge_by_keyboard(owner_page, owner, mlx_config, shoot):
    project = make_project(owner, mlx_config, n=4)
    page = owner_page
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Attach a judge").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/projects/{project.pk}/judges/new/")
    assert "{output}" in page.get_by_label("Rubric").input_value()  # the default, to edit
    page.get_by_label("Model configuration").focus()
    page.keyboard.press("ArrowDown")
    assert page.get_by_label("Model configuration").input_value() == str(mlx_config.pk)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert wider_than_card(page, ".card textarea, .card select, .card input") == []
        shoot(page, "judge-new", width)
    page.get_by_role("button", name="Attach judge").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/judges/\d+/$"))
    judge = Judge.objects.get(project=project)
    assert page.url.endswith(f"/judges/{judge.pk}/")
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        page.get_by_role("button", name="Start judging").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("judge-runs")).to_contain_text("Queued")
    judge_run = JudgeRun.objects.get(judge=judge)
    page.get_by_role("link", name="Progress, cost, retry").click()
    page.wait_for_url(f"**/runs/{judge_run.run_id}/")
    expect(page.get_by_test_id("judge-run-note")).to_be_visible()


def test_the_judge_page_shows_labels_and_agreement_at_every_width(
    page, owner, mlx_config, annotator, shoot, django_capture_on_commit_callbacks
):
    project = make_project(owner, mlx_config, n=12, blind=False)
    join(project, annotator)
    for i in range(12):
        held = annotation_queue.next_task(project, annotator)
        annotation_queue.submit(held, {"quality": 1 + i % 5, "correct": "pass"}, 1.0)
    judge, judge_run = start(owner, project, mlx_config)
    quality = iter(range(12))

    def script(gen) -> str:
        i = next(quality)
        why = "A long reasoning about the answer, <b>its</b> strengths and faults. " * 3
        return json.dumps({"reasoning": why, "quality": 1 + (i + i // 6) % 5, "correct": "pass"})

    answer(judge_run, script, django_capture_on_commit_callbacks)
    page.goto("/accounts/login/")
    log_in(page, "owner", "pw-owner-123")
    page.goto(f"/judges/{judge.pk}/")
    expect(page.get_by_test_id("judge-labels").locator("tbody tr")).to_have_count(12)
    expect(page.get_by_test_id("judge-agreement")).to_be_visible()
    assert "<b>its</b>" not in page.get_by_test_id("judge-labels").inner_html()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        shoot(page, "judge", width)
        assert wider_than_card(page, MINE) == []
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_test_id("project-judges")).to_contain_text("demo")
    shoot(page, "judge-project-section", 1280)


def test_a_comparison_judge_page_shows_its_position_consistency(
    page,
    owner,
    compare_project,  # noqa: F811  (the comparisons' fixture)
    shoot,
    django_capture_on_commit_callbacks,
):
    config = compare_project.runs.first().model_config
    judge, judge_run = start(owner, compare_project, config)
    answer(
        judge_run,
        lambda g: json.dumps({"reasoning": "First.", "verdict": "a"}),
        django_capture_on_commit_callbacks,
    )
    page.goto("/accounts/login/")
    log_in(page, "owner", "pw-owner-123")
    page.goto(f"/judges/{judge.pk}/")
    expect(page.get_by_test_id("consistency")).to_contain_text("0% of 6 pairs")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        shoot(page, "judge-compare", width)
        assert wider_than_card(page, MINE) == []
