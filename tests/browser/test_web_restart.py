"""The web server killed and started again while two annotators label: the page says the
server could not be reached and keeps the answers, the retry after the restart stores them
once, and nobody has to sign in again (sessions live in the database)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from annotate.labeling.models import Annotation, AnnotationState, Task
from tests.browser.conftest import log_in
from tests.conftest import join, make_project, worker_env
from tests.support.web_server import WebServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TASK_URL = re.compile(r"/projects/\d+/tasks/(\d+)/$")
UNREACHABLE = "Could not reach the server"


@pytest.fixture
def web_server(transactional_db, tmp_path):
    """gunicorn on the test database; killed, whatever happens, before the database is reset."""
    server = WebServer(worker_env(), tmp_path / "web.log")
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture
def open_page(browser, web_server):
    """A factory of pages, each in a browser context of its own (its own cookies)."""
    contexts = []

    def open_page():
        context = browser.new_context(
            base_url=web_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@dataclass
class Annotator:
    """One person at their browser, and the labels the page acknowledged by moving on."""

    page: Page
    username: str
    acknowledged: dict[int, tuple[int, str]] = field(default_factory=dict)
    # Every request and every POST's status, for the checks after the restart.
    requests: list[str] = field(default_factory=list)
    posts: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on(
            "response",
            lambda r: r.request.method == "POST" and self.posts.append((r.url, r.status)),
        )

    @property
    def task_id(self) -> int:
        return int(TASK_URL.search(self.page.url).group(1))

    @property
    def done(self) -> bool:
        return self.page.get_by_role("heading", name="Nothing left for you").is_visible()

    def answer(self, quality: int, correct: str) -> None:
        """Number keys on the two required questions, as an annotator does."""
        page = self.page
        page.keyboard.press(str(quality))
        expect(_choice(page, "quality", str(quality))).to_be_checked()
        page.keyboard.press("1" if correct == "pass" else "2")
        expect(_choice(page, "correct", correct)).to_be_checked()

    def submit(self) -> None:
        """Enter, and wait for the page to move on: the label is acknowledged."""
        task_id, answers = self.task_id, self.checked()
        with self.page.expect_navigation():
            self.page.keyboard.press("Enter")
        self.acknowledged[task_id] = answers

    def label_one(self) -> None:
        quality, correct = 1 + self.task_id % 5, "pass" if self.task_id % 2 else "fail"
        self.answer(quality, correct)
        self.submit()

    def checked(self) -> tuple[int, str]:
        values = [
            self.page.locator(f"fieldset[data-question={key}] input:checked").get_attribute("value")
            for key in ("quality", "correct")
        ]
        return int(values[0]), values[1]

    def session_key(self) -> str:
        cookies = self.page.context.cookies()
        return next(c["value"] for c in cookies if c["name"] == "sessionid")


def _choice(page, key: str, value: str):
    return page.locator(f"fieldset[data-question={key}] input[value='{value}']")


def _sign_in(page, project, username: str) -> None:
    page.goto(f"/projects/{project.pk}/next/")
    log_in(page, username, f"pw-{username}-123")
    expect(page).to_have_url(TASK_URL)


def test_no_label_is_lost_when_the_web_server_restarts(
    web_server, open_page, owner, mlx_config, annotator, annotator2
):
    project = make_project(owner, mlx_config, n=8, overlap=1)
    join(project, annotator)
    join(project, annotator2)
    annie, bert = Annotator(open_page(), "annie"), Annotator(open_page(), "bert")
    for person in (annie, bert):
        _sign_in(person.page, project, person.username)
    for _ in range(2):
        annie.label_one()
        bert.label_one()

    # Annie has answered her item, not yet sent it, when the server dies.
    crashed_on, typed = annie.task_id, (2, "fail")
    annie.answer(*typed)
    sessions = {person.username: person.session_key() for person in (annie, bert)}
    web_server.kill()
    assert not web_server.answers()

    # She presses Enter: the page says so, stays where it is, and keeps her answers.
    alert = annie.page.get_by_role("alert")
    for _ in range(2):
        with annie.page.expect_event("requestfailed") as failed:
            annie.page.keyboard.press("Enter")
        assert failed.value.method == "POST"
        expect(alert).to_contain_text(UNREACHABLE)
        expect(alert).to_contain_text("press Enter to try again")
        assert annie.task_id == crashed_on
        assert annie.checked() == typed
    sent = Annotation.objects.filter(task__number=crashed_on, state=AnnotationState.SUBMITTED)
    assert not sent.exists()

    # Same port, new processes; she sends again and goes on, signed in all along.
    seen_before = {person.username: len(person.requests) for person in (annie, bert)}
    posts_before = {person.username: len(person.posts) for person in (annie, bert)}
    web_server.start()
    annie.submit()
    assert annie.acknowledged[crashed_on] == typed
    while not (annie.done and bert.done):
        for person in (bert, annie):
            if not person.done:
                person.label_one()

    # 1. Every label the page acknowledged is stored, with the answers given.
    for person in (annie, bert):
        labels = Annotation.objects.filter(annotator__username=person.username)
        assert set(labels.values_list("state", flat=True)) == {AnnotationState.SUBMITTED}
        stored = {a.task.number: (a.answers["quality"], a.answers["correct"]) for a in labels}
        assert stored == person.acknowledged
    # 2. The one sent again after the restart is stored once, with what was typed before it.
    retried = Annotation.objects.get(task__number=crashed_on)
    assert (retried.annotator, retried.answers["quality"], retried.answers["correct"]) == (
        annotator,
        *typed,
    )
    # 3. No item has more labels than its overlap, and every item has its label.
    tasks = Task.objects.filter(project=project)
    assert sorted(tasks.values_list("submitted", "claimed")) == [(1, 1)] * 8
    assert Annotation.objects.filter(task__project=project).count() == 8
    # 4. Sessions and CSRF survived: nobody was sent to sign in, every POST was accepted.
    for person in (annie, bert):
        after = person.requests[seen_before[person.username] :]
        assert after and not [url for url in after if "/accounts/login/" in url]
        assert person.session_key() == sessions[person.username]
        assert Session.objects.filter(session_key=sessions[person.username]).exists()
        statuses = {status for _, status in person.posts[posts_before[person.username] :]}
        assert statuses == {200}, person.posts  # stored: htmx is told where to go next
    assert web_server.starts == 2


def test_a_submit_the_server_turns_down_keeps_the_answers(
    web_server, open_page, owner, mlx_config, annotator
):
    project = make_project(owner, mlx_config, n=2)
    join(project, annotator)
    annie = Annotator(open_page(), "annie")
    _sign_in(annie.page, project, "annie")
    page, held = annie.page, annie.task_id
    alert = page.get_by_role("alert")

    # A required answer missing: the server's reason, and the answer given still there.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(alert).to_have_text("Quality: an answer is required.")
    expect(_choice(page, "correct", "pass")).to_be_checked()

    # Signed out meanwhile (the session gone from the database): said so, answers kept.
    Session.objects.filter(session_key=annie.session_key()).delete()
    for _ in range(2):  # from the question after "correct" back to "quality"
        page.keyboard.press("ArrowUp")
    expect(page.locator("fieldset.question.active")).to_have_attribute("data-question", "quality")
    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(alert).to_contain_text("You are signed out")
    assert (annie.task_id, annie.checked()) == (held, (4, "pass"))

    # Signed in again in another tab (a new CSRF token), Enter sends them.
    tab = page.context.new_page()
    tab.goto("/accounts/login/")
    log_in(tab, "annie", "pw-annie-123")
    annie.submit()
    label = Annotation.objects.get(task__number=held)
    assert label.state == AnnotationState.SUBMITTED
    assert (label.answers["quality"], label.answers["correct"]) == (4, "pass")
