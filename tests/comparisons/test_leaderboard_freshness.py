"""Issue 15, item 8: a vote reaches the leaderboard at once (its point ratings counted on
read), the page and the API say when the board was computed and that its intervals are being
recounted, and a real worker makes the board whole again by itself. How soon (the goal: within
2 s) is measured by bench/leaderboard.py (vote_visible_s), not timed here."""

from __future__ import annotations

from unittest import mock

import choix
import numpy as np
import pytest
from django.core.cache import cache
from django.test import Client

from annotate.accounts.models import ApiToken
from annotate.comparisons import leaderboard
from annotate.comparisons.leaderboard import (
    bradley_terry,
    refresh_if_stale,
    wins_matrix,
)
from tests.comparisons.test_comparisons import synthetic_counts
from tests.conftest import join, wait_for


def bearer(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.issue(user, 'script')[1]}"}


def vote(api: Client, auth: dict, project, verdict: str = "left") -> None:
    """An annotator's vote through the API: take the next pair, label it."""
    held = api.post(f"/api/projects/{project.pk}/next", **auth)
    assert held.status_code == 200, held.content
    url = f"/api/projects/{project.pk}/tasks/{held.json()['task_id']}/label"
    body = {"answers": {"verdict": verdict}, "time_spent_s": 2}
    saved = api.post(url, body, content_type="application/json", **auth)
    assert saved.status_code == 200, saved.content


def board(api: Client, auth: dict, project) -> dict:
    response = api.get(f"/api/projects/{project.pk}/leaderboard", **auth)
    assert response.status_code == 200, response.content
    return response.json()


def ratings(body: dict) -> dict[str, float]:
    return {m["name"]: m["rating"] for m in body["models"]}


@pytest.mark.django_db
def test_a_vote_shows_its_ratings_at_once_with_its_intervals_pending(
    client, compare_project, annotator, owner, django_capture_on_commit_callbacks
):
    join(compare_project, annotator)
    api, voter, reader = Client(), bearer(annotator), bearer(owner)
    vote(api, voter, compare_project)
    client.force_login(owner)
    page = f"/projects/{compare_project.pk}/results/"
    html = client.get(page).content.decode()  # no board yet: computed whole now
    assert "s ago, from 1 vote." in html and "Updating" not in html

    with django_capture_on_commit_callbacks(execute=False) as asked:
        vote(api, voter, compare_project, "right")
    assert len(asked) == 1  # the vote asks a worker to recount

    # No worker ran: the new count and its point ratings are there, the intervals pending.
    html = client.get(page).content.decode()
    assert "s ago, from 2 votes." in html
    assert "Updating…" in html and "The intervals count 1 vote:" in html
    assert 'hx-trigger="every 1s"' in html  # the board polls itself
    live = board(api, reader, compare_project)
    assert (live["votes"], live["updating"], live["intervals_votes"]) == (2, True, 1)
    assert sum(m["games"] for m in live["models"]) == 4
    assert client.get(page, HTTP_HX_REQUEST="true").status_code == 200  # polling goes on

    assert refresh_if_stale(compare_project.pk)  # the worker's job
    assert not refresh_if_stale(compare_project.pk)  # a second message finds it done
    whole = board(api, reader, compare_project)
    assert (whole["votes"], whole["updating"], whole["intervals_votes"]) == (2, False, 2)
    assert ratings(whole) == pytest.approx(ratings(live))  # the same point estimates
    polled = client.get(page, HTTP_HX_REQUEST="true")
    assert polled.status_code == 286  # htmx stops polling: the board is fresh
    html = polled.content.decode()
    assert "from 2 votes." in html and "Updating" not in html and "hx-trigger" not in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_worker_makes_the_board_whole_after_each_vote_by_itself(
    client, compare_project, annotator, owner, start_worker
):
    join(compare_project, annotator)
    api, voter, reader = Client(), bearer(annotator), bearer(owner)
    vote(api, voter, compare_project)
    assert board(api, reader, compare_project)["votes"] == 1  # stored, whole
    start_worker(queues="api")
    client.force_login(owner)
    for count in (2, 3):
        vote(api, voter, compare_project)
        wait_for(
            lambda count=count: (
                (b := board(api, reader, compare_project))["votes"] == count
                and not b["updating"]
                and b["intervals_votes"] == count
            ),
            timeout=60,
            interval=0.05,
            what=f"a board counting {count} votes",
        )
        html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
        assert f"from {count} votes." in html and "Updating" not in html


def test_the_ratings_match_choix_maximum_likelihood():
    """Our MM fit against choix's (an independent implementation), ties as half a win: the
    counts doubled, a tie is one win each way. Our tiny prior moves it by far less than the
    tolerance at 10k votes."""
    strengths = np.linspace(-1.0, 1.0, 10)
    counts = synthetic_counts(strengths, 10_000, seed=3, tie_rate=0.1)
    wins = wins_matrix(counts)
    doubled = np.rint(2 * wins).astype(int)
    data = [(i, j) for i in range(10) for j in range(10) for _ in range(doubled[i, j])]
    theirs = choix.ilsr_pairwise(10, data, alpha=0.0, tol=1e-10)
    ours = bradley_terry(wins)
    assert np.max(np.abs(ours - (theirs - theirs.mean()))) < 0.005


@pytest.mark.django_db
def test_a_worker_shows_a_vote_before_its_bootstrap_on_a_large_board(
    client, compare_project, annotator, owner, monkeypatch
):
    """Above LIVE_MAX_VOTES a page serves the stored board; the worker stores the point
    estimates before the bootstrap: a worker lost during the bootstrap leaves the new count
    shown, its intervals pending, and the next message finishes the job."""
    monkeypatch.setattr(leaderboard, "LIVE_MAX_VOTES", 0)
    join(compare_project, annotator)
    api, voter, reader = Client(), bearer(annotator), bearer(owner)
    vote(api, voter, compare_project)
    assert board(api, reader, compare_project)["votes"] == 1  # stored, whole
    vote(api, voter, compare_project, "right")
    stale = board(api, reader, compare_project)
    assert (stale["votes"], stale["updating"], stale["intervals_votes"]) == (1, True, 1)

    dies = mock.patch.object(leaderboard, "bootstrap", autospec=True, side_effect=MemoryError)
    with dies, pytest.raises(MemoryError):
        refresh_if_stale(compare_project.pk)  # the worker dies in the bootstrap
    client.force_login(owner)
    html = client.get(f"/projects/{compare_project.pk}/results/").content.decode()
    assert "from 2 votes." in html and "The intervals count 1 vote:" in html
    shown = board(api, reader, compare_project)
    assert (shown["votes"], shown["updating"], shown["intervals_votes"]) == (2, True, 1)

    assert refresh_if_stale(compare_project.pk)  # a later message: the bootstrap again
    whole = board(api, reader, compare_project)
    assert (whole["votes"], whole["updating"], whole["intervals_votes"]) == (2, False, 2)
    assert ratings(whole) == pytest.approx(ratings(shown))


@pytest.mark.django_db
def test_a_vote_s_message_leaves_its_recount_to_the_one_running(compare_project, annotator, owner):
    """A burst of votes sends a message each; one recount at a time per project does the
    work, so the worker's queue drains at once and an export behind it is not kept waiting."""
    join(compare_project, annotator)
    api, voter, reader = Client(), bearer(annotator), bearer(owner)
    vote(api, voter, compare_project)
    assert board(api, reader, compare_project)["votes"] == 1  # stored, whole
    vote(api, voter, compare_project, "right")
    assert board(api, reader, compare_project)["updating"]
    turn = f"leaderboard-recount:{compare_project.pk}"
    cache.add(turn, 1)  # another thread of the worker is recounting
    leaderboard.recount(compare_project.pk)  # the task's work
    assert board(api, reader, compare_project)["intervals_votes"] == 1  # left to that one
    cache.delete(turn)
    leaderboard.recount(compare_project.pk)  # the task's work
    whole = board(api, reader, compare_project)
    assert (whole["votes"], whole["updating"], whole["intervals_votes"]) == (2, False, 2)


@pytest.mark.django_db
def test_the_running_recount_also_counts_the_votes_cast_during_it(
    compare_project, annotator, owner
):
    join(compare_project, annotator)
    api, voter, reader = Client(), bearer(annotator), bearer(owner)
    vote(api, voter, compare_project)
    assert board(api, reader, compare_project)["votes"] == 1  # stored, whole
    real_compute, cast = leaderboard.compute, []

    def vote_meanwhile(votes, rounds=1000, seed=0):
        if rounds and not cast:  # in the first bootstrap
            cast.append(vote(api, voter, compare_project, "right"))
        return real_compute(votes, rounds, seed)

    with mock.patch.object(leaderboard, "compute", side_effect=vote_meanwhile):
        vote(api, voter, compare_project, "tie")
        leaderboard.recount(compare_project.pk)  # the task's work
    whole = board(api, reader, compare_project)
    assert (whole["votes"], whole["updating"], whole["intervals_votes"]) == (3, False, 3)
