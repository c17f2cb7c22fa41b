"""bench/peer_workload.py --peer VENV: the same workload on Label Studio through its REST API,
in the same run, as the baseline: `label-studio start` (its SQLite, migrations at start, one
threaded server process) from the virtual environment VENV, in a temporary data folder.

Steps as for Annotate: start-up to /health answering; a pairwise project (`<Pairwise>` over
two `<Text>`); import of the same items (prompt, the two answers) by POST
/api/projects/{id}/import, timed until the project counts them; a task by id (GET
/api/tasks/{id}); a page of 30 tasks (GET /api/tasks?project=&page=); next (GET
/api/projects/{id}/next) and submit (POST /api/tasks/{id}/annotations, a pairwise choice);
export of the labeled tasks and of all (GET /api/projects/{id}/export?exportType=JSON), each
to the file in hand; the peak RSS of its process tree."""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from pathlib import Path

import _peer_workload_client as wire

from tests.support.processes import Service
from tests.support.web_server import free_port

CONFIG = """<View>
  <Header value="$prompt"/>
  <Pairwise name="comparison" toName="a,b" selectionStyle="background-color: #eee"/>
  <Text name="a" value="$answer_a"/>
  <Text name="b" value="$answer_b"/>
</View>"""


def tasks(n: int) -> bytes:
    """The items of wire.outputs_file as Label Studio's tasks."""
    rows = []
    for line in wire.outputs_file(n).splitlines():
        row = json.loads(line)
        a, b = row["outputs"]
        rows.append({"prompt": row["prompt"], "answer_a": a["output"], "answer_b": b["output"]})
    return json.dumps(rows).encode()


def start(venv: Path, folder: Path) -> tuple[Service, wire.Client, float]:
    """label-studio start (migrations included) until /health answers: the seconds."""
    port, token = free_port(), secrets.token_hex(20)
    cmd = [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--port", str(port)]
    cmd += ["--username", "peer@example.org", "--password", secrets.token_urlsafe(16)]
    cmd += ["--user-token", token, "--enable-legacy-api-token"]
    cmd += ["--data-dir", str(folder / "data")]
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(folder / "data"), "DEBUG": "false"}
    # No error reports or analytics sent out (this machine has no way out: each one retries).
    env |= {"SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false"}
    env = {k: v for k, v in env.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    server = Service(cmd, folder / "label-studio.log", env)
    began = time.perf_counter()
    server.start()
    probe = wire.Client(port)

    def up() -> bool:
        try:
            return probe.call("GET", "/health").status == 200
        except OSError:
            return False

    server.wait_until(up, 300, "Label Studio")
    seconds = time.perf_counter() - began
    client = wire.Client(port, token, "Token")
    return server, client, seconds


def workload(client: wire.Client, quick: bool, repeat: int, requests: int, pages: int) -> dict:
    figures: dict = {}

    def project() -> int:
        body = {"title": f"peer {secrets.token_hex(4)}", "label_config": CONFIG}
        return client.ok("POST", "/api/projects", body).json()["id"]

    def import_tasks(n: int) -> tuple[float, int]:
        pid, content = project(), tasks(n)
        began = time.perf_counter()
        headers = {"Content-Type": "application/json"}
        client.ok("POST", f"/api/projects/{pid}/import", content, headers)
        while client.ok("GET", f"/api/projects/{pid}").json()["task_number"] < n:
            time.sleep(0.05)
        return time.perf_counter() - began, pid

    figures["import_1k_s"] = import_tasks(1000)[0]
    tens = [import_tasks(10_000) for _ in range(repeat)]
    figures["import_10k_s"] = sorted(t for t, _ in tens)[len(tens) // 2]
    if not quick:
        figures["import_50k_s"] = import_tasks(50_000)[0]
    pid = tens[-1][1]
    rng = random.Random(1)
    ids = []
    for page in rng.sample(range(1, 100), 5):
        listed = client.ok("GET", f"/api/tasks?project={pid}&page={page}&page_size=100").json()
        ids += [t["id"] for t in listed["tasks"]]
    by_id = [client.ok("GET", f"/api/tasks/{rng.choice(ids)}").ms for _ in range(requests)]
    listing = [
        client.ok("GET", f"/api/tasks?project={pid}&page={p}&page_size=30").ms
        for p in range(1, pages + 1)
    ]
    nexts, submits = [], []
    for _ in range(requests):
        response = client.ok("GET", f"/api/projects/{pid}/next")
        nexts.append(response.ms)
        task = response.json()["id"]
        choice = rng.choice(("left", "right"))
        result = [
            {
                "from_name": "comparison",
                "to_name": "a",
                "type": "pairwise",
                "value": {"selected": choice},
            }
        ]
        body = {"result": result, "lead_time": 3}
        submits.append(client.ok("POST", f"/api/tasks/{task}/annotations?project={pid}", body).ms)
    figures |= {
        "by_id_p50_ms": wire.percentile(by_id, 50),
        "by_id_p95_ms": wire.percentile(by_id, 95),
        "list_p50_ms": wire.percentile(listing, 50),
        "next_p50_ms": wire.percentile(nexts, 50),
        "submit_p50_ms": wire.percentile(submits, 50),
        "submit_p95_ms": wire.percentile(submits, 95),
    }
    for key, query in (
        ("export_labeled", "exportType=JSON"),
        ("export_all_10k", "exportType=JSON&download_all_tasks=true"),
    ):
        began = time.perf_counter()
        content = client.ok("GET", f"/api/projects/{pid}/export?{query}").body
        figures[f"{key}_s"] = time.perf_counter() - began
        figures[f"{key}_rows"] = len(json.loads(content))
    return figures


def measure(venv: Path, folder: Path, quick: bool, repeat: int, requests: int, pages: int):
    folder.mkdir(parents=True, exist_ok=True)
    server, client, seconds = start(venv, folder)
    try:
        figures = {"start_up_s": seconds, **workload(client, quick, repeat, requests, pages)}
        figures["peak_rss_mb"] = wire.tree_peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    figures["server_errors"] = client.server_errors
    figures["locked_errors"] = client.locked + (folder / "label-studio.log").read_bytes().count(
        wire.LOCKED
    )
    return figures
