"""What an export of outputs includes, by their labels: how many outputs, how many labeled,
passing, failing and unlabeled. The export page shows it before an export starts (a chat
export that would teach a model from failed or unlabeled answers says so), and the manifest
carries the same counts for what was written."""

from __future__ import annotations

from collections.abc import Iterator

from annotate.exports.labels import verdict
from annotate.exports.orm import orm_rows

# The formats whose rows are outputs (one row an output); the others are pairs or votes.
OUTPUT_FORMATS = ("jsonl", "csv", "parquet", "sft", "openai")
# Training formats: every row teaches the model its answer.
TRAINING_FORMATS = ("sft", "openai")
# The filters that leave failed and unlabeled outputs out (require_pass, labeled), as the
# page labels them and the warnings name them.
PASS_ONLY = "Only outputs that pass"
LABELED_ONLY = "Only outputs with a label or vote"


class Tally:
    """Counts of the rows (rows.rows()'s) that go by: outputs; labeled (a label, a final
    label or a comparison vote in the projects the export carries), of which passing and
    failing by the first pass/fail question; unlabeled."""

    def __init__(self) -> None:
        self.outputs = self.labeled = self.passing = self.failing = 0

    def add(self, row: dict) -> None:
        self.outputs += 1
        if row["labels"] or row["final"] or row["comparisons"]:
            self.labeled += 1
        defs = {project["id"]: project for project in row["projects"]}
        found = verdict(row["labels"], row["final"], defs)
        self.passing += found == "pass"
        self.failing += found == "fail"

    def counted(self, rows: Iterator[dict]) -> Iterator[dict]:
        """The rows, each counted as it goes by."""
        for row in rows:
            self.add(row)
            yield row

    def as_dict(self) -> dict:
        return {
            "outputs": self.outputs,
            "labeled": self.labeled,
            "passing": self.passing,
            "failing": self.failing,
            "unlabeled": self.outputs - self.labeled,
        }


# The page asks on every visit and change: it counts at most this many outputs, then says so.
PREVIEW_MAX_OUTPUTS = 5000


def count_included(filters: dict, limit: int | None = None) -> dict:
    """The Tally of the outputs an export with these (cleaned, scoped) filters would write:
    its rows through the ORM, the same rows every path writes (five queries, streamed).
    With `limit`, only the first `limit` outputs, and "partial": whether more were left."""
    tally = Tally()
    rows = orm_rows(filters)
    for row in rows:
        if limit is not None and tally.outputs >= limit:
            rows.close()
            return {**tally.as_dict(), "partial": True}
        tally.add(row)
    return {**tally.as_dict(), "partial": False}


def warnings(fmt: str, counts: dict) -> list[str]:
    """What a training export (SFT, OpenAI) of these counts would teach that one may not want,
    each naming the filter that leaves it out."""
    if fmt not in TRAINING_FORMATS:
        return []
    out = []
    if counts["failing"]:
        out.append(
            f"{_outputs(counts['failing'])} labeled “fail” would be written as training "
            f"examples. Tick “{PASS_ONLY}” to leave them out."
        )
    if counts["unlabeled"]:
        out.append(
            f"{_outputs(counts['unlabeled'])} nobody labeled would be written as training "
            f"examples. Tick “{LABELED_ONLY}” or “{PASS_ONLY}” to leave them out."
        )
    return out


def _outputs(n: int) -> str:
    return f"{n} output" if n == 1 else f"{n} outputs"
