"""Issue 15's peer workload: Label Studio's pairwise-comparison measurement, done on Annotate
through its own REST API, on the embedded default (SQLite and the filesystem broker) and on
PostgreSQL.

Usage: python bench/peer_workload.py [--quick] [--database sqlite|postgresql|both]
           [--repeat 3] [--requests 500] [--pages 200] [--peer /tmp/lsvenv]

Per database, from nothing:
1. start-up (`start_up_s`): `manage.py migrate` of an empty database (a fresh temporary
   ANNOTATE_VAR_DIR with SQLite, or the bench's PostgreSQL database dropped and created:
   DATABASE_URL, default postgres://postgres@127.0.0.1:5432/annotate_bench_peer, its name
   must say "bench"; Redis db 13 as the broker, CELERY_BROKER_URL to change it), then gunicorn
   `-w 1 --threads 4` with the README's production settings (DEBUG off; plain http, so
   SECURE_SSL_REDIRECT=false) until /api/health answers. Untimed: collectstatic before it
   (DEBUG off, the URLs need the hashed files' manifest), a superuser (createsuperuser), its
   token by POST /api/tokens, an `api` worker (threads, 4) for the background exports and
   imports and the leaderboard's recounts.
2. import (`import_1k_s`, `import_10k_s` the median of --repeat, `import_50k_s` but with
   --quick): POST /api/datasets of a file in the outputs layout, each line a prompt with two
   answers (~1 KB), `project_kind=compare`; timed from the POST to the dataset there: the
   POST, and for a 202 (an upload above IMPORT_INLINE_MAX_BYTES, imported by the worker) the
   polling of GET /api/imports/{id} until done. `import_10k_status` says which path it took;
   for 202, `import_10k_worker_s` is the worker's own time (Celery's "succeeded in").
3. On the last 10k dataset: item by id (GET /api/items/{id}, --requests random items:
   `by_id_p50_ms`, `by_id_p95_ms`); a list page of outputs (GET /api/runs/{id}/generations,
   30 a page, walked by `?after=`, --pages pages: `list_p50_ms`); --requests × next (POST
   /api/projects/{id}/next) and submit (POST .../tasks/{n}/label, a verdict) in its comparison
   project (`next_p50_ms`, `submit_p95_ms`, ...).
4. Exports, each timed from the POST to the file downloaded (polling a background one):
   the labeled votes (`comparisons` format, project and `labeled` filters: `export_labeled_s`,
   `export_labeled_rows` of them) and all the 10k dataset's outputs as JSONL
   (`export_all_10k_s`, 20k rows, written by the worker).
5. `peak_rss_mb`: VmHWM of the gunicorn master and its worker, summed (an upper bound of the
   server's peak; `worker_peak_rss_mb` the Celery worker's); `locked_errors`: answers and
   lines of the server's and worker's logs saying "database is locked"; `server_errors`: 5xx
   answers.

Request times are the client's wall time around each request on loopback (the server's time
plus a fraction of a millisecond), on a persistent connection. The last line is one JSON
object: the embedded default's figures at the top level, PostgreSQL's in a "postgresql"
object (or the only database run at the top level, "database" naming it), the targets met or
missed per database (also printed above it), device, versions, commit and loadavg_1m.
--quick: 1k and 10k imports once, 100 requests, 50 pages: about a minute a database.
--peer VENV: then the same workload on Label Studio from VENV (`pip install
label-studio==1.23.2` into a virtual environment of its own), through its REST API
(bench/_peer_label_studio.py): its figures under "label_studio" and Label Studio's figure
over Annotate's (the first database) under "label_studio_over_annotate".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _peer_workload_client as wire  # noqa: E402
from environment import ROOT, ensure_database, start_worker  # noqa: E402

from tests.support.web_server import WebServer, production_env  # noqa: E402

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/annotate_bench_peer"
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
TARGETS = {  # issue 15: at most, each
    "import_10k_s": 0.16,
    "by_id_p95_ms": 10,
    "list_p50_ms": 4,
    "next_p50_ms": 7,
    "submit_p95_ms": 8,
    "export_labeled_s": 0.065,
    "export_all_10k_s": 0.9,
    "peak_rss_mb": 300,
    "locked_errors": 0,
}
# Label Studio 1.23.2 (REST API, SQLite, one threaded process) on the 2-core machine, from the
# issue: what each figure is compared with.
LABEL_STUDIO = {
    "start_up_s": 21.9,
    "import_10k_s": 1.57,
    "import_50k_s": 7.3,
    "by_id_p50_ms": 80,
    "by_id_p95_ms": 100,
    "list_p50_ms": 38,
    "next_p50_ms": 76,
    "submit_p50_ms": 76,
    "submit_p95_ms": 80,
    "export_labeled_s": 0.65,
    "export_all_10k_s": 9.0,
    "peak_rss_mb": 831,
}
USERNAME = "peer-bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k once, fewer requests")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="10k imports (1 with --quick)")
    parser.add_argument("--requests", type=int, help="by id, next + submit (500, 100 quick)")
    parser.add_argument("--pages", type=int, help="list pages walked (200, 50 quick)")
    parser.add_argument("--peer", type=Path, help="a virtual environment with label-studio")
    args = parser.parse_args(argv)
    args.repeat = 1 if args.quick else args.repeat
    args.requests = args.requests or (100 if args.quick else 500)
    args.pages = args.pages or (50 if args.quick else 200)
    return args


def database_env(database: str, var_dir: Path) -> dict[str, str]:
    """The server's, the worker's and migrate's environment: production settings, a fresh
    var folder, and SQLite with the filesystem broker or the bench's PostgreSQL and Redis."""
    names = ("DATABASE_URL", "CELERY_BROKER_URL", "ANNOTATE_VAR_DIR", "DJANGO_SETTINGS_MODULE")
    base = {k: v for k, v in os.environ.items() if k not in names}
    more = {
        "ANNOTATE_VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(var_dir / "static"),
        "SECURE_SSL_REDIRECT": "false",
    }
    if database == "postgresql":
        more["DATABASE_URL"] = os.environ.get("DATABASE_URL", DEFAULT_PG)
        more["CELERY_BROKER_URL"] = os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER)
    return production_env(base, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", **more)


def empty_postgresql(env: dict[str, str]) -> None:
    """The bench's database dropped and created, its Redis database emptied."""
    import redis  # kombu's Redis client, installed with the app

    ensure_database(env["DATABASE_URL"], recreate=True)
    if env["CELERY_BROKER_URL"].startswith("redis://"):
        redis.Redis.from_url(env["CELERY_BROKER_URL"]).flushdb()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def start_up(env: dict[str, str], log: Path) -> tuple[WebServer, float]:
    """migrate, then gunicorn until /api/health answers (401 without a token: the app is up)."""
    start = time.perf_counter()
    manage(env, "migrate", "--no-input", "-v", "0")
    server = WebServer.production(env, log, workers=1, threads=4, access_log=False)
    server.start(120)
    probe = wire.Client(server.port)
    while probe.call("GET", "/api/health").status not in (200, 401):
        time.sleep(0.05)
    probe.close()
    return server, time.perf_counter() - start


def measure(args: argparse.Namespace, database: str, folder: Path) -> dict:
    """Steps 1 to 5 on one database; its figures."""
    env = database_env(database, folder / "var")
    if database == "postgresql":
        empty_postgresql(env)
    # Built once by a deploy, before migrate (DEBUG off: the URLs name hashed static files).
    manage(env, "collectstatic", "--no-input", "-v", "0")
    server, start_up_s = start_up(env, folder / "server.log")
    client, worker = wire.Client(server.port), None
    worker_log = folder / "worker.log"
    loadavg = round(os.getloadavg()[0], 2)
    try:
        password = secrets.token_urlsafe(24)
        manage(
            env | {"DJANGO_SUPERUSER_PASSWORD": password},
            *("createsuperuser", "--no-input", "--username", USERNAME, "--email", "b@example.org"),
        )
        client.token = wire.issue_token(client, USERNAME, password)
        worker = start_worker("peer", worker_log, "api", "threads", 4, env=env)
        figures = {"start_up_s": start_up_s, **workload(args, client)}
        figures["peak_rss_mb"] = wire.tree_peak_rss_mb(server.proc.pid)
        figures["worker_peak_rss_mb"] = wire.tree_peak_rss_mb(worker.proc.pid)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    logged = sum(
        log.read_bytes().count(wire.LOCKED)
        for log in (folder / "server.log", folder / "worker.log")
    )
    figures["locked_errors"] = client.locked + logged
    # A 202 import's time in the worker (Celery's "succeeded in"): the rest is the upload,
    # the broker and the polling. The first --repeat imports by the worker are the 10k ones.
    done = re.findall(rb"import_task\[[^]]+\] succeeded in ([\d.]+)s", worker_log.read_bytes())
    if figures["import_10k_status"] == [202] and len(done) >= args.repeat:
        figures["import_10k_worker_s"] = statistics.median(float(s) for s in done[: args.repeat])
    figures["server_errors"] = client.server_errors
    figures["loadavg_1m_before"] = loadavg
    if client.failures:
        print(f"{database}: {len(client.failures)} server errors, first: {client.failures[0]}")
    return figures


def workload(args: argparse.Namespace, client: wire.Client) -> dict:
    """Steps 2 to 4: imports, reads, labels, exports."""
    figures: dict = {"import_1k_s": wire.import_outputs(client, 1000).seconds}
    tens = [wire.import_outputs(client, 10_000) for _ in range(args.repeat)]
    figures["import_10k_s"] = statistics.median(t.seconds for t in tens)
    figures["import_10k_status"] = sorted({t.status for t in tens})
    if not args.quick:
        big = wire.import_outputs(client, 50_000)
        figures["import_50k_s"], figures["import_50k_status"] = big.seconds, big.status
    ten = tens[-1]
    by_id = wire.item_by_id(client, ten.dataset_id, ten.items, args.requests, 1)
    pages = wire.list_pages(client, ten.runs[0], args.pages)
    nexts, submits, labels = wire.next_and_submit(client, ten.project_id, args.requests, 2)
    figures |= {
        "by_id_p50_ms": wire.percentile(by_id, 50),
        "by_id_p95_ms": wire.percentile(by_id, 95),
        "list_p50_ms": wire.percentile(pages, 50),
        "list_p95_ms": wire.percentile(pages, 95),
        "next_p50_ms": wire.percentile(nexts, 50),
        "next_p95_ms": wire.percentile(nexts, 95),
        "submit_p50_ms": wire.percentile(submits, 50),
        "submit_p95_ms": wire.percentile(submits, 95),
        "labels": labels,
    }
    labeled = {"format": "comparisons", "project": ten.project_id, "labeled": True}
    seconds, export, size = wire.export_to_file(client, labeled)
    figures |= {"export_labeled_s": seconds, "export_labeled_rows": export["rows"]}
    everything = {"format": "jsonl", "dataset": ten.dataset_id}
    seconds, export, size = wire.export_to_file(client, everything)
    figures |= {"export_all_10k_s": seconds, "export_all_10k_rows": export["rows"]}
    figures["export_all_10k_mb"] = size / 2**20
    return figures


def rounded(figures: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def shown(value, width: int) -> str:
    """A figure in a column: integers whole, others to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:>{width}.4g}"
    return f"{'' if value is None else value!s:>{width}}"


def report(database: str, figures: dict) -> dict:
    """Print the figures beside Label Studio's and the targets; the targets met, by name."""
    print(f"\n{database}: {'figure':<22}{'Annotate':>12}{'LS (issue)':>14}{'target':>10}")
    met = {}
    for key, value in figures.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            print(f"  {key:<30}{value!s:>12}")
            continue
        target = TARGETS.get(key)
        if target is not None:
            met[key] = value <= target
        mark = "" if target is None else (" met" if met[key] else " MISSED")
        peer = LABEL_STUDIO.get(key, "")
        goal = "" if target is None else target
        print(f"  {key:<30}{shown(value, 12)}{peer!s:>14}{goal!s:>10}{mark}")
    missed = [k for k, ok in met.items() if not ok]
    print(f"{database}: targets met {sum(met.values())}/{len(met)}; missed: {missed or 'none'}")
    return met


def peer(args: argparse.Namespace, folder: Path, annotate: dict) -> dict:
    """The same workload on Label Studio (bench/_peer_label_studio.py), and Label Studio's
    figure over Annotate's (the first database measured) for each."""
    import _peer_label_studio as label_studio

    try:
        figures = label_studio.measure(
            args.peer, folder, args.quick, args.repeat, args.requests, args.pages
        )
    except Exception as exc:  # noqa: BLE001 - the baseline failed: Annotate's figures stand
        print(f"Label Studio failed: {exc!r}")
        return {"label_studio_error": repr(exc)[:500]}
    figures = rounded(figures)
    print(f"\nLabel Studio, same run: {'figure':<16}{'LS':>10}{'Annotate':>10}{'LS/Annotate':>13}")
    ratios = {}
    for key, value in figures.items():
        mine = annotate.get(key)
        if isinstance(mine, int | float) and mine and not key.endswith(("_rows", "_errors")):
            ratios[key] = round(value / mine, 2)
        print(f"  {key:<38}{shown(value, 10)}{shown(mine, 10)}{ratios.get(key, '')!s:>13}")
    return {"label_studio": figures, "label_studio_over_annotate": ratios}


def context() -> dict:
    import django  # the version only

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    import gunicorn

    dirty = " (dirty)" if git("status", "-s").strip() else ""
    return {
        "device": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "versions": {
            "python": platform.python_version(),
            "django": django.__version__,
            "gunicorn": gunicorn.__version__,
        },
        "commit": git("rev-parse", "--short", "HEAD").strip() + dirty,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        for database in databases:
            folder = Path(tmp) / database
            folder.mkdir()
            figures = rounded(measure(args, database, folder))
            figures["targets_met"] = report(database, figures)
            if database == "postgresql" and len(databases) == 2:
                result["postgresql"] = figures
            else:
                result |= {"database": database, **figures}
        if args.peer:
            result |= peer(args, Path(tmp) / "label-studio", result)
    result |= {"quick": args.quick, "requests": args.requests, **context()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
