"""Blind side-by-side comparisons: forming the pairs, and what the votes say.

Pairs: for each item that two or more of the project's runs answered, every pair of models
(or `pairs_per_item` of them, always the pairs used least so far, so every model pair is
sampled as often as the others). Sides: for each pair of models, the new pairs that put the
first model on the left are as many as bring its count over all pairs, old and new, to half
(within one), and which pairs they are is drawn at random: no order of tasks tells the sides
of one from those of another.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Mapping
from itertools import combinations

from django.db import transaction

from annotate.comparisons.verdicts import VERDICTS
from annotate.labeling.models import Project, Task
from inference.models import Generation, GenerationStatus


def compare_questions(project: Project) -> list[dict]:
    questions = [
        {
            "key": "verdict",
            "label": "Which answer is better?",
            "kind": "single",
            "options": list(VERDICTS),
            "required": True,
        },
        {"key": "reason", "label": "Why (optional)", "kind": "text", "required": False},
    ]
    if project.side_ratings:
        questions += [
            {
                "key": "left_rating",
                "label": "Left answer",
                "kind": "rating",
                "min": 1,
                "max": 5,
                "required": False,
            },
            {
                "key": "right_rating",
                "label": "Right answer",
                "kind": "rating",
                "min": 1,
                "max": 5,
                "required": False,
            },
        ]
    return questions


def outputs_by_item(project: Project) -> dict[int, dict[int, int]]:
    """{item id: {model configuration id: generation id}}: the first sample of each run; a
    later run of the same configuration on the same item replaces an earlier one."""
    rows = (
        Generation.objects.filter(
            run__in=project.runs.all(), status=GenerationStatus.DONE, sample_index=0
        )
        .order_by("run_id")
        .values_list("item_id", "run__model_config_id", "pk")
    )
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for item_id, config_id, gen_id in rows:
        out[item_id][config_id] = gen_id
    return out


def plan_pairs(
    outputs: dict[int, dict[int, int]],
    per_item: int | None,
    seed: int | None = None,
    left_before: Mapping[tuple[int, int], tuple[int, int]] | None = None,
    skip: Collection[tuple[int, int]] = (),
) -> list[tuple[int, int]]:
    """(left generation, right generation) for every pair to show, balanced as described.
    `left_before`: for a model pair (a, b), a < b, how often a and how often b are already
    on the left; `skip`: (left, right) generations already shown, either way round. No seed:
    the system's generator, so the sides cannot be worked out again.

    1. For each item, the model pairs to show (all, or the `per_item` used least so far).
    2. For each model pair, how many of its new pairs put its first model on the left, then
       which ones, at random.
    """
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    skip = set(skip)
    used: dict[tuple[int, int], int] = defaultdict(int)
    chosen: list[tuple[int, int, int]] = []  # (item, model a, model b), a < b
    for item_id in sorted(outputs):
        by_config = outputs[item_id]
        candidates = [
            (a, b)
            for a, b in combinations(sorted(by_config), 2)
            if not {(by_config[a], by_config[b]), (by_config[b], by_config[a])} & skip
        ]
        if per_item:
            rng.shuffle(candidates)
            candidates = sorted(candidates, key=lambda p: used[p])[:per_item]
        for pair in candidates:
            used[pair] += 1
            chosen.append((item_id, *pair))
    a_left = {
        pair: _sides(count, (left_before or {}).get(pair, (0, 0)), rng)
        for pair, count in used.items()
    }
    pairs = []
    for item_id, a, b in chosen:
        left, right = (a, b) if a_left[(a, b)].pop() else (b, a)
        pairs.append((outputs[item_id][left], outputs[item_id][right]))
    return pairs


def _sides(count: int, before: tuple[int, int], rng: random.Random) -> list[bool]:
    """For `count` new pairs of models a and b, whether each puts a on the left: enough to
    bring a's share of the left over old and new pairs to half (an odd total rounds either
    way at random), in random order."""
    a_before, b_before = before
    total = a_before + b_before + count
    target = total // 2 + (total % 2 == 1 and rng.random() < 0.5)
    lefts = min(max(target - a_before, 0), count)
    sides = [True] * lefts + [False] * (count - lefts)
    rng.shuffle(sides)
    return sides


def _left_before(tasks) -> dict[tuple[int, int], tuple[int, int]]:
    """For each model pair (a, b), a < b, how many of the tasks put a, and b, on the left."""
    rows = tasks.values_list(
        "generation__run__model_config_id", "generation_b__run__model_config_id"
    )
    out: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for left, right in rows:
        out[(min(left, right), max(left, right))][left > right] += 1
    return {pair: (a, b) for pair, (a, b) in out.items()}


def sync_pairs(project: Project) -> int:
    """Create the comparison tasks not made yet; returns how many are new."""
    tasks = Task.objects.filter(project=project)
    existing = set(tasks.values_list("generation_id", "generation_b_id"))
    outputs = outputs_by_item(project)
    if project.pairs_per_item:  # a sampled item keeps its sample: only new items are planned
        done = set(tasks.values_list("generation__item_id", flat=True))
        outputs = {item: by for item, by in outputs.items() if item not in done}
    pairs = plan_pairs(
        outputs,
        project.pairs_per_item,
        left_before=_left_before(tasks),
        skip=existing,
    )
    new = [Task(project=project, generation_id=a, generation_b_id=b) for a, b in pairs]
    with transaction.atomic():
        Task.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    return len(new)
