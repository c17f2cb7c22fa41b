"""bench/peer_workload.py's side of the wire: an HTTP client with an API token, the files of
outputs it imports, the steps of the workload each timed around its requests (client wall
time: the server's time plus loopback), and the server's memory read from /proc.

No Django here: the bench talks to the server only through its REST API."""

from __future__ import annotations

import base64
import http.client
import json
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ANSWER = "The answer, with a short reason and an example: " * 6
MODELS = ("bench-model-a", "bench-model-b")
LOCKED = b"database is locked"
# gunicorn's threaded worker closes a connection idle for 2 s (its keepalive): open a new one
# before that, so no request is lost to a connection the server has just closed.
IDLE_S = 1.0


def outputs_file(n: int) -> bytes:
    """n items in the README's outputs layout, two answers each with their measurements
    (the same lines as bench/import_outputs.py: ~1 KB a line)."""
    out = []
    for i in range(n):
        row = {
            "id": f"q{i}",
            "prompt": f"Question {i}: what is {i} squared, and why?",
            "outputs": [
                {
                    "model": model,
                    "output": f"{i * i}. {ANSWER}",
                    "latency_s": 1.5 + i % 7 / 10,
                    "ttft_s": 0.2,
                    "prompt_tokens": 14,
                    "output_tokens": 70,
                    "cost_usd": 0.00042,
                }
                for model in MODELS
            ],
        }
        out.append(json.dumps(row))
    return ("\n".join(out) + "\n").encode()


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body = b"".join(parts) + head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Response:
    status: int
    body: bytes
    ms: float

    def json(self):
        return json.loads(self.body)


@dataclass
class Client:
    """One persistent connection (kept alive, as a script's session would), a token, and a
    tally of the answers that went wrong: 5xx and "database is locked"."""

    port: int
    token: str = ""
    scheme: str = "Bearer"  # Label Studio's legacy tokens: "Token"
    server_errors: int = 0
    locked: int = 0
    failures: list[str] = field(default_factory=list)
    _conn: http.client.HTTPConnection | None = None
    _used: float = 0.0

    def call(self, method: str, path: str, body=None, headers=None) -> Response:
        sent = dict(headers or {})
        if isinstance(body, dict):
            body, sent["Content-Type"] = json.dumps(body).encode(), "application/json"
        if self.token and "Authorization" not in sent:
            sent["Authorization"] = f"{self.scheme} {self.token}"
        if self._conn is None or time.monotonic() - self._used > IDLE_S:
            self.close()
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        start = time.perf_counter()
        try:
            self._conn.request(method, path, body, sent)
            response = self._conn.getresponse()
            content = response.read()
        except (http.client.HTTPException, OSError):
            self.close()
            raise
        ms = 1000 * (time.perf_counter() - start)
        self._used = time.monotonic()
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        if response.status >= 500:
            self.server_errors += 1
            self.failures.append(f"{method} {path}: {response.status} {content[:200]!r}")
        if LOCKED in content:
            self.locked += 1
        return Response(response.status, content, ms)

    def ok(self, method: str, path: str, body=None, headers=None, expect=(200, 201)) -> Response:
        response = self.call(method, path, body, headers)
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: HTTP {response.status} {response.body[:300]!r}")
        return response

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def issue_token(client: Client, username: str, password: str) -> str:
    """POST /api/tokens signed in by password (HTTP Basic), as a script starts."""
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    body = {"name": "peer-workload"}
    response = client.ok("POST", "/api/tokens", body, {"Authorization": f"Basic {basic}"})
    return response.json()["token"]


@dataclass
class Imported:
    seconds: float
    status: int  # 201 (imported in the request) or 202 (by a worker, polled)
    dataset_id: int
    runs: list[int]
    project_id: int
    items: int


def import_outputs(client: Client, n: int, poll_s: float = 0.05) -> Imported:
    """POST /api/datasets with n items of outputs and project_kind=compare; timed until the
    dataset is there: the POST, and for a 202 the polling of its import until done. Its runs
    and project are read afterwards, untimed (by dataset and by the project's own name)."""
    project = f"peer {n} {uuid.uuid4().hex[:8]}"
    fields = {"name": project, "project_kind": "compare", "project_name": project}
    body, kind = multipart(fields, f"outputs-{n}.jsonl", outputs_file(n))
    start = time.perf_counter()
    response = client.ok("POST", "/api/datasets", body, {"Content-Type": kind}, (201, 202))
    if response.status == 202:
        url = response.json()["url"]
        while True:
            job = client.ok("GET", url).json()
            if job["status"] == "done":
                dataset_id = job["dataset_id"]
                break
            if job["status"] == "failed":
                raise RuntimeError(f"import of {n} failed: {job['errors'][:3]}")
            time.sleep(poll_s)
    else:
        dataset_id = response.json()["id"]
    seconds = time.perf_counter() - start
    items = client.ok("GET", f"/api/datasets/{dataset_id}").json()["item_count"]
    runs = client.ok("GET", "/api/runs?limit=1000").json()["items"]
    ids = sorted(r["id"] for r in runs if r["dataset_id"] == dataset_id)
    projects = [p["id"] for p in client.ok("GET", "/api/projects").json() if p["name"] == project]
    if len(ids) != len(MODELS) or len(projects) != 1 or items != n:
        raise RuntimeError(f"import of {n}: {items} items, runs {ids}, projects {projects}")
    return Imported(seconds, response.status, dataset_id, ids, projects[0], items)


def item_by_id(client: Client, dataset_id: int, items: int, count: int, seed: int) -> list[float]:
    """GET /api/items/{id} of count items drawn at random (their ids read from the dataset's
    pages, untimed)."""
    rng = random.Random(seed)
    ids: list[int] = []
    for offset in rng.sample(range(0, max(items - 100, 1)), min(10, max(items // 100, 1))):
        page = client.ok("GET", f"/api/datasets/{dataset_id}/items?limit=100&offset={offset}")
        ids += [item["id"] for item in page.json()["items"]]
    times = []
    for _ in range(count):
        times.append(client.ok("GET", f"/api/items/{rng.choice(ids)}").ms)
    return times


def list_pages(client: Client, run_id: int, pages: int, limit: int = 30) -> list[float]:
    """The run's outputs page by page (`?after=` each page's `next`), from the first."""
    times, after = [], None
    for _ in range(pages):
        query = f"limit={limit}" + (f"&after={after}" if after else "")
        response = client.ok("GET", f"/api/runs/{run_id}/generations?{query}")
        times.append(response.ms)
        after = response.json()["next"]
        if after is None:
            break
    return times


def next_and_submit(client: Client, project_id: int, count: int, seed: int):
    """count × (POST next, POST label with a verdict): (next ms, submit ms, labels)."""
    rng = random.Random(seed)
    nexts, submits = [], []
    for _ in range(count):
        response = client.ok("POST", f"/api/projects/{project_id}/next", expect=(200, 204))
        nexts.append(response.ms)
        if response.status == 204:
            break
        number = response.json()["task_id"]
        answers = {"verdict": rng.choice(("left", "right", "tie", "both bad"))}
        path = f"/api/projects/{project_id}/tasks/{number}/label"
        submits.append(client.ok("POST", path, {"answers": answers, "time_spent_s": 3}).ms)
    return nexts, submits, len(submits)


def export_to_file(client: Client, filters: dict, poll_s: float = 0.05) -> tuple[float, dict, int]:
    """POST /api/exports, poll it while a worker writes it, download the file: seconds to the
    file in hand, the export, the file's bytes."""
    start = time.perf_counter()
    export = client.ok("POST", "/api/exports", filters).json()
    while export["status"] != "done":
        if export["status"] == "failed":
            raise RuntimeError(f"export {filters} failed: {export['error']}")
        time.sleep(poll_s)
        export = client.ok("GET", f"/api/exports/{export['id']}").json()
    content = client.ok("GET", export["download"]).body
    return time.perf_counter() - start, export, len(content)


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM (each process's peak resident set) summed over pid and its descendants: the
    gunicorn master and its worker, or a Celery worker. An upper bound of the tree's peak."""
    pids, total = [pid], 0
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            pids += [int(child) for child in task.read_text().split()]
    return total / 1024


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (inclusive method); the value itself for one sample."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
