"""Processes the tests and benchmarks run the way production does: Celery workers, the web
server, a broker. Each runs in a session of its own, so that a kill takes its children with it
(a worker's pool, gunicorn's workers), and writes its output to a log file the caller reads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


class Service:
    """A command in a process group of its own: start, wait until ready, kill or stop."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.cmd, self.log, self.env = cmd, log, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Return once ready() is true; RuntimeError with the log's tail if the process exits
        or the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive:
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole group: no graceful shutdown, nothing given back."""
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a worker's warm shutdown), then SIGKILL if it takes longer than timeout."""
        if not self.alive:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def worker_command(
    name: str, queues: str = "mlx", pool: str = "solo", concurrency: int | None = None
) -> list[str]:
    """`celery -A annotate worker` as the README starts it."""
    cmd = [sys.executable, "-m", "celery", "-A", "annotate", "worker", "-Q", queues]
    cmd += ["--pool", pool, "-n", f"{name}@%h", "--without-gossip", "--without-mingle"]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    return [*cmd, "--loglevel", "INFO"]


def celery_worker(
    name: str,
    log: Path,
    queues: str = "mlx",
    pool: str = "solo",
    concurrency: int | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90,
) -> Service:
    """A worker (worker_command) started, returned once it logs " ready."."""
    worker = Service(worker_command(name, queues, pool, concurrency), log, env)
    worker.start()
    try:
        worker.wait_until(lambda: b" ready." in log.read_bytes(), timeout, f"worker {name}")
    except RuntimeError:
        worker.stop()
        raise
    return worker
