"""Comparison projects' rules, registered with labeling's kinds: their tasks are pairs of
outputs, their questions fixed. Imported once by AnnotateConfig.ready()."""

from __future__ import annotations

from annotate.comparisons.leaderboard import schedule_refresh
from annotate.comparisons.pairs import compare_questions, sync_pairs
from annotate.labeling.kinds import KindRules, register
from annotate.labeling.models import ProjectKind

register(
    ProjectKind.COMPARE,
    KindRules(
        build_tasks=sync_pairs,
        fixed_questions=compare_questions,
        # each vote asks a worker to recount the leaderboard (annotate/comparisons/tasks.py)
        after_submit=schedule_refresh,
    ),
)
