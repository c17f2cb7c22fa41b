"""How far to trust a judge run: its agreement with people (annotate/judges/agreement.py),
optionally beside an earlier rubric version's, and the owner's "use its labels"."""

# No `from __future__ import annotations`: ninja reads the endpoints' annotations.

from datetime import datetime

from ninja import Query, Router, Schema

from annotate.api.types import Id
from annotate.judges import actions
from annotate.judges.access import get_judge_run_for_user
from annotate.judges.agreement import compare_runs, judge_agreement

router = Router(tags=["judges"])


class AgreementQuery(Schema):
    against: Id | None = None  # another judge run of the project: the two compared


class AcceptedOut(Schema):
    id: int
    accepted_at: datetime | None


@router.get("/judge-runs/{judge_run_id}/agreement", response=dict)
def get_judge_agreement(request, judge_run_id: Id, query: Query[AgreementQuery]):
    """Per question: the judge's kappa with people [95% interval], percent, items, people's
    own kappa (the ceiling), what it means; the confusion matrices; the items where they
    disagree most; the human sample; for comparisons both leaderboards and their rank
    correlation. With `against`: kappa between the two runs on the items both judged."""
    judge_run = get_judge_run_for_user(request.user, judge_run_id)
    out = judge_agreement(judge_run)
    if query.against is not None:
        other = get_judge_run_for_user(request.user, query.against)
        out["versions"] = compare_runs(other, judge_run)
    return out


@router.post("/judge-runs/{judge_run_id}/accept", response=AcceptedOut)
def accept_judge_run(request, judge_run_id: Id):
    """Use this judge run's labels (its project's owners), after seeing its agreement."""
    judge_run = actions.accept_judge_run(request.user, judge_run_id)
    return {"id": judge_run.pk, "accepted_at": judge_run.accepted_at}
