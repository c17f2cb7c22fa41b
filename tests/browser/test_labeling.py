"""The annotation workspace in a browser: labeling by keyboard, two annotators at once, a
reviewer settling a disagreement, hostile output, blind mode."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Task
from tests.browser.conftest import log_in
from tests.conftest import join, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/projects/\d+/tasks/(\d+)/$")
HOSTILE = (
    "# Answer\n\n"
    "<script>window.__pwned=1</script>\n\n"
    '<img src=x onerror="window.__pwned=2">\n\n'
    "[click](javascript:window.__pwned=3)\n\n"
    '<a href="javascript:window.__pwned=4">x</a>\n\n'
    "```python\ndef add(a, b):\n    return a + b\n```\n"
)


@pytest.fixture
def project(owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=5)
    join(project, annotator)
    return project


@pytest.fixture
def second_page(browser, live_server):
    """Another person's browser: a context of its own, so its own session cookie."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _open_queue(page, project, username: str, password: str) -> int:
    """Log in on the way to the project's next item; the id of the task shown."""
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, username, password)
    expect(page).to_have_url(TASK_URL)
    return _task_id(page)


def _task_id(page) -> int:
    """The number of the task shown (pages name tasks by Task.number)."""
    return int(TASK_URL.search(page.url).group(1))


def _press_and_wait(page, key: str) -> None:
    """Press a key that leaves the page (submit, skip, follow a link) and wait for the next."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _choice(page, key: str, value: str):
    return page.locator(f"fieldset[data-question={key}] input[value='{value}']")


def _answer(page, quality: str, correct: str) -> None:
    """Number keys on the two required questions, checking the active one moves along."""
    active = page.locator("fieldset.question.active")
    expect(active).to_have_attribute("data-question", "quality")
    page.keyboard.press(quality)
    expect(_choice(page, "quality", quality)).to_be_checked()
    expect(active).to_have_attribute("data-question", "correct")
    page.keyboard.press(correct)
    expect(_choice(page, "correct", "pass" if correct == "1" else "fail")).to_be_checked()


def _label(page, quality: str, correct: str) -> int:
    """Answer the item shown and submit with Enter; the id of the item labeled."""
    task_id = _task_id(page)
    _answer(page, quality, correct)
    _press_and_wait(page, "Enter")
    return task_id


def _assert_answers(annotation: Annotation, quality: int, correct: str) -> None:
    answers = {k: v for k, v in annotation.answers.items() if k != "correction"}
    assert answers == {"quality": quality, "correct": correct}


def test_an_annotator_labels_with_the_keyboard_only(page, project, annotator, shoot):
    first = _open_queue(page, project, "annie", "pw-annie-123")
    expect(page.locator("#label-form kbd").first).to_be_visible()
    page.keyboard.press("4")
    shoot(page, "labeling")
    page.keyboard.press("1")
    _press_and_wait(page, "Enter")
    labeled = [first, _label(page, "2", "2"), _label(page, "5", "1")]
    assert len(set(labeled)) == 3

    mine = Annotation.objects.filter(annotator=annotator).select_related("task__generation")
    submitted = {a.task.number: a for a in mine.filter(state=AnnotationState.SUBMITTED)}
    assert sorted(submitted) == sorted(labeled)
    expected = [(4, "pass"), (2, "fail"), (5, "pass")]
    for task_id, (quality, correct) in zip(labeled, expected, strict=True):
        _assert_answers(submitted[task_id], quality, correct)
        assert 0 < submitted[task_id].time_spent_s < 30

    # ? lists the shortcuts; Esc closes the list.
    held = _task_id(page)
    dialog = page.locator("dialog#shortcuts")
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Skip this item")
    shoot(page, "labeling-shortcuts")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # R shows the raw text, and R again the rendered Markdown.
    raw, rendered = page.locator("[data-raw]"), page.locator("[data-rendered]")
    page.keyboard.press("r")
    expect(raw).to_be_visible()
    expect(rendered).to_be_hidden()
    page.keyboard.press("r")
    expect(rendered).to_be_visible()
    expect(raw).to_be_hidden()

    # ← goes back to the last item labeled, its answers checked, ready to edit.
    _press_and_wait(page, "ArrowLeft")
    assert _task_id(page) == labeled[-1]
    expect(_choice(page, "quality", "5")).to_be_checked()
    expect(_choice(page, "correct", "pass")).to_be_checked()
    expect(page.get_by_text("labeled: edit and submit to change")).to_be_visible()

    # → comes back to the item held, and S passes on it.
    _press_and_wait(page, "ArrowRight")
    assert _task_id(page) == held
    _press_and_wait(page, "s")
    assert _task_id(page) not in [*labeled, held]
    assert mine.get(task__number=held).state == AnnotationState.SKIPPED
    assert mine.filter(state=AnnotationState.SUBMITTED).count() == 3


def test_an_untouched_correction_box_is_not_a_correction(page, project, annotator):
    _open_queue(page, project, "annie", "pw-annie-123")
    task_id = _label(page, "4", "1")

    label = Annotation.objects.select_related("task__generation").get(task__number=task_id)
    assert label.answers.get("correction") in (None, label.task.generation.output)


def test_two_annotators_at_once_get_different_items(
    page, second_page, owner, mlx_config, annotator, annotator2
):
    project = make_project(owner, mlx_config, n=4)
    join(project, annotator)
    join(project, annotator2)
    annie, bert = page, second_page
    for browser_page, username, password in [
        (annie, "annie", "pw-annie-123"),
        (bert, "bert", "pw-bert-123"),
    ]:
        browser_page.goto(f"/projects/{project.pk}/")
        log_in(browser_page, username, password)

    # Both ask for their next item at the same moment.
    for browser_page in (annie, bert):
        browser_page.evaluate(
            "url => { window.location.href = url }", f"/projects/{project.pk}/next/"
        )
    for browser_page in (annie, bert):
        expect(browser_page).to_have_url(TASK_URL)
    assert _task_id(annie) != _task_id(bert)

    # They label in turns, each on their own items, until nothing is left.
    done = {"annie": [], "bert": []}
    for _ in range(2):
        done["annie"].append(_label(annie, "4", "1"))
        done["bert"].append(_label(bert, "2", "2"))
    for browser_page in (annie, bert):
        expect(browser_page.get_by_role("heading", name="Nothing left for you")).to_be_visible()

    assert not set(done["annie"]) & set(done["bert"])
    tasks = Task.objects.filter(project=project)
    assert sorted(tasks.values_list("submitted", flat=True)) == [1, 1, 1, 1]
    for username, task_ids in done.items():
        labels = Annotation.objects.filter(annotator__username=username)
        assert sorted(labels.values_list("task__number", flat=True)) == sorted(task_ids)
        assert set(labels.values_list("state", flat=True)) == {AnnotationState.SUBMITTED}


@pytest.fixture
def disputed(owner, mlx_config, annotator, annotator2, reviewer) -> Task:
    """An item two annotators labeled differently, in a project with a reviewer."""
    project = make_project(owner, mlx_config, n=3, overlap=2)
    join(project, annotator)
    join(project, annotator2)
    join(project, reviewer, "reviewer")
    for user, answers in [
        (annotator, {"quality": 5, "correct": "pass"}),
        (annotator2, {"quality": 1, "correct": "fail"}),
    ]:
        annotation_queue.submit(annotation_queue.next_task(project, user), answers, 20.0)
    return Task.objects.get(project=project, submitted=2)


def _open_review(page, task: Task):
    """The reviewer's way to the item: the list of disagreements, then the item; its labels."""
    page.goto(f"/projects/{task.project_id}/review/?show=disagreements")
    log_in(page, "rita", "pw-rita-123")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name=str(task.number), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/projects/{task.project_id}/review/{task.number}/$"))
    labels = page.locator(".labels-grid > .card")
    expect(labels).to_have_count(2)
    return labels


def _given(labels, username: str, question: str):
    """What one annotator answered to one question, on the review page."""
    card = labels.filter(has=labels.page.get_by_text(username, exact=True))
    return card.locator("dt", has_text=question).locator("+ dd")


def test_a_reviewer_settles_a_disagreement(page, disputed, reviewer, shoot):
    labels = _open_review(page, disputed)
    shoot(page, "review")
    expect(_given(labels, "annie", "Quality")).to_have_text("5")
    expect(_given(labels, "bert", "Quality")).to_have_text("1")

    page.keyboard.press("3")
    page.keyboard.press("2")
    expect(_choice(page, "quality", "3")).to_be_checked()
    expect(_choice(page, "correct", "fail")).to_be_checked()
    _press_and_wait(page, "Enter")
    expect(page.get_by_text("Final label saved.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/review/\?show=disagreements$"))

    disputed.refresh_from_db()
    assert disputed.final["quality"] == 3 and disputed.final["correct"] == "fail"
    assert disputed.reviewed_by == reviewer
    assert disputed.reviewed_at is not None
    expect(page.locator("table tbody tr")).to_contain_text("set")


def test_the_reviewer_sees_each_choice_as_it_was_given(page, disputed):
    labels = _open_review(page, disputed)
    expect(_given(labels, "annie", "Correct?")).to_have_text("pass", timeout=1_000)
    expect(_given(labels, "bert", "Correct?")).to_have_text("fail", timeout=1_000)


def test_hostile_output_is_inert_on_the_labeling_page(page, owner, mlx_config, annotator, shoot):
    project = make_project(owner, mlx_config, n=1, outputs=[HOSTILE])
    join(project, annotator)
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    _open_queue(page, project, "annie", "pw-annie-123")
    page.wait_for_load_state("networkidle")

    rendered = page.locator("[data-rendered]")
    expect(rendered.get_by_role("heading", name="Answer")).to_be_visible()
    expect(rendered).to_contain_text("<script>window.__pwned=1</script>")
    assert rendered.locator("script, img, a").count() == 0
    assert rendered.locator("pre span").count() > 0  # the code block is highlighted
    shoot(page, "labeling-hostile")

    page.keyboard.press("r")
    expect(page.locator("[data-raw]")).to_have_text(HOSTILE)
    page.keyboard.press("r")
    expect(rendered).to_be_visible()

    # Click the word itself: the markdown link is left as text, and so goes nowhere.
    link_text = rendered.get_by_text("[click](javascript:window.__pwned=3)")
    box = link_text.evaluate(
        """p => {
            const range = document.createRange();
            const start = p.textContent.indexOf("click");
            range.setStart(p.firstChild, start);
            range.setEnd(p.firstChild, start + "click".length);
            const r = range.getBoundingClientRect();
            return {x: r.x + r.width / 2, y: r.y + r.height / 2};
        }"""
    )
    page.mouse.click(box["x"], box["y"])
    page.wait_for_timeout(300)

    assert TASK_URL.search(page.url)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert [u for u in requests if urlsplit(u).path.endswith("/x")] == []
    assert page.locator("a[href^='javascript:' i], img[src='x']").count() == 0


def test_blind_mode_keeps_the_model_out_of_the_labeling_page(page, owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=1)
    join(project, annotator)
    assert project.blind
    _open_queue(page, project, "annie", "pw-annie-123")

    html = page.content()
    assert mlx_config.name not in html
    assert mlx_config.model not in html
    assert "/runs/" not in html

    # The same page, not blind, names the model: the checks above can see a leak.
    project.blind = False
    project.save(update_fields=("blind",))
    page.reload()
    assert mlx_config.model in page.content()
