"""Agreement figures against values computed by hand."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from annotate.labeling.agreement import disagreements, question_agreement

RATING = {"key": "q", "label": "Quality", "kind": "rating", "min": 1, "max": 3, "required": True}
PASS = {"key": "ok", "label": "Correct?", "kind": "passfail", "required": True}
MULTI = {
    "key": "tags",
    "label": "Issues",
    "kind": "multi",
    "options": ["a", "b"],
    "required": False,
}


def labels(rows: list[tuple]) -> dict:
    """rows of (item, annotator, answers)"""
    out: dict = {}
    for item, annotator, answers in rows:
        out.setdefault(item, {})[annotator] = answers
    return out


def test_two_annotators_percent_agreement_and_cohens_kappa_by_hand():
    # A: pass pass fail fail ; B: pass fail fail fail
    data = labels(
        [
            (1, 1, {"ok": "pass"}),
            (1, 2, {"ok": "pass"}),
            (2, 1, {"ok": "pass"}),
            (2, 2, {"ok": "fail"}),
            (3, 1, {"ok": "fail"}),
            (3, 2, {"ok": "fail"}),
            (4, 1, {"ok": "fail"}),
            (4, 2, {"ok": "fail"}),
        ]
    )
    [row] = question_agreement(PASS, data)
    assert row.items == 4 and row.pairs == 4
    assert row.percent == pytest.approx(0.75)
    # po = 0.75; pe = P(pass)A*P(pass)B + P(fail)A*P(fail)B = .5*.25 + .5*.75 = 0.5
    assert row.cohen_kappa == pytest.approx((0.75 - 0.5) / (1 - 0.5))


def test_krippendorffs_alpha_nominal_by_hand():
    # Three coders, two items: item 1 all "pass"; item 2 two "pass", one "fail".
    data = labels(
        [
            (1, 1, {"ok": "pass"}),
            (1, 2, {"ok": "pass"}),
            (1, 3, {"ok": "pass"}),
            (2, 1, {"ok": "pass"}),
            (2, 2, {"ok": "pass"}),
            (2, 3, {"ok": "fail"}),
        ]
    )
    [row] = question_agreement(PASS, data)
    # Coincidences: n=6 values; pass=5, fail=1. Observed disagreement Do = (2*2*1/2)/6 = 2/6
    # (item 2: 2 pass-fail pairs each way over m-1=2 -> o(pass,fail)=o(fail,pass)=1).
    # Expected De = 2*5*1/(6*5) = 1/3. alpha = 1 - Do/De = 1 - (1/3)/(1/3) = 0.
    assert row.kripp_alpha == pytest.approx(0.0)
    assert row.percent == pytest.approx(4 / 6)  # item 1: 3 of 3 pairs agree; item 2: 1 of 3


def test_ratings_use_quadratic_weights():
    near = labels(
        [
            (i, a, {"q": v})
            for i, (x, y) in enumerate([(1, 1), (2, 3), (3, 3), (1, 2)])
            for a, v in ((1, x), (2, y))
        ]
    )
    [row] = question_agreement(RATING, near)
    assert row.percent == pytest.approx(0.5)
    assert row.cohen_kappa > 0.5  # near misses count as partial agreement


def test_multi_choice_is_scored_option_by_option_and_undefined_cases_say_so():
    data = labels([(1, 1, {"tags": ["a"]}), (1, 2, {"tags": ["a", "b"]})])
    rows = question_agreement(MULTI, data)
    assert [r.label for r in rows] == ["Issues: a", "Issues: b"]
    assert rows[0].percent == 1.0 and rows[1].percent == 0.0
    assert rows[0].cohen_kappa is None  # one shared item: too few
    lonely = question_agreement(PASS, labels([(1, 1, {"ok": "pass"})]))[0]
    assert lonely.items == 0 and lonely.percent is None and lonely.notes


def test_disagreements_lists_items_whose_labels_differ():
    data = labels(
        [
            (1, 1, {"ok": "pass"}),
            (1, 2, {"ok": "pass"}),
            (2, 1, {"ok": "pass"}),
            (2, 2, {"ok": "fail"}),
            (3, 1, {"ok": "fail", "comment": "x"}),
            (3, 2, {"ok": "fail"}),
        ]
    )
    assert disagreements([PASS], data) == [2]


# The example on a 1-5 question: values 2 and 3 are never used.
RATED_A = [1, 5, 1, 5, 4, 4, 1, 5]
RATED_B = [5, 1, 1, 5, 4, 5, 1, 4]
ONE_TO_FIVE = {**RATING, "max": 5}


def rated_a_and_b() -> dict:
    pairs = enumerate(zip(RATED_A, RATED_B, strict=True))
    return labels([(i, a, {"q": v}) for i, pair in pairs for a, v in enumerate(pair)])


def quadratic_kappa_by_hand(a: list[int], b: list[int], scale: range) -> float:
    """1 - sum(w * observed) / sum(w * expected), w = (i - j)^2 on the scale's values."""
    n = len(a)
    observed = sum((x - y) ** 2 for x, y in zip(a, b, strict=True))
    expected = sum(a.count(i) * b.count(j) * (i - j) ** 2 for i in scale for j in scale) / n
    return 1 - observed / expected


def test_rating_kappa_is_weighted_on_the_questions_whole_scale():
    data = rated_a_and_b()
    [row] = question_agreement(ONE_TO_FIVE, data)
    # By hand: observed 34, expected 408/8 = 51, so 1 - 34/51 = 1/3 (on ranks 1,4,5 -> 0,1,2
    # it would be 1 - 10/12 = 0.167, the figure the app used to show).
    assert quadratic_kappa_by_hand(RATED_A, RATED_B, range(1, 6)) == pytest.approx(1 / 3)
    truth = cohen_kappa_score(RATED_A, RATED_B, labels=list(range(1, 6)), weights="quadratic")
    assert truth == pytest.approx(1 / 3)
    assert row.cohen_kappa == pytest.approx(truth)


def test_rating_alpha_is_ordinal_on_the_questions_whole_scale():
    data = rated_a_and_b()
    [row] = question_agreement(ONE_TO_FIVE, data)
    truth = krippendorff.alpha(
        reliability_data=np.array([RATED_A, RATED_B], dtype=float),
        level_of_measurement="ordinal",
        value_domain=list(range(1, 6)),
    )
    assert row.kripp_alpha == pytest.approx(truth)
    assert truth == pytest.approx(0.21875)


def test_labels_off_an_edited_scale_are_left_out_and_said_so():
    data = labels([(1, 1, {"q": 1}), (1, 2, {"q": 5}), (2, 1, {"q": 1}), (2, 2, {"q": 2})])
    [row] = question_agreement(RATING, data)  # now 1-3: the 5 no longer fits
    assert row.items == 1 and row.percent == 0.0
    assert "1 label outside the question's scale left out." in row.notes
