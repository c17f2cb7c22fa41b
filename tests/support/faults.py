"""Faults and bookkeeping shared by the fake API servers (`fake_anthropic`, `fake_openai`).

`Faults` decides, for each generation request, how the server misbehaves. Its attributes can
be changed while the server runs (from a test, or over HTTP with `POST /_fake/faults`):

- `latency`: seconds every generation request waits before its first byte;
- `token_delay`: seconds between two streamed text deltas;
- `rate_429`, `rate_500`, `rate_overloaded` (529 at Anthropic, 503 at OpenAI), `rate_slow`
  (wait `slow_seconds` more before the first byte), `rate_drop` (close the socket after
  `drop_after` text deltas, or before any answer when not streaming), `rate_stream_error` (an
  error event after `drop_after` deltas): fractions of requests, drawn from a RNG seeded by
  `seed`, so a run is repeatable;
- `retry_after`: the `retry-after` header of a 429, in seconds (None: no header);
- `script`: faults for the next requests, in order (`["429", "529", "ok"]`); it wins over the
  rates while it lasts;
- `marker`: when set, only requests whose prompt key (the last user message) contains it are
  faulted or consume the script; the others are answered normally.

`Ledger` records every request (times, path, status, prompt key, fault, outcome, and the
SDK's own retry number), counts the prompt keys answered completely (`completed`), and the
most requests ever in flight at once. A status of 0 means no response was sent (a drop).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

# Faults drawn by rate, in the order their rates are stacked on [0, 1).
RANDOM_FAULTS = ("429", "500", "overloaded", "slow", "drop", "stream_error")
FAULT_NAMES = ("ok", *RANDOM_FAULTS)
# The status codes each API uses for "overloaded" are accepted as names of that fault.
ALIASES = {"529": "overloaded", "503": "overloaded"}
# Faults that answer with an error status instead of an answer.
STATUS_FAULTS = ("429", "500", "overloaded")


def fault_name(name: str) -> str:
    """The canonical name of a fault; raises ValueError for an unknown one."""
    name = ALIASES.get(str(name), str(name))
    if name not in FAULT_NAMES:
        raise ValueError(f"unknown fault {name!r}; expected one of {FAULT_NAMES} or 529/503")
    return name


@dataclass
class Faults:
    """How a fake server misbehaves; see the module docstring for each attribute."""

    latency: float = 0.0
    token_delay: float = 0.0
    retry_after: float | None = 1.0
    slow_seconds: float = 2.0
    drop_after: int = 2
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_overloaded: float = 0.0
    rate_slow: float = 0.0
    rate_drop: float = 0.0
    rate_stream_error: float = 0.0
    marker: str | None = None
    seed: int = 0
    script: deque[str] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self.script = deque(fault_name(name) for name in self.script)

    def choose(self, key: str) -> str:
        """The fault for a request whose prompt key is `key` ("ok" for none)."""
        with self._lock:
            if self.marker is not None and self.marker not in key:
                return "ok"
            if self.script:
                return self.script.popleft()
            return self._draw()

    def _draw(self) -> str:
        draw = self._rng.random()
        for name in RANDOM_FAULTS:
            rate = getattr(self, f"rate_{name}")
            if draw < rate:
                return name
            draw -= rate
        return "ok"

    def set_script(self, names: Iterable[str]) -> None:
        """Replace the script: the next requests get these faults, in order."""
        script = deque(fault_name(name) for name in names)
        with self._lock:
            self.script = script

    def configure(self, **changes: Any) -> None:
        """Change several attributes at once; `seed=` also restarts the RNG."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault options {sorted(unknown)}; known: {sorted(known)}")
        if "script" in changes:
            self.set_script(changes.pop("script") or ())
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, value)
            if "seed" in changes:
                self._rng = random.Random(self.seed)

    def snapshot(self) -> dict[str, Any]:
        """The attributes as plain JSON-able values."""
        with self._lock:
            values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["script"] = list(values["script"])
        return values


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. Times are `time.monotonic()` seconds."""

    started: float
    finished: float
    method: str
    path: str
    status: int
    key: str | None
    fault: str
    outcome: str  # completed | ok | error | dropped | stream_error | client_gone | crash
    sdk_retry: int | None = None  # the SDKs' x-stainless-retry-count: 0 first, 1 first retry


class Ledger:
    """A thread-safe log of requests, with the prompt keys answered completely."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._records: list[RequestRecord] = []
        self._completed: Counter[str] = Counter()
        self._in_flight = 0
        self._max_in_flight = 0

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def end(self, record: RequestRecord) -> None:
        with self._lock:
            self._in_flight -= 1
            self._records.append(record)
            if record.outcome == "completed" and record.key is not None:
                self._completed[record.key] += 1
            self._lock.notify_all()

    def _settled(self) -> None:
        """Wait (up to 2 s) for the requests being answered: a client can read its whole
        response before the server has written the request's record."""
        self._lock.wait_for(lambda: self._in_flight == 0, timeout=2)

    @property
    def records(self) -> list[RequestRecord]:
        """A copy of the records, in the order the requests finished."""
        with self._lock:
            self._settled()
            return list(self._records)

    @property
    def completed(self) -> Counter[str]:
        """A copy of: prompt key -> times its whole answer was sent."""
        with self._lock:
            self._settled()
            return Counter(self._completed)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    def statuses(self, path: str | None = None) -> Counter[int]:
        """How many responses had each status (on one path, if given)."""
        return Counter(r.status for r in self.records if path is None or r.path == path)

    def reset(self) -> None:
        """Forget the past requests (those in flight still count when they end)."""
        with self._lock:
            self._records.clear()
            self._completed.clear()
            self._max_in_flight = self._in_flight

    def summary(self) -> dict[str, Any]:
        """Counts as plain JSON-able values, for `GET /_fake/stats`."""
        with self._lock:  # as things stand now: requests may be in flight
            records, completed = list(self._records), dict(self._completed)
        statuses = Counter(r.status for r in records)
        return {
            "requests": len(records),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "completed": completed,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
