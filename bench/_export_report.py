"""bench/export.py's report: the table, the goals and the last line's figures."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _export_build import Built
    from _export_measure import Measured
    from export import Bench

GOALS = {  # (figure, at least / at most, value)
    "export_jsonl_rows_per_s": (">=", 50_000),
    "export_parquet_rows_per_s": (">=", 50_000),
    "export_peak_mb": ("<", 300),
    "import_lines_per_s": (">=", 20_000),
    "import_peak_mb": ("<", 300),
}


# --- Report -------------------------------------------------------------------------------------


def figures_of(results: dict[str, Measured]) -> dict[str, float]:
    exports = [m for name, m in results.items() if name.startswith("export_")]
    figures = {f"{name}_rows_per_s": m.per_s for name, m in results.items() if name != "import"}
    return {
        **figures,
        "export_peak_mb": max(m.peak_mb for m in exports),
        "export_growth_mb": max(m.growth_mb for m in exports),
        "import_lines_per_s": results["import"].per_s,
        "import_peak_mb": results["import"].peak_mb,
        "import_growth_mb": results["import"].growth_mb,
    }


def goal_met(figures: dict[str, float], name: str) -> bool:
    sense, value = GOALS[name]
    return figures[name] >= value if sense == ">=" else figures[name] < value


def print_report(bench: Bench, built: Built, results: dict[str, Measured]) -> None:
    if built.seconds:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in built.seconds.items() if k != "build")
        how = f"built in {built.seconds['build']:.1f} s ({parts})"
    else:
        how = "reused (marker found)"
    print(f"\n{bench.rows} labeled outputs; data {how}. Best of {bench.repeat} process(es).")
    print(
        f"\n  {'operation':<16}{'rows':>8}{'wall s':>8}{'rows/s':>9}{'py cpu':>8}{'db cpu':>8}"
        f"{'rows/cpu-s':>11}{'MB out':>8}{'peak MB':>9}{'growth':>8}{'traced':>8}"
    )
    for m in results.values():
        traced = "" if m.traced_peak_mb is None else f"{m.traced_peak_mb:.0f}"
        db = "" if m.db_cpu_s is None else f"{m.db_cpu_s:.1f}"
        print(
            f"  {m.name:<16}{m.rows:>8}{m.seconds:>8.2f}{m.per_s:>9.0f}{m.cpu_s:>8.1f}{db:>8}"
            f"{m.per_cpu_s:>11.0f}{m.bytes / 2**20:>8.0f}{m.peak_mb:>9.0f}{m.growth_mb:>8.0f}"
            f"{traced:>8}"
        )
    print(
        "  (rows/cpu-s: rows per CPU second of Python and PostgreSQL together; wall time also "
        "counts waiting for a core, so compare runs at similar loadavg_1m)"
    )
    for m in results.values():
        if m.hot_spots:
            print(f"\n  hot spots of {m.name} (cProfile, by own time):")
            print("\n".join(f"    {line}" for line in m.hot_spots))


def print_goals(figures: dict[str, float]) -> None:
    print()
    for name, (sense, value) in GOALS.items():
        verdict = "met" if goal_met(figures, name) else "MISSED"
        print(f"  goal {name} {sense} {value}: {verdict} ({figures[name]:.0f})")


def summary(bench: Bench, built: Built, results: dict[str, Measured]) -> dict:
    figures = figures_of(results)
    return {
        **{k: round(v, 1) for k, v in figures.items()},
        "rows": bench.rows,
        "import_lines": bench.import_lines,
        "build_s": round(built.seconds["build"], 2) if built.seconds else None,
        "reused": not built.seconds,
        "seconds": {name: round(m.seconds, 3) for name, m in results.items()},
        "python_cpu_s": {name: round(m.cpu_s, 3) for name, m in results.items()},
        "database_cpu_s": {
            name: None if m.db_cpu_s is None else round(m.db_cpu_s, 3)
            for name, m in results.items()
        },
        "rows_per_cpu_s": {name: round(m.per_cpu_s) for name, m in results.items()},
        "goals_met": {name: goal_met(figures, name) for name in GOALS},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


LABEL_STUDIO_LABELED_S = 0.65  # Label Studio's export of ~10k labeled items (issue 15)


def labeled_summary(bench: Bench, reports: dict[str, list[dict]]) -> dict:
    """The --labeled table, printed, and its last line's figures."""
    print(f"\n  {'operation':<28}{'rows':>8}{'median s':>10}{'py cpu':>8}{'db cpu':>8}")
    medians = {}
    for name, runs in reports.items():
        medians[name] = statistics.median(r["seconds"] for r in runs)
        cpu = statistics.median(r["cpu_s"] for r in runs)
        db = [r["db_cpu_s"] for r in runs if r["db_cpu_s"] is not None]
        db_text = f"{statistics.median(db):.3f}" if db else ""
        print(f"  {name:<28}{runs[0]['rows']:>8}{medians[name]:>10.3f}{cpu:>8.3f}{db_text:>8}")
    labeled = medians["export_labeled"]
    return {
        "export_labeled_s": round(labeled, 4),
        "export_labeled_rows": reports["export_labeled"][0]["rows"],
        "export_project_s": round(medians["export_project"], 4),
        "export_project_rows": reports["export_project"][0]["rows"],
        "export_comparisons_s": round(medians["export_comparisons"], 4),
        "export_comparisons_parquet_s": round(medians["export_comparisons_parquet"], 4),
        "votes": reports["export_comparisons"][0]["rows"],
        "label_studio_labeled_s": LABEL_STUDIO_LABELED_S,
        "labeled_vs_label_studio": round(LABEL_STUDIO_LABELED_S / labeled, 2),
        "goal_labeled_s_met": labeled <= LABEL_STUDIO_LABELED_S / 10,
        "repeat": bench.repeat,
        "device": f"{platform.machine()} {os.cpu_count()} cores",
        "versions": {"python": platform.python_version()},
        "commit": _commit(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _commit() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None
