"""bench/export.py's measurements: each operation in a fresh `python bench/export.py --child`
process, its wall, CPU and memory (imported after django.setup())."""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _export_build import PREFIX, drop_dataset, write_import_file
from django.contrib.auth import get_user_model
from django.db import connection
from environment import ROOT

from annotate.datasets.importing import import_dataset
from annotate.exports.models import Export
from annotate.exports.rows import run_export

if TYPE_CHECKING:
    from _export_build import Built
    from export import Bench

SCRIPT = Path(__file__).resolve().parent / "export.py"
FORMATS = ("jsonl", "parquet", "csv", "sft")


# --- One measured operation, in a process of its own --------------------------------------------


def rss_mb() -> float:
    """The process's resident memory now (Linux), else its peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return peak_mb()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """The process's peak resident memory: ru_maxrss is KiB on Linux, bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_s() -> float:
    """The process's CPU time so far (the database server's is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def database_cpu_s() -> float | None:
    """CPU time so far of the server process behind Django's connection, when it runs on this
    machine and /proc shows it (None otherwise): the export's other half of the work."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def export_operation(spec: dict):
    """run_export of the project's outputs (with spec's other filters) in spec's format;
    returns (call, rows of)."""
    filters = {"project": spec["project"], **spec.get("filters", {})}
    export = Export.objects.create(owner_id=spec["owner"], format=spec["format"], filters=filters)
    return lambda: run_export(export), lambda done: done.rows


def import_operation(spec: dict):
    """import_dataset of spec's file; returns (call, rows of)."""
    owner = get_user_model().objects.get(pk=spec["owner"])
    path = Path(spec["path"])

    def call():
        with path.open("rb") as stream:
            return import_dataset(stream, path.name, f"{PREFIX} import", owner)

    return call, lambda dataset: dataset.items.count()


def run_child(spec: dict) -> dict:
    """The child's side, Django set up on spec["url"]: note the memory, run the operation once
    (plain, traced or profiled), and report."""
    call, count = (export_operation if spec["op"] == "export" else import_operation)(spec)
    gc.collect()
    before, cpu, db_cpu = rss_mb(), cpu_s(), database_cpu_s()
    result, seconds, extra = measured(call, spec["mode"], spec.get("profile_path"))
    out = {"seconds": seconds, "cpu_s": cpu_s() - cpu, "rss_before_mb": before, **extra}
    db_after = database_cpu_s()
    out["db_cpu_s"] = None if db_cpu is None or db_after is None else db_after - db_cpu
    out["peak_mb"] = peak_mb()
    out["rows"] = count(result)
    if spec["op"] == "export":
        out["bytes"] = Path(result.path).stat().st_size
    else:
        out["dataset"] = result.pk
    return out


def measured(call, mode: str, profile_path: str | None) -> tuple[Any, float, dict]:
    extra: dict[str, Any] = {}
    if mode == "trace":
        tracemalloc.start()
    if mode == "profile":
        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    if mode == "trace":
        extra["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    if mode == "profile":
        profiler.disable()
        profiler.dump_stats(profile_path)
    return result, seconds, extra


def spawn(spec: dict, env: dict[str, str]) -> dict:
    """Run one operation in a fresh process; its last stdout line is the report."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--child", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"{spec['op']} {spec.get('format', '')} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Measurements -------------------------------------------------------------------------------


@dataclass
class Measured:
    """One operation over --repeat processes: the best time, the largest peak."""

    name: str
    rows: int
    seconds: float
    cpu_s: float  # of the Python process, in the best round
    db_cpu_s: float | None  # of its database server process, when visible
    peak_mb: float
    growth_mb: float
    bytes: int = 0
    traced_peak_mb: float | None = None
    hot_spots: list[str] | None = None

    @property
    def per_s(self) -> float:
        return self.rows / self.seconds

    @property
    def per_cpu_s(self) -> float:
        """Rows per CPU second of both processes: what a machine with a core free for each
        would about reach (wall time counts waiting for a core on a loaded one)."""
        return self.rows / (self.cpu_s + (self.db_cpu_s or 0))


def measure(bench: Bench, spec: dict, env: dict[str, str], name: str) -> Measured:
    reports = []
    for _ in range(bench.repeat):
        reports.append(spawn({**spec, "mode": "time"}, env))
        after_each(reports[-1])
    best = min(reports, key=lambda r: r["seconds"])
    result = Measured(
        name=name,
        rows=best["rows"],
        seconds=best["seconds"],
        cpu_s=best["cpu_s"],
        db_cpu_s=best["db_cpu_s"],
        peak_mb=max(r["peak_mb"] for r in reports),
        growth_mb=max(r["peak_mb"] - r["rss_before_mb"] for r in reports),
        bytes=best.get("bytes", 0),
    )
    if bench.tracemalloc:
        traced = spawn({**spec, "mode": "trace"}, env)
        after_each(traced)
        result.traced_peak_mb = traced["traced_peak_mb"]
    if bench.profile:
        result.hot_spots = profile(spec, env)
    return result


def after_each(report: dict) -> None:
    """Drop what the operation made: the imported dataset (exported files go with the
    temporary folder)."""
    if "dataset" in report:
        drop_dataset(report["dataset"])


def profile(spec: dict, env: dict[str, str], top: int = 14) -> list[str]:
    """The operation's hot spots: the functions with the most time of their own."""
    path = Path(env["ANNOTATE_VAR_DIR"]) / "profile.out"
    after_each(spawn({**spec, "mode": "profile", "profile_path": str(path)}, env))
    text = io.StringIO()
    pstats.Stats(str(path), stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line.replace(str(ROOT) + "/", "") for line in lines[start : start + top + 1]]


def measure_all(bench: Bench, built: Built, url: str, folder: Path) -> dict[str, Measured]:
    env = {**os.environ, "DATABASE_URL": url, "ANNOTATE_VAR_DIR": str(folder)}
    base = {"url": url, "owner": built.owner_id}
    results = {}
    for fmt in FORMATS:
        print(f"  export {fmt} ...", flush=True)
        spec = {**base, "op": "export", "format": fmt, "project": built.project_id}
        results[f"export_{fmt}"] = measure(bench, spec, env, f"export {fmt}")
        shutil.rmtree(folder / "exports", ignore_errors=True)
    path = folder / "import.jsonl"
    size = write_import_file(path, bench.import_lines, bench.seed)
    print(f"  import of {bench.import_lines} lines ({size / 2**20:.0f} MB) ...", flush=True)
    results["import"] = measure(bench, {**base, "op": "import", "path": str(path)}, env, "import")
    results["import"].bytes = size
    return results


# The labeled-items exports (--labeled), on the comparison project: (name, format, filters).
# "project" is the baseline: every output of the project, as before the "labeled" filter.
LABELED = (
    ("export_project", "jsonl", {}),
    ("export_labeled", "jsonl", {"labeled": True}),
    ("export_comparisons", "comparisons", {}),
    ("export_comparisons_parquet", "comparisons_parquet", {}),
)


def measure_labeled(bench: Bench, owner_id: int, duel_id: int, url: str, folder: Path) -> dict:
    """The labeled-items exports of the comparison project, interleaved round by round (the
    baseline in the same rounds), each figure the median of --repeat processes."""
    env = {**os.environ, "DATABASE_URL": url, "ANNOTATE_VAR_DIR": str(folder)}
    base = {"url": url, "owner": owner_id, "op": "export", "project": duel_id, "mode": "time"}
    reports: dict[str, list[dict]] = {name: [] for name, _, _ in LABELED}
    for _ in range(bench.repeat):
        for name, fmt, filters in LABELED:
            reports[name].append(spawn({**base, "format": fmt, "filters": filters}, env))
            shutil.rmtree(folder / "exports", ignore_errors=True)
    if bench.profile:
        for name, fmt, filters in LABELED[1:3]:
            spec = {**base, "format": fmt, "filters": filters}
            print(f"\n  hot spots of {name} (cProfile, by own time):")
            print("\n".join(f"    {line}" for line in profile(spec, env)))
    return reports
