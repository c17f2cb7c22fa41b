"""What the import's property tests share: hypothesis strategies for records and files (JSONL,
CSV, Parquet, damaged ones, uploads) and what every import promises (checked by `imports`)."""

from __future__ import annotations

import contextlib
import csv
import datetime
import decimal
import io
import json
import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction
from hypothesis import HealthCheck, event
from hypothesis import strategies as st

from annotate.datasets.importing import ImportFailed, ParsedItem, import_dataset, parse_record
from annotate.datasets.models import Dataset, Item
from annotate.datasets.readers import READERS, detect_format

# The owner fixture is made once per test and shared by its examples, each of which undoes
# its own writes; database=None: no example database left in the work tree.
FUZZ = dict(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)
KEYS = (
    "prompt",
    "system",
    "messages",
    "conversations",
    "instruction",
    "input",
    "output",
    "chosen",
    "rejected",
    "metadata",
    "id",
)
# A .json file whose lines start with `[` is read as one array: its errors name elements.
LINE_ERROR = re.compile(r"(line [1-9][0-9]*|element (0|[1-9][0-9]*)): \S")
FILE_ERROR = re.compile(
    r".+: (no items found|unknown file type; use .json, .jsonl, .csv or .parquet)$"
)

# --- strategies ---------------------------------------------------------------------------

# Any code point, lone surrogates and NUL included.
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
texts = st.one_of(
    st.text(max_size=12),
    any_text,
    st.sampled_from(["user", "assistant", "system", "human", "gpt", "bot", "", " ", "\x00"]),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),  # NaN and the infinities too
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def turns(role: str, content: str) -> st.SearchStrategy:
    turn = st.fixed_dictionaries({role: texts | json_values, content: texts}) | json_values
    return st.lists(turn, max_size=4)


VALUES = {
    "messages": turns("role", "content") | json_values,
    "conversations": turns("from", "value") | json_values,
    "prompt": texts | turns("role", "content") | json_values,
    "chosen": texts | turns("role", "content") | json_values,
    "rejected": texts | turns("role", "content") | json_values,
    "metadata": st.dictionaries(texts, json_values, max_size=3) | json_values,
}
# What a good record holds: text without NUL (no text field can hold one), a prompt with
# something to say, JSON that a database can store.
# (Giving exclude_characters lifts hypothesis's default exclusion of surrogates: name both.)
clean_chars = st.characters(exclude_characters="\x00", exclude_categories=("Cs",))
clean_text = st.text(clean_chars)
prompt_texts = st.text(clean_chars, min_size=1).filter(str.strip)
clean_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | clean_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(clean_text, inner, max_size=3),
    max_leaves=8,
)
ROLE = st.sampled_from(["system", "user", "assistant"])
chat = st.builds(
    lambda history, prompt, answer: [*history, {"role": "user", "content": prompt}, *answer],
    st.lists(st.fixed_dictionaries({"role": ROLE, "content": clean_text}), max_size=2),
    prompt_texts,
    st.lists(
        st.fixed_dictionaries({"role": st.just("assistant"), "content": clean_text}), max_size=1
    ),
)
good_records = st.builds(
    lambda shape, rest: {**rest, **shape},
    st.one_of(
        st.fixed_dictionaries({"prompt": prompt_texts}, optional={"system": clean_text}),
        st.fixed_dictionaries({"messages": chat}),
        st.fixed_dictionaries({"instruction": prompt_texts}, optional={"input": clean_text}),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.text(clean_chars, max_size=200) | st.integers(),
            "output": clean_text,
            "chosen": clean_text,
            "metadata": st.dictionaries(clean_text, clean_json, max_size=3),
            "source": clean_json,
        },
    ),
)
records = st.one_of(
    good_records,
    st.builds(
        lambda known, extra: {**extra, **known},
        st.lists(st.sampled_from(KEYS), unique=True, max_size=5).flatmap(
            lambda keys: st.fixed_dictionaries(
                {k: VALUES.get(k, texts | json_values) for k in keys}
            )
        ),
        st.dictionaries(texts, json_values, max_size=2),
    ),
    json_values,  # a line that is JSON but not an object
)
# Lines that break parsers: too many digits, too deep, numbers JSON cannot hold, surrogates,
# NUL, an over-long id, invalid UTF-8, a stray byte order mark.
NASTY_LINES = st.sampled_from(
    [
        b"9" * 5000,
        b'{"prompt": "a", "n": ' + b"9" * 5000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"prompt": "a", "metadata": ' + b'{"a": ' * 600 + b"1" + b"}" * 600 + b"}",
        b'{"prompt": "a", "x": NaN}',
        b'{"prompt": "a", "x": 1e999}',
        b'{"prompt": "a", "metadata": {"x": -Infinity}}',
        b'{"prompt": "\\ud800"}',
        b'{"prompt": "a", "\\udc00": 1}',
        b'{"prompt": "a\\u0000"}',
        b'{"prompt": "a", "id": "' + b"x" * 300 + b'"}',
        b'{"prompt": "a", "id": ' + b"7" * 250 + b"}",
        b'{"messages": [{"role": [], "content": "a"}]}',
        b'{"prompt": "\xed\xa0\x80"}',
        b"\xff\xfe",
        b"\x00",
        b"\xef\xbb\xbf",
        b"null",
        b'"prompt"',
        b"{}",
    ]
)
BLANK_LINES = st.sampled_from([b"", b" ", b"\t", b"\r", b" \t\r"])


def encode(value, ascii_only: bool) -> bytes:
    # surrogatepass: a lone surrogate written raw is invalid UTF-8, as some tools write it.
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


any_lines = st.one_of(
    st.builds(encode, records, st.booleans()),
    NASTY_LINES,
    BLANK_LINES,
    st.binary(max_size=16),
)
good_lines = st.builds(encode, good_records, st.booleans()) | BLANK_LINES


@st.composite
def jsonl_files(draw) -> bytes:
    """Lines of good records (and blank ones), or of anything at all."""
    lines = draw(st.lists(draw(st.sampled_from([good_lines, any_lines])), max_size=8))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    return bom + end.join(lines) + draw(st.sampled_from([b"", end]))


cells = st.one_of(
    st.sampled_from(["9" * 5000, "[" * 50_000 + "]" * 50_000, '{"a": NaN}', '{"a": "\\ud800"}']),
    st.text(max_size=12),
    st.builds(json.dumps, json_values),
    st.builds(json.dumps, turns("role", "content")),
    st.text(st.sampled_from(',"\r\n\x00 ab{[]}'), max_size=12),
)
# Column names that are kept as metadata.
other_names = st.text(max_size=6).filter(lambda n: n not in (*KEYS, "reference", "response"))


@st.composite
def csv_files(draw) -> bytes:
    """A prompt column of good prompts and other columns of any text; or any header and
    cells, rows of any length, and a broken tail."""
    good = draw(st.booleans())
    if good:
        header = ["prompt", *draw(st.lists(other_names, max_size=3))]
        cell = clean_text
    else:
        header = draw(st.lists(st.sampled_from(KEYS) | st.text(max_size=6), min_size=1, max_size=5))
        cell = cells
    n = len(header)
    row = st.tuples(prompt_texts, st.lists(cell, min_size=n - 1, max_size=n - 1))
    rows = (
        draw(st.lists(row.map(lambda r: [r[0], *r[1]]), min_size=1, max_size=6))
        if good
        else draw(st.lists(st.lists(cells, max_size=n + 1), max_size=6))
    )
    out = io.StringIO(newline="")
    csv.writer(out).writerows([header, *rows])
    text = out.getvalue()
    if not good and draw(st.booleans()):  # an open quote, a stray byte
        text += draw(st.text(st.sampled_from(',"\r\n\x00a\ud800'), max_size=8))
    return text.encode("utf-8", "surrogatepass")


raw_csv = st.text(st.sampled_from(',"\r\n\x00 ab\ufeff'), max_size=40).map(str.encode)
pa_texts = st.text(max_size=12) | st.builds(json.dumps, json_values)  # pyarrow refuses surrogates
TURN = pa.struct([("role", pa.string()), ("content", pa.string())])
UTC = datetime.UTC
PARQUET_TYPES = {
    pa.string(): pa_texts,
    pa.large_string(): pa_texts,
    pa.dictionary(pa.int32(), pa.string()): pa_texts,
    pa.int64(): st.integers(-(2**63), 2**63 - 1),
    pa.uint64(): st.integers(0, 2**64 - 1),
    pa.float64(): st.floats(),
    pa.bool_(): st.booleans(),
    pa.binary(): st.binary(max_size=8),
    pa.timestamp("us", tz="UTC"): st.datetimes(timezones=st.just(UTC)),
    pa.timestamp("ns"): st.integers(-(2**62), 2**62),
    pa.date32(): st.dates(),
    pa.time64("us"): st.times(),
    pa.duration("s"): st.integers(-(10**9), 10**9).map(lambda s: datetime.timedelta(seconds=s)),
    pa.decimal128(12, 2): st.decimals(places=2, min_value=-(10**9), max_value=10**9),
    pa.list_(pa.string()): st.lists(pa_texts, max_size=3),
    pa.list_(TURN): st.lists(st.fixed_dictionaries({"role": ROLE | pa_texts, "content": pa_texts})),
    pa.struct([("a", pa.int64()), ("b", pa.string())]): st.fixed_dictionaries(
        {"a": st.integers(-(2**63), 2**63 - 1), "b": pa_texts}
    ),
    pa.map_(pa.string(), pa.float64()): st.lists(st.tuples(pa_texts, st.floats()), max_size=3),
    pa.null(): st.none(),
}


@st.composite
def parquet_files(draw) -> bytes:
    """A table of columns of many types: a prompt column of good prompts and others, or any
    columns at all (rows may be none)."""
    good = draw(st.booleans())
    names = draw(
        st.lists(
            other_names if good else st.sampled_from(KEYS) | st.text(max_size=6),
            min_size=0 if good else 1,
            max_size=4,
            unique=True,
        )
    )
    n = draw(st.integers(1 if good else 0, 5))
    columns = (
        {"prompt": pa.array(draw(st.lists(prompt_texts, min_size=n, max_size=n)))} if good else {}
    )
    for name in names:
        kind = draw(st.sampled_from(list(PARQUET_TYPES)))
        values = draw(st.lists(st.none() | PARQUET_TYPES[kind], min_size=n, max_size=n))
        columns[name] = pa.array(values, type=kind)
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


@st.composite
def damaged(draw, files: st.SearchStrategy[bytes]) -> bytes:
    """A good file with a few bytes overwritten, or cut short."""
    data = bytearray(draw(files))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)


@dataclass
class Upload:
    name: str
    data: bytes


FILES = {
    ".jsonl": jsonl_files(),
    ".csv": csv_files() | raw_csv,
    ".parquet": parquet_files() | damaged(parquet_files()),
}
name_chars = st.characters(exclude_characters='"\\/\r\n', exclude_categories=("Cs",))
# Names of any characters, short or longer than a dataset's name (Django keeps 255 of them),
# with a known suffix or not; the bytes are made for the suffix.
upload_names = st.builds(
    str.__add__,
    st.text(name_chars, min_size=1, max_size=20) | st.text(name_chars, min_size=190, max_size=300),
    st.sampled_from([*FILES, ".json", ".ndjson", ".txt", ""]),
)
uploads = upload_names.flatmap(
    lambda name: st.builds(Upload, st.just(name), FILES.get(_suffix(name), st.binary(max_size=64)))
)


def _suffix(name: str) -> str:
    name = name.lower()
    return ".jsonl" if name.endswith((".json", ".ndjson")) else "." + name.rpartition(".")[2]


# --- what every import promises ---------------------------------------------------------


@contextlib.contextmanager
def undone():
    """An example's writes, rolled back at its end: the next example starts from the same
    database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def counts() -> tuple[int, int]:
    return Dataset.objects.count(), Item.objects.count()


def assert_names_lines(errors: list[str]) -> None:
    """Each error names its line, but for the two about the whole file."""
    assert errors
    for error in errors:
        assert LINE_ERROR.match(error) or FILE_ERROR.match(error), error


def records_in(data: bytes, filename: str) -> int:
    """How many records a file holds: non-blank lines, data rows or table rows."""
    filename = filename.lower()
    if filename.endswith(".parquet"):
        return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    if filename.endswith(".csv"):
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        return sum(1 for row in rows[1:] if row)
    if filename.endswith(".json") and data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
        return len(json.loads(data.decode("utf-8-sig")))
    lines = io.BytesIO(data).readlines()
    decoded = (raw.decode("utf-8-sig" if n == 0 else "utf-8") for n, raw in enumerate(lines))
    return sum(1 for line in decoded if line.strip())


def imports(data: bytes, filename: str, owner) -> list[Item] | ImportFailed:
    """Import a file, checking what the import promises: all of its records, or a refusal
    that names lines and writes nothing."""
    before = counts()
    try:
        dataset = import_dataset(io.BytesIO(data), filename, "", owner)
    except ImportFailed as failed:
        event("refused")
        assert counts() == before, "a refused file wrote something"
        assert_names_lines(failed.errors)
        assert len(failed.errors) <= failed.total_errors
        return failed
    event("imported")
    items = list(dataset.items.order_by("index"))
    assert [i.index for i in items] == list(range(records_in(data, filename)))
    # What the database gives back is what the file's records say.
    records = READERS[detect_format(filename)](io.BytesIO(data))
    assert [stored(i) for i in items] == [stored(parse_record(r)) for _, r, _ in records]
    return items


def stored(item: Item | ParsedItem) -> tuple:
    return item.messages, item.prompt, item.reference, item.external_id, exact(item.metadata)


def exact(value):
    """JSON with its numbers as decimals: PostgreSQL gives 1e300 back as the integer it is."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal.Decimal(value)
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [exact(v) for v in value]
    return value
