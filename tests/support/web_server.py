"""The web app in a process of its own, as in production (gunicorn, a threaded worker), on the
tests' database: a test can kill it (SIGKILL, nothing flushed) and start it again on the same
port, the way a deploy or a crash restarts the server under people's browsers.

By default DEBUG stays on, as with `./run.sh`: WhiteNoise then serves the static files
straight from `static/` (no collectstatic) and the cookies are not marked Secure on plain
http. `WebServer.production` (the environment of `production_env`) is the README's production
configuration: the one gunicorn starter of the tests and the benchmarks.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.support.processes import Service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(base: Mapping[str, str], **more: str) -> dict[str, str]:
    """base with the README's production settings (DEBUG off, the host it binds, a secret key
    unless base has one, so that its workers share it), then more (BEHIND_TLS_PROXY, a
    broker, SECURE_SSL_REDIRECT=false for plain http)."""
    return {
        "SECRET_KEY": "web-server-" + "k" * 50,
        **base,
        "DJANGO_SETTINGS_MODULE": "annotate.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        **more,
    }


class WebServer(Service):
    """`gunicorn annotate.wsgi` on 127.0.0.1; `start` again after `kill` keeps the port.

    workers, threads: gunicorn's `-w` and `--threads` (1 thread: its sync worker).
    app_dir: the copy of the app to serve (`--chdir`; default the repository).
    access_log: log each request (off for benchmarks: the log's writes cost time)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        port: int | None = None,
        settings: str = "annotate.settings_test",
        debug: bool = True,
        *,
        workers: int = 1,
        threads: int = 4,
        app_dir: Path | None = None,
        access_log: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        cmd = [sys.executable, "-m", "gunicorn", "annotate.wsgi"]
        cmd += ["--bind", f"127.0.0.1:{self.port}"]
        if access_log:
            cmd += ["--access-logfile", "-"]
        if app_dir is not None:
            cmd += ["--chdir", str(app_dir)]
        # One process with threads boots in half the time of two processes.
        cmd += ["--workers", str(workers), "--threads", str(threads)]
        env = {**env, "DJANGO_SETTINGS_MODULE": settings, "DEBUG": str(debug).lower()}
        super().__init__(cmd, log, env)

    @classmethod
    def production(cls, env: Mapping[str, str], log: Path, **options) -> WebServer:
        """The production configuration: production_env(env), annotate.settings, DEBUG off;
        options as for WebServer (workers, threads, app_dir, access_log, port)."""
        return cls(production_env(env), log, settings="annotate.settings", debug=False, **options)

    def start(self, timeout: float = 30) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
        super().start()
        self.wait_until(self.answers, timeout, "the web server")

    def answers(self) -> bool:
        """Whether an HTTP answer comes back (any status: the process is up and serving)."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def kill(self) -> None:
        super().kill()
        # The worker dies a moment after the master: wait until nothing listens on the port.
        deadline = time.monotonic() + 10
        while self.listening() and time.monotonic() < deadline:
            time.sleep(0.05)

    def listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, timeout: float = 10) -> None:
        super().stop(timeout)
