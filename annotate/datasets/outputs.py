"""Import of outputs made elsewhere (an eval harness, another API): the items, and one
completed run per model with its outputs and measurements, never sent to a worker
(inference/backends/imported.py).

A file is in the outputs layout when its first record has one of these shapes; every record
must then have the same one:
- `outputs`: the item (any shape of annotate/datasets/records.py) and a list of answers
  `{"model", "output", optional "latency_s", "ttft_s", "prompt_tokens", "output_tokens",
  "cost_usd"}`, at most one per model;
- `response_a` / `response_b` with `model_a` / `model_b`: the item and two answers;
- `model` and `output` (and optionally the measurements) beside the item: one answer a
  record; records of the same conversation and `id` are one item, the first one's other
  fields kept.

Rows are written in batches without model instances: executemany on SQLite, COPY on
PostgreSQL. A bad record names its line and nothing is imported.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import orjson
from django.db import connection
from django.utils import timezone

from annotate.datasets.models import Dataset, Item
from annotate.datasets.records import (
    LineError,
    LineErrors,
    ParsedItem,
    parse_record,
    unstorable,
)
from inference.backends.imported import NAME as IMPORTED
from inference.lifecycle import create_finished_run
from inference.models import Generation, GenerationStatus, ModelConfig, Run

BATCH = 5000
MEASURES = ("latency_s", "ttft_s", "prompt_tokens", "output_tokens", "cost_usd")
ANSWER_KEYS = frozenset({"model", "output", *MEASURES})
PAIR_KEYS = ("response_a", "response_b", "model_a", "model_b")
MODEL_MAX = ModelConfig._meta.get_field("name").max_length
COST_MAX = Decimal(10**6)  # cost_usd: 14 digits, 8 of them decimals
CENT_MILLIONTH = Decimal("1e-8")


def outputs_layout(record) -> str | None:
    """The outputs layout a record has ("outputs", "pair", "flat"), or None."""
    if not isinstance(record, dict):
        return None
    if "outputs" in record:
        return "outputs"
    if "response_a" in record or "response_b" in record:
        return "pair"
    if "model" in record and "output" in record:
        return "flat"
    return None


class Answer(NamedTuple):  # a tuple: made 20,000 times a second
    model: str
    output: str
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: Decimal | None = None


def _number(answer: dict, key: str, where: str, whole: bool = False):
    value = answer.get(key)
    # the common values pass here; any other is explained below
    if value is None or (type(value) is int and 0 <= value < (2**31 if whole else math.inf)):
        return value
    if not whole and type(value) is float and 0 <= value < math.inf:
        return value
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        noun = "a whole number" if whole else "a number"
        raise LineError(f"`{where}.{key}` must be {noun} of 0 or more, not {value!r}")
    if whole and value >= 2**31:
        raise LineError(f"`{where}.{key}` is too large")
    if not whole and not math.isfinite(value):
        raise LineError(f"`{where}.{key}` must be a finite number")
    return value


def parse_answer(value, where: str) -> Answer:
    """One answer object; LineError names the field."""
    if not isinstance(value, dict):
        raise LineError(f"`{where}` must be an object with `model` and `output`")
    if not value.keys() <= ANSWER_KEYS:
        unknown = ", ".join(sorted(map(str, value.keys() - ANSWER_KEYS)))
        raise LineError(f"`{where}` has unknown fields: {unknown}")
    model, output = value.get("model"), value.get("output")
    if not isinstance(model, str) or not model.strip() or len(model) > MODEL_MAX:
        raise LineError(f"`{where}.model` must be a name of 1 to {MODEL_MAX} characters")
    if not isinstance(output, str):
        raise LineError(f"`{where}.output` must be text")
    # The rest of the record goes through parse_record, which checks it the same way.
    if why := unstorable([model, output]):
        raise LineError(f"`{where}` {why}")
    cost = _number(value, "cost_usd", where)
    if cost is not None:
        cost = Decimal(repr(cost)).quantize(CENT_MILLIONTH)
        if cost >= COST_MAX:
            raise LineError(f"`{where}.cost_usd` must be under {COST_MAX}")
    return Answer(
        model,
        output,
        _number(value, "latency_s", where),
        _number(value, "ttft_s", where),
        _number(value, "prompt_tokens", where, True),
        _number(value, "output_tokens", where, True),
        cost,
    )


def parse_row(record, layout: str) -> tuple[ParsedItem, list[Answer]]:
    """A record of the file's layout: its item and answers; LineError says what is wrong."""
    if outputs_layout(record) != layout:
        raise LineError(f"expected the outputs layout of the file's first record ({layout})")
    if layout == "outputs":
        given = record["outputs"]
        if not isinstance(given, list) or not given:
            raise LineError("`outputs` must be a non-empty list of answers")
        answers = [parse_answer(a, f"outputs[{i}]") for i, a in enumerate(given)]
        rest = {k: v for k, v in record.items() if k != "outputs"}
    elif layout == "pair":
        answers = [
            parse_answer(
                {"model": record.get(f"model_{s}"), "output": record.get(f"response_{s}")},
                f"response_{s}",
            )
            for s in "ab"
        ]
        rest = {k: v for k, v in record.items() if k not in PAIR_KEYS}
    else:
        answers = [parse_answer({k: v for k, v in record.items() if k in ANSWER_KEYS}, "answer")]
        rest = {k: v for k, v in record.items() if k not in ANSWER_KEYS}
    models = [a.model for a in answers]
    if len(set(models)) < len(models):
        raise LineError("two answers of the same model")
    return parse_record(rest), answers


@dataclass
class Imported:
    """What an outputs import made, for the page's message and the API."""

    outputs: int = 0
    runs: dict[str, int] = field(default_factory=dict)  # model name -> run id
    project_id: int | None = None


class OutputsWriter:
    """Writes items and their outputs batch by batch into a new dataset."""

    def __init__(self, dataset: Dataset, owner, layout: str) -> None:
        self.dataset, self.owner, self.layout = dataset, owner, layout
        self.now = timezone.now()
        self.runs: dict[str, Run] = {}
        self.item_ids: list[int] = []
        self.items: list[tuple[int, ParsedItem]] = []
        self.outputs: list[tuple[int, Answer]] = []  # (item index, answer)
        self.keys: dict[tuple, int] = {}  # flat layout: conversation and id -> item index
        self.answered: dict[int, set[str]] = {}  # flat layout: the models of each item
        self.done = Imported()

    def add(self, item: ParsedItem, answers: list[Answer]) -> None:
        """Raises LineError for a flat record answering a conversation twice by one model."""
        if self.layout == "flat":
            key = (item.external_id, *(m["content"] for m in item.messages))
            index = self.keys.get(key)
            if index is None:
                index = self.keys[key] = len(self.keys)
                self.items.append((index, item))
            models = self.answered.setdefault(index, set())
            if answers[0].model in models:
                raise LineError(f"a second answer of {answers[0].model!r} to the same prompt")
            models.add(answers[0].model)
        else:
            index = len(self.item_ids) + len(self.items)
            self.items.append((index, item))
        self.outputs.extend((index, a) for a in answers)
        if len(self.outputs) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """The batch's new items, their ids, then its outputs."""
        dataset_id = self.dataset.pk
        rows = [
            (i, p.external_id, _json(p.messages), p.prompt, p.reference, _json(p.metadata))
            for i, p in self.items
        ]
        _write(Item, ITEM_COLUMNS, rows, {"dataset_id": dataset_id})
        if self.items:
            self.item_ids += _item_ids(dataset_id, self.items[0][0])
        self.items = []
        runs = {m: self._run(m).pk for m in {a.model for _, a in self.outputs}}
        # the same for every imported output
        fixed = {
            **{"sample_index": 0, "status": GenerationStatus.DONE.value, "attempts": 1},
            **{"retries": 0, "finished_at": _datetime(self.now)},
            **dict.fromkeys(("finish_reason", "error", "backend_version", "machine", "worker"), ""),
        }
        ids = self.item_ids
        rows = [
            (
                runs[a.model],
                ids[i],
                a.output,
                a.prompt_tokens,
                a.output_tokens,
                a.ttft_s,
                a.latency_s,
                a.cost_usd,
            )
            for i, a in self.outputs
        ]
        _write(Generation, GENERATION_COLUMNS, rows, fixed)
        self.done.outputs += len(rows)
        self.outputs = []

    def _run(self, model: str) -> Run:
        run = self.runs.get(model)
        if run is None:
            params = {
                "backend": IMPORTED,
                "model": model,
                "imported_from": self.dataset.source_filename,
                "imported_at": self.now.isoformat(),
                "imported_by": self.owner.get_username(),
            }
            fields = {"backend": IMPORTED, "model": model}
            run = self.runs[model] = create_finished_run(
                self.dataset, self.owner, model, fields, params, self.now
            )
        return run

    def finish(self) -> Imported:
        self.flush()
        for model, run in self.runs.items():
            Run.objects.filter(pk=run.pk).update(total=run.generations.count())
            self.done.runs[model] = run.pk
        return self.done


def import_outputs(dataset: Dataset, records, owner, layout: str, unit: str = "line") -> Imported:
    """Write the records (line number, record, read error) of an outputs file into
    `dataset`; ImportFailed names the bad lines (the caller's transaction is rolled back)."""
    writer = OutputsWriter(dataset, owner, layout)
    errors = LineErrors(unit)
    with _cycles_uncollected():
        for number, record, error in records:
            if not error:
                try:
                    item, answers = parse_row(record, layout)
                    if not errors.total:  # after a bad line, read on to report all, write nothing
                        writer.add(item, answers)
                except LineError as exc:
                    error = str(exc)
            if error:
                errors.add(number, error)
    errors.raise_any()
    return writer.finish()


@contextlib.contextmanager
def _cycles_uncollected():
    """Python's cycle collector paused: each line makes a dozen containers, freed by reference
    counting, which set it off again and again to walk all the process's objects for none
    (a fifth of the import's time)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


ITEM_COLUMNS = ("index", "external_id", "messages", "prompt", "reference", "metadata")
GENERATION_COLUMNS = (
    *("run_id", "item_id", "output", "prompt_tokens", "output_tokens", "ttft_s", "latency_s"),
    "cost_usd",
)
_json_text = json.JSONEncoder(ensure_ascii=False).encode


def _json(value) -> str:
    """JSON text as the database keeps it: by orjson (7x faster), or json for an integer
    beyond 64 bits, which orjson refuses (parse_record has refused what neither writes)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _json_text(value)


def _datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def _write(model, columns: tuple[str, ...], rows: list[tuple], fixed: dict) -> None:
    """Insert rows as they are, each with the `fixed` values of other columns: COPY on
    PostgreSQL, one executemany elsewhere with the fixed values in its SQL, bound once."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table, names = quote(model._meta.db_table), ", ".join(map(quote, (*columns, *fixed)))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            rest = tuple(fixed.values())
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + rest)
            return
        marks = ", ".join(["%s"] * len(columns) + [_literal(v) for v in fixed.values()])
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _literal(value: int | str) -> str:
    """An SQL literal of one of our own constants (a %% is how Django's cursor writes %)."""
    if isinstance(value, int):
        return str(int(value))
    return "'" + value.replace("'", "''").replace("%", "%%") + "'"


def _item_ids(dataset_id: int, first: int) -> list[int]:
    """The ids of the dataset's items from index `first` on, in order (the unique index on
    dataset and index serves it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(Item._meta.db_table)} "
            f"WHERE dataset_id = %s AND {connection.ops.quote_name('index')} >= %s "
            f"ORDER BY {connection.ops.quote_name('index')}",
            [dataset_id, first],
        )
        return [row[0] for row in cursor.fetchall()]
