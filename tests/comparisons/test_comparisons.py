"""Blind comparisons: pairs, sides, Bradley-Terry, the leaderboard page."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest

from annotate.comparisons.leaderboard import (
    SCALE,
    Votes,
    bradley_terry,
    breakdown,
    compute,
    refresh,
    wins_matrix,
)
from annotate.comparisons.pairs import plan_pairs
from annotate.datasets.models import Item
from annotate.labeling import annotation_queue
from annotate.labeling.models import Task
from inference.models import ModelConfig
from tests.conftest import join

pytestmark = pytest.mark.django_db


def synthetic_counts(strengths, n, seed=0, tie_rate=0.0):
    rng = np.random.default_rng(seed)
    m = len(strengths)
    counts = np.zeros((m, m, 4))
    i, j = rng.integers(0, m, n), rng.integers(0, m, n)
    keep = i != j
    i, j = i[keep], j[keep]
    p = 1 / (1 + np.exp(-(strengths[i] - strengths[j])))
    tie = rng.random(len(i)) < tie_rate
    win = rng.random(len(i)) < p
    np.add.at(counts, (i, j, np.where(tie, 2, np.where(win, 0, 1))), 1)
    return counts


def test_bradley_terry_recovers_the_order_and_scale_of_known_strengths():
    strengths = np.array([-1.2, -0.6, -0.1, 0.3, 0.9, 1.4])
    est = bradley_terry(wins_matrix(synthetic_counts(strengths, 60_000)))
    truth = strengths - strengths.mean()
    assert list(np.argsort(est)) == list(range(6))
    assert np.max(np.abs(est - truth)) < 0.06


def test_the_leaderboard_has_intervals_that_hold_the_truth(owner):
    strengths = np.array([-0.5, 0.0, 0.5])
    configs = [
        ModelConfig.objects.create(name=f"m{i}", backend="mlx", model="x", owner=owner)
        for i in range(3)
    ]
    votes = Votes([c.pk for c in configs], synthetic_counts(strengths, 6000, seed=3))
    board = compute(votes, rounds=300)
    assert [r.name for r in board.rows] == ["m2", "m1", "m0"]
    truth = SCALE * (strengths - strengths.mean()) + 1000
    for row in board.rows:
        i = int(row.name[1])
        assert row.rating_low <= truth[i] <= row.rating_high
        assert row.win_low <= row.win_rate <= row.win_high
    assert board.matrix[2][0]["wins"] > board.matrix[2][0]["losses"]
    assert board.position_p > 0.01  # sides were drawn fairly


def test_sides_are_balanced_for_every_pair_of_models():
    outputs = {item: {c: 100 * item + c for c in (1, 2, 3, 4)} for item in range(101)}
    pairs = plan_pairs(outputs, None, seed=7)
    config = {gen: gen % 100 for by in outputs.values() for gen in by.values()}
    left = Counter((config[a], config[b]) for a, b in pairs)
    for a, b in combinations((1, 2, 3, 4), 2):
        assert abs(left[(a, b)] - left[(b, a)]) <= 1
        assert left[(a, b)] + left[(b, a)] == 101


def test_sampled_pairs_use_every_model_pair_about_as_often():
    outputs = {item: {c: 100 * item + c for c in (1, 2, 3, 4)} for item in range(120)}
    pairs = plan_pairs(outputs, 2, seed=1)
    config = {gen: gen % 100 for by in outputs.values() for gen in by.values()}
    used = Counter(tuple(sorted((config[a], config[b]))) for a, b in pairs)
    assert len(pairs) == 240 and len(used) == 6
    assert max(used.values()) - min(used.values()) <= 1


def test_the_comparison_page_hides_the_models(client, compare_project, annotator):
    join(compare_project, annotator)
    client.force_login(annotator)
    html = client.get(client.get(f"/projects/{compare_project.pk}/next/")["Location"]).content
    html = html.decode()
    assert "answer from" in html  # both outputs are there
    for config in ModelConfig.objects.all():
        assert config.name not in html.replace("answer from " + config.name, "")
        assert f"model_config={config.pk}" not in html and f"/models/{config.pk}" not in html
    assert "/runs/" not in html and "/generations/" not in html
    assert "Show differences" in html and "<del>" in html


def test_votes_make_the_leaderboard(client, compare_project, annotator, owner):
    join(compare_project, annotator)
    while (held := annotation_queue.next_task(compare_project, annotator)) is not None:
        task = Task.objects.select_related("generation__run__model_config").get(pk=held.task_id)
        big_left = task.generation.run.model_config.name == "api-large"
        annotation_queue.submit(held, {"verdict": "left" if big_left else "right"}, 1.0)
    client.force_login(owner)
    html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
    table = html.split('data-testid="leaderboard"', 1)[1]
    assert table.index("api-large") < table.index("local-small")
    assert "6 votes" in html and "Position bias" in html
    assert client.get(f"/projects/{compare_project.pk}/results/?by=n").status_code == 200
    client.force_login(annotator)
    assert client.get(f"/projects/{compare_project.pk}/results/").status_code == 403


def test_a_new_vote_is_counted_now_while_a_worker_recounts_the_intervals(
    client, compare_project, annotator, owner, django_capture_on_commit_callbacks
):
    join(compare_project, annotator)
    first = annotation_queue.next_task(compare_project, annotator)
    annotation_queue.submit(first, {"verdict": "left"}, 1.0)
    client.force_login(owner)
    html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
    assert "1 vote." in html  # no board yet: computed during the request
    second = annotation_queue.next_task(compare_project, annotator)
    annotation_queue.submit(second, {"verdict": "left"}, 1.0)
    with django_capture_on_commit_callbacks(execute=False) as refreshes:
        html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
    assert "2 votes." in html and "Updating…" in html and "intervals count 1 vote" in html
    assert len(refreshes) == 1  # a worker is asked to recount
    refresh(compare_project.pk)
    html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
    assert "2 votes." in html and "Updating" not in html


@pytest.mark.parametrize("key", ["task family", 'say "hi"', "it's"])
def test_the_breakdown_takes_metadata_keys_with_spaces_and_quotes(
    client, compare_project, annotator, owner, key
):
    """Issue 13, finding 10: a real key with a space (or a quote) broke the breakdown."""
    for item in Item.objects.filter(dataset__runs__projects=compare_project).distinct():
        item.metadata = {key: "even" if item.index % 2 == 0 else "odd"}
        item.save(update_fields=("metadata",))
    join(compare_project, annotator)
    while (held := annotation_queue.next_task(compare_project, annotator)) is not None:
        task = Task.objects.select_related("generation__run__model_config").get(pk=held.task_id)
        big_left = task.generation.run.model_config.name == "api-large"
        annotation_queue.submit(held, {"verdict": "left" if big_left else "right"}, 1.0)
    # api-large won every vote: in each group, 3 games each, win rates 1 and 0.
    assert breakdown(compare_project, key) == {
        "even": [("api-large", 1.0, 3), ("local-small", 0.0, 3)],
        "odd": [("api-large", 1.0, 3), ("local-small", 0.0, 3)],
    }
    client.force_login(owner)
    response = client.get(f"/projects/{compare_project.pk}/results/", {"by": key})
    assert response.status_code == 200
