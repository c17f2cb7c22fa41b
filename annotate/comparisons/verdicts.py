"""A comparison vote's verdict and what it scores: the one definition the leaderboard, the
statistics' win rate and the breakdowns share.

A win scores 1, a loss 0, a tie and "both bad" half a win each, as on Chatbot Arena. A vote
without a verdict (or with one that is not among VERDICTS) is no vote: it counts nowhere.
"""

from __future__ import annotations

VERDICTS = ("left", "right", "tie", "both bad")
# The left model's score for each verdict; the right model scores 1 minus it.
LEFT_SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5, "both bad": 0.5}


def left_score(verdict: object) -> float | None:
    """The left model's score for one vote; None when the vote has no verdict."""
    return LEFT_SCORE.get(verdict) if isinstance(verdict, str) else None
