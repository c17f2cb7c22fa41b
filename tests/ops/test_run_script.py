"""`./run.sh` on a laptop: Ctrl+C in its terminal stops the web server and both workers within
seconds, each worker saying once that it stops. It runs as a terminal runs it: in a process
group of its own, to which Ctrl+C sends SIGINT. On a fresh folder and a free port, with the
embedded default (SQLite, filesystem broker) whatever database the tests use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.support.web_server import free_port

pytestmark = pytest.mark.worker

WORKERS = ("mlx", "api")


def descendants(pid: int) -> set[int]:
    """The processes started by pid, and theirs, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those still running (a zombie has finished: only its parent has not read its status)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def laptop_env(tmp_path, demo_model_path) -> dict[str, str]:
    """A fresh var folder, migrated; the real settings; no database or broker of the tests."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="annotate.settings",
        ANNOTATE_VAR_DIR=str(tmp_path / "var"),
        ANNOTATE_PORT=str(free_port()),
        MLX_MODEL=str(demo_model_path),
        PYTHONUNBUFFERED="1",
    )
    migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True)
    return env


def test_ctrl_c_stops_the_web_and_both_workers_once_each(tmp_path, laptop_env):
    port = int(laptop_env["ANNOTATE_PORT"])
    log = tmp_path / "run.log"
    # A shell started in the background ignores SIGINT, and so would its children: a
    # terminal's foreground job does not.
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        script = subprocess.Popen(
            ["./run.sh", "start"],
            cwd=ROOT,
            env=laptop_env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's job
        )
    finally:
        signal.signal(signal.SIGINT, saved)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while not (answers(f"http://127.0.0.1:{port}/healthz") and ready(log) == set(WORKERS)):
            assert script.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        started = descendants(script.pid)

        os.killpg(script.pid, signal.SIGINT)  # Ctrl+C
        began = time.monotonic()
        try:
            status = script.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"./run.sh still running 20 s after Ctrl+C:\n{log.read_text()[-3000:]}")
        took = time.monotonic() - began
        output = log.read_text()

        assert took < 10, output[-3000:]
        assert status == 128 + signal.SIGINT, output[-3000:]
        assert not alive(started), output[-3000:]
        assert not listening(port)
        assert output.count("Warm shutdown") == len(WORKERS), output[-3000:]
        assert output.count("Stopping the web server and the workers") == 1
        assert "killed" not in output
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
        for pid in alive(started):
            os.kill(pid, signal.SIGKILL)


def ready(log: Path) -> set[str]:
    """The workers that logged "<name>@<host> ready."."""
    lines = log.read_text().splitlines()
    return {line.split()[-2].split("@")[0] for line in lines if line.endswith(" ready.")}
