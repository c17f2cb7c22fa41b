"""A judge's answer: the JSON schema it is asked to fill, and the strict parser of what it wrote.

An answer is one JSON object (bare, or inside one ```json fence): "reasoning" (a string), then
one property per question the judge answers. Anything else (prose, two objects, an unknown key,
a value outside its question's range) is AnswerInvalid with the reason, never a label.

A judge answers every question of the project's schema but corrections (it labels outputs; it
does not rewrite them). A comparison is judged on its verdict only, between answer A and answer
B as the judge saw them: "a", "b", "tie" or "both bad".
"""

from __future__ import annotations

import json
import re

from annotate.comparisons.verdicts import VERDICTS
from inference.errors import Invalid

# A and B as the judge saw them, then the verdicts that name no side, as a person's vote has them.
PAIR_VERDICTS = ("a", "b", *VERDICTS[2:])
FENCE = re.compile(r"^```(?:json)?[ \t]*\n(.*)\n```$", re.DOTALL)
SHOWN = 80  # characters of a bad answer quoted in its reason


class AnswerInvalid(Invalid, ValueError):
    """A judge's answer that does not fit the schema; the message says why."""


def judged_questions(questions: list[dict], pairwise: bool) -> list[dict]:
    """The questions a judge answers: a comparison's verdict; else all but corrections."""
    if pairwise:
        return [
            {
                "key": "verdict",
                "label": "Which answer is better?",
                "kind": "single",
                "options": list(PAIR_VERDICTS),
                "required": True,
            }
        ]
    return [q for q in questions if q["kind"] != "correction"]


def _property(question: dict) -> dict:
    kind = question["kind"]
    if kind == "rating":
        return {"type": "integer", "minimum": question["min"], "maximum": question["max"]}
    if kind == "single":
        return {"type": "string", "enum": list(question["options"])}
    if kind == "multi":
        # no uniqueItems: OpenAI's strict schemas refuse it; the parser drops repeats
        return {"type": "array", "items": {"type": "string", "enum": list(question["options"])}}
    if kind == "passfail":
        return {"type": "string", "enum": ["pass", "fail"]}
    return {"type": "string"}


def answer_schema(questions: list[dict], pairwise: bool) -> dict:
    """The JSON schema of an answer: reasoning first (so a model reasons before it decides),
    then one property per judged question. Every property is required and an optional
    question's may be null (OpenAI's strict schemas want every property required)."""
    judged = judged_questions(questions, pairwise)
    properties = {"reasoning": {"type": "string"}}
    for q in judged:
        value = _property(q)
        properties[q["key"]] = value if q["required"] else {"anyOf": [value, {"type": "null"}]}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text[:SHOWN] + ("…" if len(text) > SHOWN else ""))


def _load(text: str) -> dict:
    stripped = text.strip()
    fenced = FENCE.match(stripped)
    body = fenced.group(1).strip() if fenced else stripped
    if not body:
        raise AnswerInvalid("The answer is empty: expected one JSON object.")
    try:
        data = json.loads(body)
    except ValueError:
        raise AnswerInvalid(f"The answer is not one JSON object: {_quote(body)}.") from None
    if not isinstance(data, dict):
        raise AnswerInvalid(f"The answer is JSON but not an object: {_quote(body)}.")
    return data


def _value(question: dict, value):
    """The checked value of one question's answer; AnswerInvalid says what is wrong."""
    key, kind = question["key"], question["kind"]
    if kind == "rating":
        # bool is an int in Python; 4.0 is no integer in the schema either
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnswerInvalid(f"{key}: {value!r} is not an integer.")
        if not question["min"] <= value <= question["max"]:
            raise AnswerInvalid(
                f"{key}: {value} is not from {question['min']} to {question['max']}."
            )
        return value
    if kind == "multi":
        if not isinstance(value, list):
            raise AnswerInvalid(f"{key}: expected a list of options, got {value!r}.")
        unknown = [v for v in value if v not in question["options"]]
        if unknown:
            raise AnswerInvalid(f"{key}: {unknown[0]!r} is not one of {question['options']}.")
        return sorted(set(value), key=question["options"].index)
    if not isinstance(value, str):
        raise AnswerInvalid(f"{key}: expected a string, got {value!r}.")
    allowed = {"single": question.get("options"), "passfail": ["pass", "fail"]}.get(kind)
    if allowed is not None and value not in allowed:
        raise AnswerInvalid(f"{key}: {value!r} is not one of {', '.join(allowed)}.")
    return value


def parse_answer(text: str, questions: list[dict], pairwise: bool) -> tuple[dict, str]:
    """(answers, reasoning) from a judge's output, answers shaped as a person's (empty or null
    values left out); raises AnswerInvalid with the first reason it does not fit.

    1. One JSON object, bare or in one ```json fence; nothing else around it.
    2. No key but "reasoning" and the judged questions' keys.
    3. "reasoning" and every required question present; each value fits its question.
    """
    data = _load(text)
    judged = judged_questions(questions, pairwise)
    known = {"reasoning", *(q["key"] for q in judged)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise AnswerInvalid(f"Unknown key {unknown[0]!r}: the answer has only {sorted(known)}.")
    reasoning = data.get("reasoning")
    if not isinstance(reasoning, str):
        raise AnswerInvalid('"reasoning" is missing or not a string.')
    answers = {}
    for question in judged:
        value = data.get(question["key"])
        if value is not None:
            value = _value(question, value)
        if value not in (None, "", []):
            answers[question["key"]] = value
        elif question["required"]:
            raise AnswerInvalid(f"{question['key']}: an answer is required.")
    return answers, reasoning
