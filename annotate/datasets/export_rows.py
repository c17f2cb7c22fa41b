"""A row of Annotate's own full JSONL export, checked before anything of it is written: its
item, its output with the run's parameters and measurements, the definitions of the projects
its labels and votes belong to, its labels and final labels, and its comparison votes (each
checked against its project's questions). Rows of schema versions 1 (no votes) and 2."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotate.datasets.records import ParsedItem, parse_record
from annotate.labeling.kinds import questions_for
from annotate.labeling.models import Project, ProjectKind
from annotate.labeling.questions import SchemaError, clean_answers
from inference.backends import BACKENDS

MEASURES_INT = ("prompt_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
MEASURES_FLOAT = ("ttft_s", "latency_s", "decode_tps", "prefill_tps", "peak_memory_mb")
SCHEMA_VERSIONS = (1, 2)  # annotate/exports/formats.py's SCHEMA_VERSION, and those before


class RowError(ValueError):
    """What is wrong with one exported row."""


def is_export_row(record) -> bool:
    """Whether a parsed line is a row of Annotate's full JSONL export."""
    return (
        isinstance(record, dict)
        and "schema_version" in record
        and isinstance(record.get("item"), dict)
        and isinstance(record.get("generation"), dict)
    )


def _obj(record: dict, key: str, where: str) -> dict:
    value = record.get(key)
    if not isinstance(value, dict):
        raise RowError(f"`{where}` must be an object")
    return value


def _int(value, where: str, optional: bool = False, limit: int = 2**31) -> int | None:
    """A whole number from 0 to below limit (by default what an integer column holds; ids
    of the exporting instance are only keys, up to 2**63)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise RowError(f"`{where}` must be a whole number from 0 to {limit - 1}")
    return value


def _key(value, where: str) -> int:
    return _int(value, where, limit=2**63)


def _float(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"`{where}` must be a number")
    return float(value)


def _str(value, where: str, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str) or (not optional and not value.strip()):
        raise RowError(f"`{where}` must be {'text' if optional else 'non-empty text'}")
    return value


def _when(value, where: str):
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date or time
        parsed = None
    if parsed is None:
        raise RowError(f"`{where}` must be an ISO 8601 date and time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def _cost(value) -> Decimal | None:
    if value is None:
        return None
    try:
        cost = Decimal(str(_float(value, "measurements.cost_usd")))
    except InvalidOperation as exc:
        raise RowError("`measurements.cost_usd` must be a number") from exc
    if not cost.is_finite() or abs(cost) >= 10**6:
        raise RowError("`measurements.cost_usd` is out of range")
    return cost.quantize(Decimal("1e-8"))


@dataclass
class CheckedRow:
    """One exported row, checked; ids are the exporting instance's."""

    row_id: int
    item_id: int
    item: ParsedItem
    run_id: int
    config_name: str
    params: dict
    generation: dict
    labels: list[dict]
    finals: list[dict]
    projects: dict[int, dict]
    votes: list[dict]


def check_row(record: dict) -> CheckedRow:
    """The row's parts, checked; RowError names the first problem."""
    if record.get("schema_version") not in SCHEMA_VERSIONS:
        raise RowError(
            f"`schema_version` must be one of {', '.join(map(str, SCHEMA_VERSIONS))}: "
            "a file of a newer Annotate"
        )
    item = _obj(record, "item", "item")
    gen = _obj(record, "generation", "generation")
    measures = record.get("measurements") or {}
    if not isinstance(measures, dict):
        raise RowError("`measurements` must be an object")
    parsed = parse_record(
        {
            "messages": item.get("messages"),
            "reference": item.get("reference") or "",
            "id": item.get("external_id") or None,
            "metadata": item.get("metadata") or {},
        }
    )
    params = _obj(gen, "params", "generation.params")
    if not isinstance(params.get("backend"), str) or params["backend"] not in BACKENDS:
        raise RowError(f"`generation.params.backend` must be one of {', '.join(BACKENDS)}")
    _str(params.get("model"), "generation.params.model", optional=False)
    generation = {
        "sample_index": _int(gen.get("sample_index", 0), "generation.sample_index"),
        "output": _str(gen.get("output"), "generation.output"),
        "finish_reason": _str(gen.get("finish_reason"), "generation.finish_reason")[:40],
        "error": _str(gen.get("error"), "generation.error"),
        "cost_usd": _cost(measures.get("cost_usd")),
        "concurrency": _int(measures.get("concurrency"), "measurements.concurrency", True),
        "backend_version": _str(measures.get("backend_version"), "backend_version")[:100],
        "machine": _str(measures.get("machine"), "measurements.machine")[:200],
        "finished_at": _when(measures.get("finished_at"), "measurements.finished_at"),
    }
    for key in MEASURES_INT:
        generation[key] = _int(measures.get(key), f"measurements.{key}", optional=True)
    for key in MEASURES_FLOAT:
        generation[key] = _float(measures.get(key), f"measurements.{key}")
    projects = _projects(record.get("projects"))
    label_projects = {pk: p for pk, p in projects.items() if p["kind"] == ProjectKind.LABEL}
    compare_projects = {pk: p for pk, p in projects.items() if p["kind"] == ProjectKind.COMPARE}
    return CheckedRow(
        row_id=_key(record.get("id"), "id"),
        item_id=_key(item.get("id"), "item.id"),
        item=parsed,
        run_id=_key(gen.get("run_id"), "generation.run_id"),
        config_name=_str(gen.get("model_config"), "generation.model_config", optional=False)[:200],
        params=params,
        generation=generation,
        labels=_labels(record.get("labels"), "labels", label_projects, "annotator"),
        finals=_labels(record.get("final"), "final", label_projects, "reviewer"),
        projects=projects,
        votes=_votes(record.get("comparisons"), compare_projects),
    )


def _projects(definitions) -> dict[int, dict]:
    """The row's project definitions by the exporting instance's id, checked."""
    if definitions is None:
        return {}
    if not isinstance(definitions, list):
        raise RowError("`projects` must be a list")
    projects = {}
    for n, definition in enumerate(definitions):
        here = f"projects[{n}]"
        if not isinstance(definition, dict):
            raise RowError(f"`{here}` must be an object")
        pk = _key(definition.get("id"), f"{here}.id")
        kind = definition.get("kind", ProjectKind.LABEL)
        if kind not in ProjectKind.values:
            raise RowError(f"`{here}.kind` must be one of {', '.join(ProjectKind.values)}")
        per_item = _int(definition.get("pairs_per_item"), f"{here}.pairs_per_item", True)
        fields = {
            "kind": kind,
            "name": _str(definition.get("name"), f"{here}.name", optional=False)[:200],
            "description": _str(definition.get("description"), f"{here}.description"),
            "guidelines": _str(definition.get("guidelines"), f"{here}.guidelines"),
            "overlap": max(1, min(_int(definition.get("overlap", 1), "overlap") or 1, 100)),
            "blind": bool(definition.get("blind", True)),
            "pairs_per_item": min(per_item, 1000) if per_item else None,
            "side_ratings": bool(definition.get("side_ratings", False)),
        }
        try:  # a comparison's questions are its kind's, whatever the file says
            fields["questions"] = questions_for(
                Project(**fields), definition.get("questions") or []
            )
        except (SchemaError, TypeError, ValueError, AttributeError) as exc:
            raise RowError(f"`{here}.questions`: {exc}") from exc
        projects[pk] = fields
    return projects


def _votes(value, projects: dict[int, dict]) -> list[dict]:
    """The row's comparison votes: those of its labels, with the side this output was shown
    on and the row id of the output beside it."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError("`comparisons` must be a list")
    votes = _labels(value, "comparisons", projects, "annotator")
    for n, (vote, entry) in enumerate(zip(votes, value, strict=True)):
        if entry.get("side") not in ("left", "right"):
            raise RowError(f"`comparisons[{n}].side` must be left or right")
        vote["side"] = entry["side"]
        vote["other"] = _key(entry.get("other"), f"comparisons[{n}].other")
    return votes


def _labels(value, where: str, projects: dict[int, dict], person: str) -> list[dict]:
    """Labels (or final labels) of a row, their answers checked against their project."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError(f"`{where}` must be a list")
    out = []
    for n, label in enumerate(value):
        here = f"{where}[{n}]"
        if not isinstance(label, dict):
            raise RowError(f"`{here}` must be an object")
        project = _key(label.get("project"), f"{here}.project")
        if project not in projects:
            raise RowError(
                f"`{here}.project` {project} is not among the row's `projects` of its kind"
            )
        answers = label.get("answers")
        if not isinstance(answers, dict):
            raise RowError(f"`{here}.answers` must be an object")
        try:
            answers = clean_answers(projects[project]["questions"], answers)
        except (SchemaError, TypeError, ValueError) as exc:
            raise RowError(f"`{here}.answers`: {exc}") from exc
        name = label.get(person)
        out.append(
            {
                "project": project,
                "answers": answers,
                "user": None if name is None else _str(name, f"{here}.{person}", False),
                "time_spent_s": _float(label.get("time_spent_s"), f"{here}.time_spent_s") or 0,
                "at": _when(
                    label.get("submitted_at" if person == "annotator" else "reviewed_at"),
                    here,
                ),
            }
        )
    if person == "annotator" and any(label["user"] is None for label in out):
        raise RowError(f"every label in `{where}` needs its annotator")
    return out
