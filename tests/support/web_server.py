"""The web app in a process of its own, as in production (gunicorn, a threaded worker), on the
tests' database: a test can kill it (SIGKILL, nothing flushed) and start it again on the same
port, the way a deploy or a crash restarts the server under people's browsers.

DEBUG stays on, as with `./run.sh`: WhiteNoise then serves the static files straight from
`static/` (no collectstatic) and the cookies are not marked Secure on plain http.
"""

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

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebServer:
    """`gunicorn annotate.wsgi` on 127.0.0.1; `start` again after `kill` keeps the port."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.env = {**env, "DJANGO_SETTINGS_MODULE": "annotate.settings_test", "DEBUG": "true"}
        self.log = log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 30) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "annotate.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    # One process with threads boots in half the time of two processes.
                    "--workers",
                    "1",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes the workers too
            )
        self.wait_ready(timeout)

    def answers(self) -> bool:
        """Whether an HTTP answer comes back (any status: the process is up and serving)."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"web server did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the master and its workers: no graceful shutdown, requests cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        # The worker dies a moment after the master: wait until nothing listens on the port.
        deadline = time.monotonic() + 10
        while self.listening() and time.monotonic() < deadline:
            time.sleep(0.05)

    def listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
