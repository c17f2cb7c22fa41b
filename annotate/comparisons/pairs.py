"""Blind side-by-side comparisons: forming the pairs, and what the votes say.

Pairs: for each item that two or more of the project's runs answered, every pair of models
(or `pairs_per_item` of them, always the pairs used least so far, so every model pair is
sampled as often as the others). Each model pair alternates sides from a random start, so
left and right are balanced within one vote for every pair of models.
"""

from __future__ import annotations

import random
from collections import defaultdict
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
    outputs: dict[int, dict[int, int]], per_item: int | None, seed: int
) -> list[tuple[int, int]]:
    """(left generation, right generation) for every pair to show, balanced as described."""
    rng = random.Random(seed)
    used: dict[tuple[int, int], int] = defaultdict(int)
    flip: dict[tuple[int, int], bool] = {}
    pairs = []
    for item_id in sorted(outputs):
        by_config = outputs[item_id]
        candidates = list(combinations(sorted(by_config), 2))
        if per_item:
            rng.shuffle(candidates)
            candidates = sorted(candidates, key=lambda p: used[p])[:per_item]
        for a, b in candidates:
            if (a, b) not in flip:
                flip[(a, b)] = rng.random() < 0.5
            left, right = (b, a) if flip[(a, b)] ^ (used[(a, b)] % 2 == 1) else (a, b)
            used[(a, b)] += 1
            pairs.append((by_config[left], by_config[right]))
    return pairs


def sync_pairs(project: Project) -> int:
    """Create the comparison tasks not made yet; returns how many are new."""
    tasks = Task.objects.filter(project=project)
    existing = set(tasks.values_list("generation_id", "generation_b_id"))
    seen = existing | {(b, a) for a, b in existing}
    outputs = outputs_by_item(project)
    if project.pairs_per_item:  # a sampled item keeps its sample: only new items are planned
        done = set(tasks.values_list("generation__item_id", flat=True))
        outputs = {item: by for item, by in outputs.items() if item not in done}
    pairs = plan_pairs(outputs, project.pairs_per_item, seed=project.pk)
    new = [
        Task(project=project, generation_id=a, generation_b_id=b)
        for a, b in pairs
        if (a, b) not in seen
    ]
    with transaction.atomic():
        Task.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    return len(new)
