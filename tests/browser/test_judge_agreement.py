"""The judge page's agreement section in Chromium at 1024, 1280 and 1920 px: its tables fit their
card, the sample and the sentence show, and the owner uses the labels by keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from annotate.comparisons.pairs import compare_questions
from annotate.judges.models import Judge, JudgeLabel, JudgeRun
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind
from annotate.labeling.sample import draw_sample
from tests.conftest import join, make_project
from tests.support.screens import WIDTHS, wider_than_card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_agreement_section_fits_and_the_owner_uses_the_labels_by_keyboard(
    owner_page, owner, mlx_config, annotator, annotator2, shoot
):
    project = make_project(owner, mlx_config, n=16, overlap=2, blind=False)
    project.human_sample_per_run = 12
    project.save()
    draw_sample(project)
    judge = Judge.objects.create(
        project=project, model_config=mlx_config, name="strict", rubric="{output}", created_by=owner
    )
    judge_run = JudgeRun.objects.create(judge=judge, version=1, rubric=judge.rubric)
    join(project, annotator)
    join(project, annotator2)
    for i, task in enumerate(project.tasks.filter(in_sample=True).order_by("pk")):
        JudgeLabel.objects.create(
            judge_run=judge_run, task=task, answers={"quality": 1 + i % 5, "correct": "pass"}
        )
        for who, quality in ((annotator, 1 + i % 5), (annotator2, 1 + (i + i % 3) % 5)):
            Annotation.objects.create(
                task=task,
                annotator=who,
                state=AnnotationState.SUBMITTED,
                answers={"quality": quality, "correct": "pass" if i % 4 else "fail"},
            )
    page = owner_page
    page.goto(f"/judges/{judge.pk}/")
    section = page.get_by_test_id("judge-agreement")
    expect(section).to_contain_text("The judge agrees with annotators")
    expect(page.get_by_test_id("judge-sample")).to_contain_text("12 of 12 sampled items")
    expect(page.get_by_test_id("judge-disagreements").locator("li a").first).to_be_visible()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert wider_than_card(page, "[data-testid=judge-agreement] table") == []
        shoot(page, "judge-agreement", width)
    page.get_by_role("button", name="Use these labels").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("judge-accept")).to_contain_text("are in use since")
    judge_run.refresh_from_db()
    assert judge_run.accepted_by == owner


def test_a_comparisons_two_leaderboards_fit_side_by_side(owner_page, owner, annotator, shoot):
    from tests.judges.test_agreement import _runs

    runs = _runs(owner, "unused-model-path", ("small-local-model", "large-hosted-model", "mid"), 8)
    project = Project.objects.create(name="Arena", kind=ProjectKind.COMPARE, owner=owner)
    project.questions = compare_questions(project)
    project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    judge = Judge.objects.create(
        project=project,
        model_config=runs[0].model_config,
        name="pairwise",
        rubric="{output_a}",
        created_by=owner,
    )
    judge_run = JudgeRun.objects.create(judge=judge, version=1, rubric=judge.rubric)
    for i, task in enumerate(project.tasks.order_by("pk")):
        verdict = ("left", "right", "tie")[i % 3]
        Annotation.objects.create(
            task=task,
            annotator=annotator,
            state=AnnotationState.SUBMITTED,
            answers={"verdict": verdict},
        )
        JudgeLabel.objects.create(
            judge_run=judge_run,
            task=task,
            answers={"verdict": ("left", "right")[i % 2]},
            consistent=i % 5 != 0,
        )
    page = owner_page
    page.goto(f"/judges/{judge.pk}/")
    expect(page.get_by_test_id("judge-agreement")).to_contain_text("Position consistency")
    expect(page.get_by_test_id("board-judge").locator("tbody tr")).to_have_count(3)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert wider_than_card(page, "[data-testid=judge-agreement] table") == []
        shoot(page, "judge-agreement-compare", width)
