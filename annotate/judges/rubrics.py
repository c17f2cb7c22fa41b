"""Rubrics: the prompt a judge reads for one task, a template with variables.

Variables, written `{name}`: {prompt} {output} {reference} (pointwise), {output_a} {output_b}
(pairwise), and in both {questions} {guidelines} {examples}. Only these names are replaced, in
one pass (a value holding "{output}" stays as written), and every other brace is left as it
is, so a rubric may show JSON. A missing reference or guideline reads "(none)".

Few-shot examples are human labels of the same project (submitted annotations), up to the
judge's `few_shot`, chosen deterministically (by task number, then label), and never of the
task being judged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from annotate.judges.answers import judged_questions
from annotate.labeling.models import Annotation, AnnotationState, Project, ProjectKind, Task
from inference.errors import Invalid

VARIABLES = (
    "prompt",
    "output",
    "reference",
    "output_a",
    "output_b",
    "questions",
    "guidelines",
    "examples",
)
VARIABLE = re.compile(r"\{(" + "|".join(VARIABLES) + r")\}")
NONE = "(none)"
EXAMPLE_CHARS = 2000  # of each text in a few-shot example: examples stay a small part
MAX_RUBRIC_CHARS = 20_000

POINTWISE = """You are an expert annotator. Judge the answer below as the project's human \
annotators would, following their guidelines.

Guidelines:
{guidelines}
{examples}
The prompt:
<prompt>
{prompt}
</prompt>

A reference answer:
<reference>
{reference}
</reference>

The answer to judge:
<answer>
{output}
</answer>

Questions:
{questions}

Reply with one JSON object and nothing else: first "reasoning" (a few sentences on the \
answer's strengths and faults), then one key per question."""

PAIRWISE = """You are an expert annotator. Compare the two answers to the prompt below as \
the project's human annotators would, following their guidelines. The order in which the \
answers are shown says nothing about them; do not let their length sway you.

Guidelines:
{guidelines}
{examples}
The prompt:
<prompt>
{prompt}
</prompt>

A reference answer:
<reference>
{reference}
</reference>

Answer A:
<answer_a>
{output_a}
</answer_a>

Answer B:
<answer_b>
{output_b}
</answer_b>

Questions:
{questions}

Reply with one JSON object and nothing else: first "reasoning" (a few sentences comparing \
the answers), then "verdict"."""


def is_pairwise(project: Project) -> bool:
    return project.kind == ProjectKind.COMPARE


def default_rubric(project: Project) -> str:
    return PAIRWISE if is_pairwise(project) else POINTWISE


def check_rubric(rubric: str, pairwise: bool) -> str:
    """The rubric, if it can judge: it shows the output(s) to judge; else Invalid."""
    rubric = rubric.replace("\r\n", "\n").strip()
    if not rubric:
        raise Invalid("The rubric is empty.")
    if len(rubric) > MAX_RUBRIC_CHARS:
        raise Invalid(f"The rubric is longer than {MAX_RUBRIC_CHARS:,} characters.")
    needed = ("{output_a}", "{output_b}") if pairwise else ("{output}",)
    missing = [n for n in needed if n not in rubric]
    if missing:
        raise Invalid(f"The rubric must show what is judged: add {' and '.join(missing)}.")
    return rubric


def render(rubric: str, values: dict[str, str]) -> str:
    """The rubric with its variables replaced, in one pass; a variable not given is "(none)"."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), NONE), rubric)


def describe_questions(questions: list[dict], pairwise: bool) -> str:
    """{questions}: one line per question the judge answers, with the values it may give."""
    lines = []
    for q in judged_questions(questions, pairwise):
        lines.append(f'- "{q["key"]}" ({q["label"]}): {_values(q, pairwise)}')
    return "\n".join(lines)


def _values(q: dict, pairwise: bool) -> str:
    need = "required" if q["required"] else "optional: leave it out if it does not apply"
    kind = q["kind"]
    if pairwise:
        what = '"a" if answer A is better, "b" if answer B is, "tie", or "both bad"'
    elif kind == "rating":
        what = f"an integer from {q['min']} (worst) to {q['max']} (best)"
    elif kind == "single":
        what = "one of " + ", ".join(json.dumps(o) for o in q["options"])
    elif kind == "multi":
        what = "a list of any of " + ", ".join(json.dumps(o) for o in q["options"])
    elif kind == "passfail":
        what = '"pass" or "fail"'
    else:
        what = "a short text"
    return f"{what}; {need}."


def _clip(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " […]"


def example_labels(project: Project, count: int) -> list[Annotation]:
    """Up to count + 1 human labels, one per task, by task number then label: enough that
    `count` remain when the task being judged is among them."""
    if not count:
        return []
    labels = (
        Annotation.objects.filter(task__project=project, state=AnnotationState.SUBMITTED)
        .select_related("task__generation__item", "task__generation_b")
        .order_by("task__number", "pk")
    )
    chosen, tasks = [], set()
    for label in labels.iterator():
        if label.task_id not in tasks:
            tasks.add(label.task_id)
            chosen.append(label)
            if len(chosen) > count:
                break
    return chosen


def _example(n: int, label: Annotation, questions: list[dict], pairwise: bool) -> str:
    task = label.task
    keys = [q["key"] for q in judged_questions(questions, pairwise)]
    answers = {k: label.answers[k] for k in keys if k in label.answers}
    if pairwise:
        verdict = {"left": "a", "right": "b"}
        answers["verdict"] = verdict.get(answers.get("verdict"), answers.get("verdict"))
        shown = f"Answer A:\n{_clip(task.generation.output)}\n\nAnswer B:\n"
        shown += _clip(task.generation_b.output)
    else:
        shown = f"The answer:\n{_clip(task.generation.output)}"
    return (
        f"Example {n}\nThe prompt:\n{_clip(task.generation.item.prompt)}\n\n{shown}\n\n"
        f"A human annotator's answers: {json.dumps(answers, ensure_ascii=False)}\n"
    )


def render_examples(examples: list[Annotation], task_id: int, count: int, project) -> str:
    """{examples}: the first `count` examples not of the task being judged, or nothing."""
    chosen = [e for e in examples if e.task_id != task_id][:count]
    if not chosen:
        return ""
    pairwise = is_pairwise(project)
    body = "\n".join(_example(n, e, project.questions, pairwise) for n, e in enumerate(chosen, 1))
    return f"\nHow the project's annotators labeled other answers:\n\n{body}"


def judge_prompts(
    project: Project, rubric: str, few_shot: int, tasks
) -> Iterator[tuple[str, dict]]:
    """(prompt, metadata) for each task: one per task, or two per pair (both orders, A first
    in "ab"), metadata {"task": task id, "order": "ab"|"ba"} (pairs only)."""
    pairwise = is_pairwise(project)
    examples = example_labels(project, few_shot)
    common = {
        "questions": describe_questions(project.questions, pairwise),
        "guidelines": project.guidelines.strip() or NONE,
    }
    task: Task
    for task in tasks:
        item = task.generation.item
        values = {
            **common,
            "prompt": item.prompt,
            "reference": item.reference or NONE,
            "examples": render_examples(examples, task.pk, few_shot, project),
        }
        if not pairwise:
            yield render(rubric, {**values, "output": task.generation.output}), {"task": task.pk}
            continue
        left, right = task.generation.output, task.generation_b.output
        for order, (a, b) in (("ab", (left, right)), ("ba", (right, left))):
            text = render(rubric, {**values, "output_a": a, "output_b": b})
            yield text, {"task": task.pk, "order": order}
