"""Handing out items: overlap, no shared slot, holds that expire, skip and edit."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotate.labeling import annotation_queue
from annotate.labeling.models import Annotation, AnnotationState, Task
from tests.conftest import make_project

pytestmark = pytest.mark.django_db


def test_each_item_goes_to_overlap_different_annotators(
    owner, annotator, annotator2, reviewer, mlx_config
):
    project = make_project(owner, mlx_config, n=2, overlap=2)
    people = [annotator, annotator2, reviewer]
    got = {}
    for person in people:
        held = []
        while (a := annotation_queue.next_task(project, person)) is not None:
            held.append(a.task_id)
            annotation_queue.submit(a, {"quality": 3, "correct": "pass"}, 1.0)
        got[person.username] = held
    # A blind project (the default) hands out its tasks in the order of their numbers.
    tasks = list(
        Task.objects.filter(project=project).order_by("number").values_list("pk", flat=True)
    )
    assert got["annie"] == tasks and got["bert"] == tasks and got["rita"] == []
    assert set(Task.objects.values_list("submitted", flat=True)) == {2}


def test_next_item_resumes_the_current_hold(owner, annotator, mlx_config):
    project = make_project(owner, mlx_config, n=3)
    first = annotation_queue.next_task(project, annotator)
    assert annotation_queue.next_task(project, annotator).pk == first.pk


def test_expired_holds_go_back_to_the_queue(owner, annotator, annotator2, mlx_config):
    project = make_project(owner, mlx_config, n=1, overlap=1)
    held = annotation_queue.next_task(project, annotator)
    assert annotation_queue.next_task(project, annotator2) is None  # the only slot is held
    Annotation.objects.filter(pk=held.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    taken = annotation_queue.next_task(project, annotator2)
    assert taken.task_id == held.task_id
    # The first annotator's late answer is refused: the slot is someone else's now.
    with pytest.raises(annotation_queue.QueueError, match="expired"):
        annotation_queue.submit(held, {"quality": 1, "correct": "fail"}, 5)


def test_a_late_answer_is_kept_when_the_slot_is_still_free(owner, annotator, mlx_config):
    project = make_project(owner, mlx_config, n=1)
    held = annotation_queue.next_task(project, annotator)
    Annotation.objects.filter(pk=held.pk).update(held_until=timezone.now() - timedelta(seconds=1))
    annotation_queue.release_expired_holds(project)
    saved = annotation_queue.submit(held, {"quality": 4, "correct": "pass"}, 2)
    assert saved.state == AnnotationState.SUBMITTED
    assert Task.objects.get().claimed == 1


def test_skip_frees_the_slot_and_is_not_offered_again(owner, annotator, annotator2, mlx_config):
    project = make_project(owner, mlx_config, n=2, overlap=1)
    first = annotation_queue.next_task(project, annotator)
    annotation_queue.skip(first, 3.0)
    assert annotation_queue.next_task(project, annotator).task_id != first.task_id
    assert annotation_queue.next_task(project, annotator2).task_id == first.task_id


def test_editing_a_label_does_not_count_twice(owner, annotator, mlx_config):
    project = make_project(owner, mlx_config, n=1)
    held = annotation_queue.next_task(project, annotator)
    annotation_queue.submit(held, {"quality": 2, "correct": "fail"}, 4)
    edited = annotation_queue.submit(held, {"quality": 5, "correct": "pass"}, 1)
    assert edited.answers["quality"] == 5 and edited.time_spent_s == 5
    assert Task.objects.get().submitted == 1


@pytest.mark.django_db(transaction=True)
def test_annotators_asking_at_the_same_moment_get_different_slots(
    owner, mlx_config, django_user_model
):
    project = make_project(owner, mlx_config, n=30, overlap=1)
    people = [django_user_model.objects.create_user(f"a{i}") for i in range(6)]
    barrier = threading.Barrier(len(people))
    taken: list[int] = []
    errors: list[BaseException] = []

    def ask(person):
        try:
            barrier.wait()
            for _ in range(5):
                taken.append(annotation_queue.next_task(project, person).task_id)
                annotation_queue.submit(
                    Annotation.objects.get(task_id=taken[-1], annotator=person),
                    {"quality": 3, "correct": "pass"},
                    0.1,
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(taken) == 30 and len(set(taken)) == 30  # every item once, none twice
    assert set(Task.objects.values_list("submitted", flat=True)) == {1}
