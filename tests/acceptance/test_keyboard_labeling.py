"""An annotator labels a queue by keyboard only, writing real sentences into the text boxes:
every letter and digit the page uses as a shortcut is typed into a box and must land there,
never skip or submit. The truth is the database: the stored answers, character for character,
and the state of every annotation.

Keys, as README's "Keyboard first" sentence and the page's ? list say: 1-9 answer the active
question (a rating or single choice then moves on to the next choice question), ↓/↑ move
between questions (a text question's box takes the focus), Esc leaves a box, Enter in a box
is a new line, Enter elsewhere and Ctrl+Enter anywhere submit, S skips, U undoes the skip."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from annotate.labeling.models import Annotation, AnnotationState
from tests.browser.conftest import log_in
from tests.conftest import join, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/projects/\d+/tasks/(\d+)/$")
SHORTCUTS = set("sSrRdDuU?0123456789")

COMMENT_1 = (
    "Looks fine, but step 2 skips the edge case; raw output shows 3 issues? Yes — see line 45.\n"
    "Retried with 1, 6, 7, 8, 9 and 0: Same Result. Undo? Don't."
)
CORRECTION_1 = (
    "def answer_0():\n"
    "    # Reads 1 row, sums 2 and 3; see issue #4567 (drafts 8, 9, 0)?\n"
    "    return 0\n"
    "Undo: Stored as-is. Really? Done."
)
COMMENT_2 = "Refuses to answer; should have said 42 — reads as a draft? Sure, 1 3 5 7 9 0 6 8. UR D"
COMMENT_3 = "Started well; drifts at step 3.\nSure? Doubt it — see R2, D4, U5, 67890 and 1."
COMMENT_4 = (
    "Short and sweet: 10/10 at 2345 rows, 6789 cols; no issues? Really, none.\nDone. Sent. U."
)


def test_shortcut_characters_are_all_in_the_sentences():
    for text in (COMMENT_1, CORRECTION_1, COMMENT_2, COMMENT_3, COMMENT_4):
        assert set(text) >= SHORTCUTS, sorted(SHORTCUTS - set(text))


@pytest.fixture
def project(owner, mlx_config, annotator):
    project = make_project(owner, mlx_config, n=4)
    join(project, annotator)
    return project


def _number(page) -> int:
    return int(TASK_URL.search(page.url).group(1))


def _mine(annotator, number: int) -> Annotation:
    return Annotation.objects.get(annotator=annotator, task__number=number)


def _leave(page, key: str) -> None:
    """Press a key that loads another page, and wait for it."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _active(page):
    return page.locator("fieldset.question.active")


def _box(page, key: str):
    return page.locator(f"fieldset[data-question={key}] textarea")


def _checked(page, key: str, value: str):
    return page.locator(f"fieldset[data-question={key}] input[value='{value}']")


def _type_into(page, annotator, key: str, text: str, *, replace: bool = False) -> None:
    """Type into the focused box of question `key`; nothing is skipped or submitted."""
    number, url = _number(page), page.url
    box = _box(page, key)
    expect(box).to_be_focused()
    if replace:
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.press("Delete")
    page.keyboard.type(text)
    expect(box).to_have_value(text if replace else re.compile(re.escape(text) + "$"))
    # Typed letters did nothing else: still here, still held, raw text and ? list untouched.
    assert page.url == url
    mine = _mine(annotator, number)
    assert (mine.state, mine.answers) == (AnnotationState.HELD, {})
    expect(page.locator("[data-rendered]")).to_be_visible()
    expect(page.locator("dialog#shortcuts")).to_be_hidden()


def _escape(page, key: str) -> None:
    """Esc leaves the box, keeping its text, and the arrows move between questions again."""
    box = _box(page, key)
    value = box.input_value()
    page.keyboard.press("Escape")
    expect(box).not_to_be_focused()
    expect(box).to_have_value(value)
    expect(_active(page)).to_have_attribute("data-question", key)


def test_an_annotator_labels_a_queue_by_keyboard_with_sentences_in_the_boxes(
    page, project, annotator, shoot
):
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, "annie", "pw-annie-123")
    expect(page).to_have_url(TASK_URL)

    # The ? list says what each key does, U and Ctrl+Enter included.
    page.keyboard.press("?")
    shortcuts = page.locator("dialog#shortcuts")
    shoot(page, "keyboard-shortcuts")
    for words in ("Undo the skip", "Ctrl", "new line", "next choice question", "focus"):
        expect(shortcuts).to_contain_text(words)
    page.keyboard.press("Escape")
    expect(shortcuts).to_be_hidden()

    # Item 1: number keys; a rating moves on to the next choice question; ↓ into the comment,
    # Enter there is a new line; Esc; ↓ into the correction; Ctrl+Enter inside it submits.
    first = _number(page)
    expect(_active(page)).to_have_attribute("data-question", "quality")
    page.keyboard.press("4")
    expect(_checked(page, "quality", "4")).to_be_checked()
    expect(_active(page)).to_have_attribute("data-question", "correct")
    page.keyboard.press("1")
    expect(_active(page)).to_have_attribute("data-question", "issues")
    page.keyboard.press("1")  # a multi-choice option toggles and stays
    expect(_checked(page, "issues", "hallucination")).to_be_checked()
    expect(_active(page)).to_have_attribute("data-question", "issues")
    page.keyboard.press("ArrowDown")
    _type_into(page, annotator, "comment", COMMENT_1)
    _escape(page, "comment")
    page.keyboard.press("ArrowDown")
    _type_into(page, annotator, "correction", CORRECTION_1, replace=True)
    _leave(page, "Control+Enter")

    # Item 2: ↓↓ reach the comment from the last choice; Esc, then Enter outside a box submits.
    second = _number(page)
    assert second != first
    page.keyboard.press("5")
    page.keyboard.press("2")
    page.keyboard.press("ArrowDown")  # issues → comment
    _type_into(page, annotator, "comment", COMMENT_2)
    _escape(page, "comment")
    _leave(page, "Enter")

    # Item 3: ↑ goes back to change the rating; the comment; Esc; S skips, answers unsaved.
    third = _number(page)
    page.keyboard.press("3")
    expect(_active(page)).to_have_attribute("data-question", "correct")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("2")
    expect(_checked(page, "quality", "2")).to_be_checked()
    page.keyboard.press("1")
    page.keyboard.press("ArrowDown")
    _type_into(page, annotator, "comment", COMMENT_3)
    _escape(page, "comment")
    _leave(page, "s")
    assert _mine(annotator, third).state == AnnotationState.SKIPPED

    # Item 4 comes, with an offer to undo; U brings item 3 back, its answers as they were.
    fourth = _number(page)
    assert fourth not in (first, second, third)
    expect(page.get_by_role("button", name=re.compile("Undo skip"))).to_be_visible()
    shoot(page, "keyboard-undo-skip")
    _leave(page, "u")
    assert _number(page) == third
    assert _mine(annotator, third).state == AnnotationState.HELD
    expect(_checked(page, "quality", "2")).to_be_checked()
    expect(_checked(page, "correct", "pass")).to_be_checked()
    expect(_box(page, "comment")).to_have_value(COMMENT_3)
    _leave(page, "Control+Enter")  # from outside any box

    # Back to item 4, still held: its comment ends with Ctrl+Enter typed inside the box.
    assert _number(page) == fourth
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.keyboard.press("ArrowDown")
    _type_into(page, annotator, "comment", COMMENT_4)
    _leave(page, "Control+Enter")
    expect(page.get_by_role("heading", name="Nothing left for you")).to_be_visible()

    # The database has each answer as typed (line ends as LF), and no item skipped.
    mine = Annotation.objects.filter(annotator=annotator)
    assert set(mine.values_list("state", flat=True)) == {AnnotationState.SUBMITTED}
    assert {a.task.number: a.answers for a in mine.select_related("task")} == {
        first: {
            "quality": 4,
            "correct": "pass",
            "issues": ["hallucination"],
            "comment": COMMENT_1,
            "correction": CORRECTION_1,
        },
        second: {"quality": 5, "correct": "fail", "comment": COMMENT_2},
        third: {"quality": 2, "correct": "pass", "comment": COMMENT_3},
        fourth: {"quality": 1, "correct": "fail", "comment": COMMENT_4},
    }
