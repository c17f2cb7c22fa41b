"""Label schemas: the questions a project asks about each output, and checking answers.

A question is a dict: {"key", "label", "kind", "required", ...} where kind is
- "rating": an integer from "min" to "max" (e.g. 1-5 quality);
- "single": one of "options"; "multi": any of "options";
- "passfail": "pass" or "fail";
- "text": a free comment; "correction": the output rewritten as the gold answer.
"""

from __future__ import annotations

import re

from inference.errors import Invalid

KINDS = ("rating", "single", "multi", "passfail", "text", "correction")
CATEGORICAL = ("rating", "single", "passfail")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

DEFAULT_QUESTIONS = [
    {"key": "quality", "label": "Quality", "kind": "rating", "min": 1, "max": 5, "required": True},
    {"key": "correct", "label": "Correct?", "kind": "passfail", "required": True},
    {
        "key": "issues",
        "label": "Issues",
        "kind": "multi",
        "required": False,
        "options": ["hallucination", "refusal", "format error", "incomplete"],
    },
    {"key": "comment", "label": "Comment", "kind": "text", "required": False},
    {"key": "correction", "label": "Corrected output", "kind": "correction", "required": False},
]


class SchemaError(Invalid, ValueError):
    """Questions or answers that do not fit the schema; the message says what is wrong."""


def slug(label: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return (key if key and key[0].isalpha() else f"q_{key}")[:40]


def normalize_question(raw: dict) -> dict:
    """A checked question with its defaults filled; SchemaError says what is wrong."""
    label = str(raw.get("label", "")).strip()
    kind = raw.get("kind")
    if not label:
        raise SchemaError("Every question needs a label.")
    if kind not in KINDS:
        raise SchemaError(f"{label}: the kind must be one of {', '.join(KINDS)}.")
    key = raw.get("key") or slug(label)
    if not KEY.match(key):
        raise SchemaError(f"{label}: the key {key!r} must be lower-case letters, digits, _.")
    question = {
        "key": key,
        "label": label,
        "kind": kind,
        "required": bool(raw.get("required", kind in CATEGORICAL)),
    }
    if kind == "rating":
        low, high = int(raw.get("min", 1)), int(raw.get("max", 5))
        if not 0 <= low < high <= 10 or high - low > 9:
            raise SchemaError(
                f"{label}: a rating goes from min to max, within 0-10, with at "
                "most 10 steps (one per number key)."
            )
        question.update(min=low, max=high)
    if kind in ("single", "multi"):
        options = [str(o).strip() for o in raw.get("options", []) if str(o).strip()]
        if len(options) < 2 or len(set(options)) != len(options) or len(options) > 9:
            raise SchemaError(f"{label}: give 2 to 9 different options.")
        question["options"] = options
    return question


def normalize_questions(raw: list[dict]) -> list[dict]:
    questions = [normalize_question(q) for q in raw]
    keys = [q["key"] for q in questions]
    if len(set(keys)) != len(keys):
        raise SchemaError("Two questions have the same key.")
    if not questions:
        raise SchemaError("A project asks at least one question.")
    return questions


def choices(question: dict) -> list[str]:
    """The values a number key picks, in order (1 picks the first)."""
    kind = question["kind"]
    if kind == "rating":
        return [str(v) for v in range(question["min"], question["max"] + 1)]
    if kind == "passfail":
        return ["pass", "fail"]
    return list(question.get("options", []))


def clean_answers(questions: list[dict], data, output: str | None = None) -> dict:
    """Answers from a form (a QueryDict or a dict of lists/values), checked against the
    questions. A correction identical to the `output` it starts from is no correction.
    Raises SchemaError listing every problem."""
    answers, problems = {}, []
    for q in questions:
        values = _values(data, q["key"])
        try:
            value = _clean(q, values)
        except SchemaError as exc:
            problems.append(str(exc))
            continue
        if q["kind"] == "correction" and output is not None and value == _newlines(output):
            value = None
        if value not in (None, "", []):
            answers[q["key"]] = value
        elif q["required"]:
            problems.append(f"{q['label']}: an answer is required.")
    if problems:
        raise SchemaError(" ".join(problems))
    return answers


def _newlines(text: str) -> str:
    """Browsers send text boxes with CRLF line ends; store LF."""
    return text.replace("\r\n", "\n")


def _values(data, key: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(key)
    value = data.get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _clean(q: dict, values: list):
    kind = q["kind"]
    if kind == "multi":
        unknown = [v for v in values if v not in q["options"]]
        if unknown:
            raise SchemaError(f"{q['label']}: unknown option {unknown[0]!r}.")
        return sorted(set(values), key=q["options"].index)
    value = values[-1] if values else None
    if value in (None, ""):
        return None
    if kind in ("text", "correction"):
        return _newlines(str(value))
    if kind == "rating":
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 is infinity
            raise SchemaError(f"{q['label']}: {value!r} is not a number.") from None
        if not q["min"] <= number <= q["max"]:
            raise SchemaError(f"{q['label']}: from {q['min']} to {q['max']}.")
        return number
    if str(value) not in choices(q):
        raise SchemaError(f"{q['label']}: {value!r} is not one of {', '.join(choices(q))}.")
    return str(value)
