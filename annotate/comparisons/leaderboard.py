"""What comparison votes say about the models: wins, ties and losses, win rates and
Bradley-Terry ratings with bootstrap 95% intervals, a position-bias check, and breakdowns.

A vote scores as annotate/comparisons/verdicts.py says: ties and "both bad" count as half a
win for each side, as on Chatbot Arena; a vote without a verdict counts nowhere. Ratings are on
the Elo-like scale Chatbot Arena uses: 1000 + 400 log10(strength), centred on the mean model.
Bradley-Terry is fitted by Hunter's (2004) MM algorithm on the matrix of wins, vectorized over
every bootstrap replicate at once, which is what keeps 1,000 rounds on 100k votes in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from celery import current_app
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from annotate.comparisons.verdicts import LEFT_SCORE, VERDICTS, left_score
from annotate.labeling.models import Annotation, AnnotationState, Project
from inference.models import ModelConfig

SCALE = 400 / np.log(10)
OUTCOMES = VERDICTS
# The left model's score for each outcome, in OUTCOMES order.
SCORES = np.array([LEFT_SCORE[outcome] for outcome in OUTCOMES])


@dataclass
class Votes:
    """Counts of votes per (left model, right model, outcome), models indexed 0..m-1."""

    models: list[int]  # model configuration ids
    counts: np.ndarray  # (m, m, 4): [left, right, outcome]

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def load_votes(project: Project) -> Votes:
    """One GROUP BY in the database: (left config, right config, verdict) -> count."""
    rows = (
        Annotation.objects.filter(task__project=project, state=AnnotationState.SUBMITTED)
        .values(
            left=F("task__generation__run__model_config_id"),
            right=F("task__generation_b__run__model_config_id"),
            verdict=KT("answers__verdict"),
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    return count_votes(rows)


def count_votes(rows) -> Votes:
    """Votes from {"left": config id, "right": config id, "verdict", "n"} rows: people's
    (load_votes) or a judge's (annotate/judges/agreement.py), counted alike."""
    rows = [r for r in rows if left_score(r["verdict"]) is not None]
    models = sorted({r["left"] for r in rows} | {r["right"] for r in rows})
    index = {m: i for i, m in enumerate(models)}
    counts = np.zeros((len(models), len(models), len(OUTCOMES)))
    for r in rows:
        counts[index[r["left"]], index[r["right"]], OUTCOMES.index(r["verdict"])] += r["n"]
    return Votes(models, counts)


def wins_matrix(counts: np.ndarray) -> np.ndarray:
    """W[..., i, j]: wins of i over j, each vote scored by its verdict (ties as half); works
    on a stack of count arrays."""
    as_left = counts @ SCORES
    as_right = counts @ (1 - SCORES)
    return as_left + np.swapaxes(as_right, -1, -2)


def bradley_terry(wins: np.ndarray, iterations: int = 200, tol: float = 1e-9) -> np.ndarray:
    """Log-strengths (mean 0) from W[..., i, j] by MM; a stack of matrices fits at once.
    A tiny prior (one tie against the mean model) keeps a model that never won finite."""
    m = wins.shape[-1]
    wins = wins + 0.5 * (1 - np.eye(m)) / max(m - 1, 1)
    games = wins + np.swapaxes(wins, -1, -2)
    won = wins.sum(axis=-1)
    p = np.ones(wins.shape[:-1])
    for _ in range(iterations):
        denom = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        new = won / denom
        new /= np.exp(np.log(new).mean(axis=-1, keepdims=True))
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    return np.log(p)


def win_rates(counts: np.ndarray) -> np.ndarray:
    wins = wins_matrix(counts)
    games = wins + np.swapaxes(wins, -1, -2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins.sum(axis=-1) / games.sum(axis=-1)


def bootstrap(votes: Votes, rounds: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ratings and win rates of `rounds` resamples of the votes (multinomial on the cells)."""
    rng = np.random.default_rng(seed)
    flat = votes.counts.ravel()
    samples = rng.multinomial(votes.total, flat / flat.sum(), size=rounds)
    stack = samples.reshape((rounds, *votes.counts.shape)).astype(float)
    return bradley_terry(wins_matrix(stack)), win_rates(stack)


@dataclass
class ModelRow:
    config_id: int
    name: str
    rating: float
    rating_low: float
    rating_high: float
    win_rate: float
    win_low: float
    win_high: float
    games: int
    rank: int = 0


@dataclass
class Leaderboard:
    rows: list[ModelRow]
    matrix: list[list[dict | None]]  # [i][j]: {"wins", "ties", "losses"} of i against j
    votes: int
    left_wins: int
    right_wins: int
    left_share: float | None
    position_p: float | None
    rounds: int
    notes: list[str] = field(default_factory=list)
    stale: bool = False  # newer votes are being counted by a worker: "updating…"
    computed_at: str | None = None  # ISO time the ratings were fitted
    intervals_votes: int | None = None  # the votes the intervals count (the bootstrap's)


def _matrix(counts: np.ndarray) -> list[list[dict | None]]:
    m = counts.shape[0]
    out: list[list[dict | None]] = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            wins = counts[i, j, 0] + counts[j, i, 1]
            losses = counts[i, j, 1] + counts[j, i, 0]
            ties = counts[i, j, 2:].sum() + counts[j, i, 2:].sum()
            if wins + losses + ties:
                out[i][j] = {"wins": int(wins), "ties": int(ties), "losses": int(losses)}
    return out


def compute(votes: Votes, rounds: int = 1000, seed: int = 0) -> Leaderboard:
    from scipy.stats import binomtest  # here: scipy.stats costs a web process ~70 MB

    counts = votes.counts
    names = dict(ModelConfig.objects.filter(pk__in=votes.models).values_list("pk", "name"))
    left_wins, right_wins = int(counts[..., 0].sum()), int(counts[..., 1].sum())
    decisive = left_wins + right_wins
    rows: list[ModelRow] = []
    if votes.models:
        rating = SCALE * bradley_terry(wins_matrix(counts)) + 1000
        rate = win_rates(counts)
        boot_r, boot_w = bootstrap(votes, rounds, seed) if rounds else (rating[None], rate[None])
        low_r, high_r = np.percentile(SCALE * boot_r + 1000, [2.5, 97.5], axis=0)
        low_w, high_w = np.nanpercentile(boot_w, [2.5, 97.5], axis=0)
        games = (counts.sum(axis=(1, 2)) + counts.sum(axis=(0, 2))).astype(int)
        for i, config_id in enumerate(votes.models):
            rows.append(
                ModelRow(
                    config_id,
                    names.get(config_id, f"#{config_id}"),
                    float(rating[i]),
                    float(low_r[i]),
                    float(high_r[i]),
                    float(rate[i]),
                    float(low_w[i]),
                    float(high_w[i]),
                    int(games[i]),
                )
            )
        rows.sort(key=lambda r: -r.rating)
        for rank, row in enumerate(rows, start=1):
            row.rank = rank
    return Leaderboard(
        rows=rows,
        matrix=_matrix(counts),
        votes=votes.total,
        left_wins=left_wins,
        right_wins=right_wins,
        left_share=left_wins / decisive if decisive else None,
        position_p=float(binomtest(left_wins, decisive).pvalue) if decisive else None,
        rounds=rounds,
        notes=[] if votes.total >= 30 else ["Fewer than 30 votes: the intervals are wide."],
    )


# Up to this many votes a page that finds the stored board stale counts the votes' point
# estimates itself (a worker may be away); above, it serves the stored board and the worker
# stores the point estimates first. The fit stays under 1 ms for 10 models whatever the
# votes; the count (one GROUP BY) grows with them: ~0.3 s for 20k on a loaded machine
# (bench/leaderboard.py, points_fit_s and load_votes_s).
LIVE_MAX_VOTES = 5_000


def cached_leaderboard(project: Project, rounds: int = 1000) -> Leaderboard:
    """The leaderboard the page shows, stored on the project with the votes version it
    counts. The same version is served as stored (marked stale while only its point
    estimates are stored: the worker's bootstrap follows). A newer one asks a worker to
    recount and, when the votes are few, gets its point estimates counted now with the
    stored intervals; else the stored board, stale. None yet is computed now."""
    if project.board is None:
        return refresh(project.pk, rounds)
    board = from_dict(project.board)
    if project.board_version == project.votes_version and not board.stale:
        return board
    schedule_refresh(project.pk, project.votes_version)  # in case a worker was lost
    if project.board_version == project.votes_version or board.votes > LIVE_MAX_VOTES:
        board.stale = True
        return board
    return points(load_votes(project), board)


def points(votes: Votes, stored: Leaderboard) -> Leaderboard:
    """The votes' point estimates (counts, win rates, ratings), each model's intervals
    carried from `stored` (a new model's collapse onto its rating), marked stale."""
    board = compute(votes, rounds=0)
    old = {row.config_id: row for row in stored.rows}
    for row in board.rows:
        if before := old.get(row.config_id):
            row.rating_low, row.rating_high = before.rating_low, before.rating_high
            row.win_low, row.win_high = before.win_low, before.win_high
    board.rounds = stored.rounds
    board.intervals_votes = stored.intervals_votes or stored.votes
    board.computed_at = timezone.now().isoformat()
    board.stale = True
    return board


def refresh(project_id: int, rounds: int = 1000) -> Leaderboard:
    project = Project.objects.get(pk=project_id)
    version = project.votes_version  # read first: a vote during the computation re-dirties it
    return _store(_whole(compute(load_votes(project), rounds)), project_id, version)


def refresh_if_stale(project_id: int, rounds: int = 1000) -> bool:
    """Recount unless the stored board is whole for the latest votes; whether it did. Every
    vote enqueues one: those queued during a recount cost a query each, and one recount.
    A project deleted since is left alone.
    1. Count the votes, store their point estimates with the stored intervals (stale): the
       page shows the vote after one GROUP BY, not after the bootstrap.
    2. Store the whole board, bootstrap intervals included."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return False
    stored = from_dict(project.board) if project.board is not None else None
    if stored and project.board_version == project.votes_version and not stored.stale:
        return False
    version = project.votes_version
    votes = load_votes(project)
    if stored is not None and rounds:
        _store(points(votes, stored), project_id, version)
    _store(_whole(compute(votes, rounds)), project_id, version)
    return True


# How long a recount holds a project's turn at most: a worker killed in one frees it then.
RECOUNT_TURN_S = 60


def recount(project_id: int, rounds: int = 1000) -> None:
    """A worker's recount, one at a time per project: each vote sends a message, and during
    a burst of votes their recounts would fill the worker's queue (an export behind 100 of
    them waited 2 s). A message that finds a recount running leaves its votes to that one.
    1. Take the project's turn (the cache: Redis between workers, else one worker's threads);
       without it, return.
    2. Recount until the board is whole for the latest votes, those that came meanwhile too.
    3. Give the turn back, and look once more: a vote whose message came between the last
       count and the release would be left out."""
    turn = f"leaderboard-recount:{project_id}"
    if not cache.add(turn, 1, timeout=RECOUNT_TURN_S):
        return
    try:
        while refresh_if_stale(project_id, rounds):
            pass
    finally:
        cache.delete(turn)
    refresh_if_stale(project_id, rounds)


def _whole(board: Leaderboard) -> Leaderboard:
    board.computed_at = timezone.now().isoformat()
    board.intervals_votes = board.votes
    return board


def _store(board: Leaderboard, project_id: int, version: int) -> Leaderboard:
    """Store `board` as counting `version`: never over a newer version (two workers may
    count at once), nor a stale board over a whole one of its version."""
    newer = Q(board_version__gte=version) if board.stale else Q(board_version__gt=version)
    Project.objects.filter(pk=project_id).exclude(newer).update(
        board=asdict(board), board_version=version
    )
    return board


# Sent by name: the task's module imports this one.
REFRESH_TASK = "annotate.comparisons.tasks.refresh_leaderboard_task"


def schedule_refresh(project_id: int, version: int | None = None) -> None:
    """Ask a worker to recompute once this transaction commits. A page asks once per votes
    `version` a minute per process (it polls); a vote (version None) always asks."""
    if version is not None and not cache.add(
        f"leaderboard-refresh:{project_id}:{version}", 1, timeout=60
    ):
        return
    transaction.on_commit(
        lambda: current_app.send_task(REFRESH_TASK, args=(project_id,), queue="api")
    )


def from_dict(data: dict) -> Leaderboard:
    rows = [ModelRow(**row) for row in data["rows"]]
    return Leaderboard(**{**data, "rows": rows})


def breakdown(project: Project, key: str) -> dict[str, list[tuple[str, float, int]]]:
    """Win rate per model within each value of item metadata `key`."""
    # The item's metadata whole, its key read here: a key with a space or a quote cannot be
    # part of a lookup path, and SQLite's JSON paths cannot name a key with a quote.
    rows = Annotation.objects.filter(
        task__project=project, state=AnnotationState.SUBMITTED
    ).values_list(
        "task__generation__run__model_config__name",
        "task__generation_b__run__model_config__name",
        "answers__verdict",
        "task__generation__item__metadata",
    )
    tally: dict[str, dict[str, list[float]]] = {}
    for left, right, verdict, metadata in rows:
        value = (metadata or {}).get(key)
        score = left_score(verdict)
        if score is None:
            continue
        group = tally.setdefault(str(value), {})
        for name, points in ((left, score), (right, 1 - score)):
            won, games = group.get(name, [0.0, 0])
            group[name] = [won + points, games + 1]
    return {
        value: sorted(
            ((name, won / games, games) for name, (won, games) in g.items()), key=lambda r: -r[1]
        )
        for value, g in sorted(tally.items())
    }


def latest_board(projects) -> tuple[Project, Leaderboard] | None:
    """Of these comparison projects, the one whose stored leaderboard was fitted last, with
    that board as stored (no recount: a page that lists it stays one query)."""
    # By id: `projects` may be DISTINCT, which PostgreSQL cannot order by a JSON key.
    project = (
        Project.objects.filter(pk__in=projects.values("pk"), kind="compare", board__isnull=False)
        .order_by(KT("board__computed_at").desc(nulls_last=True), "-pk")
        .first()
    )
    return (project, from_dict(project.board)) if project else None
