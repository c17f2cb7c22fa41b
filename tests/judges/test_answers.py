"""The strict parser of a judge's answer, and the schema it is asked to fill."""

from __future__ import annotations

import json

import jsonschema_rs
import pytest

from annotate.judges.answers import AnswerInvalid, answer_schema, parse_answer
from annotate.labeling.questions import DEFAULT_QUESTIONS

GOOD = {
    "reasoning": "Correct and complete.",
    "quality": 4,
    "correct": "pass",
    "issues": ["incomplete"],
    "comment": "Fine.",
}


def test_a_good_answer_gives_answers_shaped_as_a_persons_and_the_reasoning():
    answers, reasoning = parse_answer(json.dumps(GOOD), DEFAULT_QUESTIONS, pairwise=False)
    assert answers == {
        "quality": 4,
        "correct": "pass",
        "issues": ["incomplete"],
        "comment": "Fine.",
    }
    assert reasoning == "Correct and complete."


def test_an_answer_in_one_json_fence_is_read():
    text = "```json\n" + json.dumps(GOOD, indent=2) + "\n```"
    answers, _ = parse_answer(text, DEFAULT_QUESTIONS, pairwise=False)
    assert answers["quality"] == 4


def test_optional_questions_may_be_left_out_or_empty():
    text = json.dumps({"reasoning": "ok", "quality": 2, "correct": "fail", "issues": []})
    answers, _ = parse_answer(text, DEFAULT_QUESTIONS, pairwise=False)
    assert answers == {"quality": 2, "correct": "fail"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("def answer_3():\n    return 3", "not one JSON object"),
        ('Sure! {"reasoning": "x", "quality": 3, "correct": "pass"}', "not one JSON object"),
        ("[1, 2]", "not an object"),
        (json.dumps({**GOOD, "correct": "maybe"}), "correct: 'maybe' is not one of pass, fail"),
        (json.dumps({**GOOD, "quality": 9}), "quality: 9 is not from 1 to 5"),
        (json.dumps({**GOOD, "quality": 4.0}), "quality: 4.0 is not an integer"),
        (json.dumps({**GOOD, "quality": True}), "quality: True is not an integer"),
        (json.dumps({**GOOD, "issues": ["typo"]}), "issues: 'typo' is not one of"),
        (json.dumps({**GOOD, "verdict": "a"}), "Unknown key 'verdict'"),
        (json.dumps({**GOOD, "correction": "x"}), "Unknown key 'correction'"),
        (
            json.dumps({k: v for k, v in GOOD.items() if k != "quality"}),
            "quality: an answer is required",
        ),
        (json.dumps({k: v for k, v in GOOD.items() if k != "reasoning"}), '"reasoning" is missing'),
        ("```json\n{}\n```\n```json\n{}\n```", "not one JSON object"),
    ],
)
def test_an_answer_that_does_not_fit_is_refused_with_the_reason(text, reason):
    with pytest.raises(AnswerInvalid, match=reason.replace("(", r"\(")):
        parse_answer(text, DEFAULT_QUESTIONS, pairwise=False)


def test_a_pair_is_judged_on_its_verdict_between_a_and_b():
    questions = [
        {
            "key": "verdict",
            "label": "V",
            "kind": "single",
            "required": True,
            "options": ["left", "right", "tie", "both bad"],
        }
    ]
    answers, _ = parse_answer('{"reasoning": "B is right", "verdict": "b"}', questions, True)
    assert answers == {"verdict": "b"}
    with pytest.raises(AnswerInvalid, match="'left' is not one of a, b, tie, both bad"):
        parse_answer('{"reasoning": "", "verdict": "left"}', questions, True)


def test_the_schema_accepts_what_the_parser_accepts_and_refuses_the_rest():
    schema = answer_schema(DEFAULT_QUESTIONS, pairwise=False)
    jsonschema_rs.meta.validate(schema)  # an independent validator: a valid schema
    assert list(schema["properties"])[0] == "reasoning"
    assert schema["required"] == ["reasoning", "quality", "correct", "issues", "comment"]
    validator = jsonschema_rs.validator_for(schema)
    assert validator.is_valid(GOOD)
    optional_null = {**GOOD, "issues": None, "comment": None}
    assert validator.is_valid(optional_null)
    assert parse_answer(json.dumps(optional_null), DEFAULT_QUESTIONS, False)[0] == {
        "quality": 4,
        "correct": "pass",
    }
    for bad in (
        {**GOOD, "quality": 9},
        {**GOOD, "extra": 1},
        {**GOOD, "correct": "maybe"},
        {**GOOD, "quality": None},
    ):
        assert not validator.is_valid(bad)
        with pytest.raises(AnswerInvalid):
            parse_answer(json.dumps(bad), DEFAULT_QUESTIONS, pairwise=False)
