"""Issue 13, finding 4: blind mode must not tell an annotator which model wrote an output, in
the page or the API: no model or configuration name, no system prompt unless every
candidate run shares it, no task database id (tasks are made item by item, run after run,
so an id's parity named the run), and no queue order that follows the runs."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from annotate.comparisons.pairs import compare_questions
from annotate.labeling import annotation_queue
from annotate.labeling.kinds import sync_tasks
from annotate.labeling.models import Project, ProjectKind, Task
from annotate.labeling.questions import DEFAULT_QUESTIONS
from inference.actions import create_run
from inference.models import GenerationStatus, ModelConfig
from tests.conftest import join, make_dataset

pytestmark = pytest.mark.django_db

ALPHA_PROMPT = "You are Alpha; sign every answer ALPHA-SIGNATURE."
BETA_PROMPT = "You are Beta; never mention BETA-SIGNATURE."
NAMES = ("alpha-config", "beta-config", "org/alpha-weights", "org/beta-weights")
LABEL = {"quality": "4", "correct": "pass"}
# The statements of an item's page (with the test's own SAVEPOINTs).
QUERIES = 11
TASK_URL = re.compile(r"/projects/\d+/tasks/(\d+)/")


def _project(owner, prompts, kind=ProjectKind.LABEL, blind=True, n=4) -> Project:
    """A project over two runs of the same items by two configurations (alpha, beta) with
    the given system prompts."""
    dataset = make_dataset(owner, n)
    runs = []
    for name, prompt in zip(("alpha", "beta"), prompts, strict=True):
        config = ModelConfig.objects.create(
            name=f"{name}-config",
            backend="mlx",
            model=f"org/{name}-weights",
            system_prompt=prompt,
            owner=owner,
        )
        with mock.patch("inference.doorbell.enqueue_run", autospec=True):
            run = create_run(owner, dataset.pk, config.pk)
        run.generations.update(status=GenerationStatus.DONE, output="an answer")
        runs.append(run)
    project = Project.objects.create(
        name="Blind", kind=kind, blind=blind, owner=owner, questions=DEFAULT_QUESTIONS
    )
    if kind == ProjectKind.COMPARE:
        project.questions = compare_questions(project)
        project.save()
    project.runs.add(*runs)
    sync_tasks(project)
    return project


def _assert_no_model(text: str) -> None:
    for secret in (ALPHA_PROMPT, BETA_PROMPT, "ALPHA-SIGNATURE", "BETA-SIGNATURE", *NAMES):
        assert secret not in text, secret


def _page_task(client, project) -> tuple[str, Task]:
    """The annotator's next item through the pages: its HTML and its task."""
    response = client.get(f"/projects/{project.pk}/next/")
    assert response.status_code == 302
    number = int(TASK_URL.search(response["Location"]).group(1))
    task = Task.objects.get(project=project, number=number)
    html = client.get(response["Location"]).content.decode()
    return html, task


def _assert_no_task_ids(project, text: str) -> None:
    """Every task shown is named by its number: no URL or "item N" carries a database id."""
    tasks = dict(Task.objects.filter(project=project).values_list("number", "pk"))
    shown = {int(n) for n in TASK_URL.findall(text)}
    shown |= {int(n) for n in re.findall(r"item (\d+)", text)}
    assert shown and shown <= set(tasks), shown  # numbers of this project's tasks only
    assert not shown & set(tasks.values())  # ids and numbers never overlap (see below)


def test_a_blind_label_page_shows_no_model_prompt_or_task_id(client, owner, annotator):
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT))
    join(project, annotator)
    client.force_login(annotator)
    pks = set(Task.objects.filter(project=project).values_list("pk", flat=True))
    assert min(Task.objects.values_list("number", flat=True)) > max(pks)  # told apart exactly
    for _ in range(project.tasks.count()):
        html, task = _page_task(client, project)
        assert "an answer" in html and "Write a function number" in html
        _assert_no_model(html)
        _assert_no_task_ids(project, html)
        assert f"item {task.number}" in html and f"/tasks/{task.pk}/" not in html
        response = client.post(f"/projects/{project.pk}/tasks/{task.number}/", LABEL)
        assert response.status_code == 302
    # The database id does not open a task: the URL names tasks by number only.
    assert client.get(f"/projects/{project.pk}/tasks/{task.pk}/").status_code == 404


def test_the_blind_api_gives_an_annotator_no_model_prompt_or_task_id(client, owner, annotator):
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT))
    join(project, annotator)
    client.force_login(annotator)
    url = f"/api/projects/{project.pk}"
    numbers = dict(Task.objects.filter(project=project).values_list("number", "pk"))
    while (response := client.post(f"{url}/next")).status_code == 200:
        held = response.json()
        _assert_no_model(response.content.decode())
        assert held["models"] is None
        assert held["messages"] == [{"role": "user", "content": held["messages"][0]["content"]}]
        assert held["task_id"] in numbers and held["task_id"] not in numbers.values()
        labeled = client.post(
            f"{url}/tasks/{held['task_id']}/label",
            {"answers": {"quality": 4, "correct": "pass"}},
            content_type="application/json",
        )
        assert labeled.status_code == 200 and labeled.json()["task_id"] == held["task_id"]
    assert response.status_code == 204
    labels = client.get(f"{url}/labels").json()
    assert sorted(label["task_id"] for label in labels) == sorted(numbers)


def test_a_system_prompt_all_runs_share_is_shown(client, owner, annotator):
    shared = "Answer in one short paragraph, SHARED-PROMPT."
    project = _project(owner, (shared, shared))
    join(project, annotator)
    client.force_login(annotator)
    html, _ = _page_task(client, project)
    assert shared in html
    held = client.post(f"/api/projects/{project.pk}/next").json()
    assert held["messages"][0] == {"role": "system", "content": shared}


def test_a_run_taken_off_the_project_still_counts_as_a_candidate(client, owner, annotator):
    """Its tasks stay in the queue, so its system prompt still differs from the others'."""
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT))
    project.runs.remove(project.runs.get(model_config__name="beta-config"))
    join(project, annotator)
    client.force_login(annotator)
    for _ in range(project.tasks.count()):
        html, task = _page_task(client, project)
        _assert_no_model(html)
        client.post(f"/projects/{project.pk}/tasks/{task.number}/", LABEL)


def test_a_blind_comparison_shows_neither_sides_prompt_nor_model(client, owner, annotator):
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT), kind=ProjectKind.COMPARE)
    join(project, annotator)
    client.force_login(annotator)
    held = client.post(f"/api/projects/{project.pk}/next")
    _assert_no_model(held.content.decode())
    assert held.json()["models"] is None and len(held.json()["outputs"]) == 2
    assert held.json()["messages"][0]["role"] == "user"
    numbers = dict(Task.objects.filter(project=project).values_list("number", "pk"))
    assert held.json()["task_id"] in numbers
    for _ in range(project.tasks.count()):
        html, task = _page_task(client, project)
        assert "Which answer is better?" in html and "Write a function number" in html
        _assert_no_model(html)
        _assert_no_task_ids(project, html)
        response = client.post(f"/projects/{project.pk}/tasks/{task.number}/", {"verdict": "tie"})
        assert response.status_code == 302


def test_a_project_that_is_not_blind_still_names_the_model(client, owner, annotator):
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT), blind=False)
    join(project, annotator)
    client.force_login(annotator)
    html, task = _page_task(client, project)
    config = task.generation.run.model_config
    assert config.model in html and config.system_prompt in html


def test_a_blind_queue_does_not_hand_out_the_runs_in_turn(owner, annotator):
    """Made item by item, run after run, the tasks alternate alpha, beta: handed out in that
    order, the first of an item's two outputs would always be alpha's."""
    project = _project(owner, (ALPHA_PROMPT, BETA_PROMPT), n=100)
    first_by_item: dict[int, str] = {}
    while (held := annotation_queue.next_task(project, annotator)) is not None:
        generation = held.task.generation
        first_by_item.setdefault(generation.item_id, generation.run.model_config.name)
        annotation_queue.submit(held, {"quality": 3, "correct": "pass"}, 1.0)
    alpha_first = sum(name == "alpha-config" for name in first_by_item.values())
    assert len(first_by_item) == 100
    assert 20 <= alpha_first <= 80  # binomial(100, 1/2): outside this about once in 10^9


def test_the_blind_page_reads_the_shared_prompt_without_going_through_the_runs(
    client, owner, annotator, django_assert_max_num_queries
):
    """The prompt is stored on the project: an item shown reads no run (it was one query
    more an item, through every run of the project)."""
    shared = "Answer in one short paragraph, SHARED-PROMPT."
    project = _project(owner, (shared, shared))
    join(project, annotator)
    client.force_login(annotator)
    _page_task(client, project)  # the first item shown stores it
    client.post(f"/projects/{project.pk}/tasks/{_page_task(client, project)[1].number}/", LABEL)
    url = client.get(f"/projects/{project.pk}/next/")["Location"]
    with django_assert_max_num_queries(QUERIES) as captured:
        html = client.get(url).content.decode()
    assert shared in html
    assert not [q for q in captured.captured_queries if '"params"' in q["sql"]]


def test_a_run_with_another_prompt_added_later_hides_the_shared_one(client, owner, annotator):
    shared = "Answer in one short paragraph, SHARED-PROMPT."
    project = _project(owner, (shared, shared))
    join(project, annotator)
    client.force_login(annotator)
    assert shared in _page_task(client, project)[0]  # stored now
    gamma = ModelConfig.objects.create(
        name="gamma-config",
        backend="mlx",
        model="org/gamma",
        system_prompt=ALPHA_PROMPT,
        owner=owner,
    )
    with mock.patch("inference.doorbell.enqueue_run", autospec=True):
        run = create_run(owner, project.runs.first().dataset_id, gamma.pk)
    run.generations.update(status=GenerationStatus.DONE, output="an answer")
    run.projects.add(project)  # from the run's side
    sync_tasks(project)
    for _ in range(2):
        html, task = _page_task(client, project)
        assert shared not in html
        _assert_no_model(html)
        client.post(f"/projects/{project.pk}/tasks/{task.number}/", LABEL)
    project.runs.remove(run)  # its tasks stay, and so does its prompt's weight
    assert shared not in _page_task(client, project)[0]
    project.runs.add(run)
    project.tasks.filter(generation__run=run).delete()
    project.runs.remove(run)  # no task left: the shared prompt shows again
    assert shared in _page_task(client, project)[0]


def test_a_restored_run_whose_system_prompt_is_not_text_shows_none(client, owner, annotator):
    # A re-imported export may carry anything in a run's params: the page shows no prompt
    # rather than failing (it raised "unhashable type: 'list'", a 500).
    shared = "Answer briefly."
    project = _project(owner, (shared, shared))
    odd = project.runs.order_by("pk").first()
    odd.params = {**odd.params, "system_prompt": [None]}
    odd.save(update_fields=("params",))
    Project.objects.filter(pk=project.pk).update(shown_system_prompt=None)
    join(project, annotator)
    client.force_login(annotator)
    html, _ = _page_task(client, project)
    assert shared not in html and "[None]" not in html
