"""bench/worker_faults.py's workers: `celery -A annotate worker -Q mlx --pool solo` processes
(tests/support/processes.py's Service and worker_command), their logs read as they go."""

from __future__ import annotations

from pathlib import Path

from _worker_faults_outcome import NAME_PREFIX, RECEIVED, SUCCEEDED
from environment import Service, worker_command

# --- The workers --------------------------------------------------------------------------------


class Worker(Service):
    """`celery -A annotate worker -Q mlx --pool solo`, with its log read as it goes."""

    def __init__(self, name: str, log: Path) -> None:
        super().__init__(worker_command(name), log)
        self.name = name
        self.offset = 0
        self.killed = False
        self.start()

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait_until(lambda: b" ready." in self.log.read_bytes(), timeout, f"worker {self.name}")

    def kill(self) -> None:
        self.killed = True
        super().kill()

    def mark(self) -> None:
        """Count log lines from here on."""
        self.offset = self.log.stat().st_size

    def busy(self) -> bool:
        """A task taken and not yet finished (the worker's log says so)."""
        return self.count(RECEIVED) > self.count(SUCCEEDED)

    def count(self, text: str) -> int:
        return self.text().count(text)

    def text(self) -> str:
        with self.log.open("rb") as f:
            f.seek(self.offset)
            return f.read().decode(errors="replace")

    def last_error(self) -> str:
        """The worker's last CRITICAL log line (why it exited), else its exit status."""
        lines = [line for line in self.text().splitlines() if " CRITICAL " in line]
        return lines[-1].split(" CRITICAL ", 1)[1] if lines else f"exit {self.proc.returncode}"


def start_workers(n: int, folder: Path) -> list[Worker]:
    """Started together, returned once every one logs " ready."."""
    workers = [Worker(f"{NAME_PREFIX}w{i + 1}", folder / f"w{i + 1}.log") for i in range(n)]
    try:
        for worker in workers:
            worker.wait_ready()
    except RuntimeError:
        stop_workers(workers)
        raise
    return workers


def stop_workers(workers: list[Worker]) -> None:
    for worker in workers:
        worker.stop()
