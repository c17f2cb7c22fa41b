"""Rubrics: the default built from the project's questions and guidelines, variables replaced
once, and few-shot examples from people's labels, never of the task being judged."""

from __future__ import annotations

import pytest

from annotate.judges.rubrics import describe_questions, example_labels, judge_prompts, render
from annotate.labeling import annotation_queue
from annotate.labeling.questions import DEFAULT_QUESTIONS
from tests.conftest import join, make_project

pytestmark = pytest.mark.django_db


def test_variables_are_replaced_once_and_other_braces_stay():
    rubric = 'Judge {output} against {reference}. Answer {"quality": 3}. {unknown}'
    text = render(rubric, {"output": "print('{reference}')"})
    assert text == "Judge print('{reference}') against (none). Answer {\"quality\": 3}. {unknown}"


def test_the_questions_are_described_with_the_values_a_judge_may_give():
    text = describe_questions(DEFAULT_QUESTIONS, pairwise=False)
    assert '"quality" (Quality): an integer from 1 (worst) to 5 (best); required.' in text
    assert '"issues" (Issues): a list of any of "hallucination", "refusal"' in text
    assert "correction" not in text  # a judge labels outputs; it does not rewrite them


def test_few_shot_examples_are_peoples_labels_of_other_tasks_chosen_the_same_way_each_time(
    owner, mlx_config, annotator
):
    project = make_project(owner, mlx_config, n=4, guidelines="Be fair.", blind=False)
    join(project, annotator)
    for quality in (5, 4, 3):
        held = annotation_queue.next_task(project, annotator)
        annotation_queue.submit(held, {"quality": quality, "correct": "pass"}, 1.0)
    chosen = example_labels(project, 2)
    assert len(chosen) == 3  # one spare, for the task being judged
    assert [a.pk for a in example_labels(project, 2)] == [a.pk for a in chosen]
    numbers = [a.task.number for a in chosen]
    assert numbers == sorted(numbers)

    tasks = list(project.tasks.select_related("generation__item", "generation_b"))
    prompts = dict(
        (meta["task"], text)
        for text, meta in judge_prompts(project, "{examples}\n{output}\n{guidelines}", 2, tasks)
    )
    for task in tasks:
        text = prompts[task.pk]
        assert text.count("A human annotator's answers:") == 2
        assert text.endswith(f"{task.generation.output}\nBe fair.")
        examples = text.split(task.generation.output)[0]
        assert "Example 1" in examples and "Example 3" not in examples
        # its own label is never an example for it
        own = [a for a in chosen if a.task_id == task.pk]
        if own:
            assert f"The answer:\n{task.generation.output}" not in examples
