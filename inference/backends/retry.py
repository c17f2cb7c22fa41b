"""Retrying hosted API calls: one policy for every SDK, and for errors in mid-stream, which the
SDKs do not retry themselves (so the SDKs' own retries are turned off: max_retries=0).

Retried: 408, 409, 429, 5xx (529 "overloaded" included), timeouts and dropped connections,
up to `attempts` tries. The wait is the server's `retry-after` when it sends one, else an
exponential backoff; either way stretched by a random 0-25% so that many clients refused at
once do not all come back at the same instant.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
RETRY_STATUSES = {408, 409, 429}
INITIAL_DELAY_S = 0.5
MAX_DELAY_S = 30.0


@dataclass
class Failure:
    """What went wrong with one call, in SDK-neutral terms."""

    message: str
    retryable: bool
    retry_after: float | None = None


def status_retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def parse_retry_after(headers) -> float | None:
    """Seconds from a `retry-after` (or `retry-after-ms`) header; None if absent or a date."""
    if headers is None:
        return None
    if ms := headers.get("retry-after-ms"):
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    try:
        return float(headers.get("retry-after", ""))
    except ValueError:
        return None


def backoff_s(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    base = retry_after if retry_after is not None else INITIAL_DELAY_S * 2 ** (attempt - 1)
    return min(base, MAX_DELAY_S) * (1 + 0.25 * rng.random())


class Retrying:
    """Call fn until it succeeds, fails for good, or attempts run out.

    `classify(exc)` turns an exception into a Failure, or returns None for an exception that
    is a bug, not an API failure (re-raised). `retries` counts the retries made."""

    def __init__(
        self,
        classify: Callable[[BaseException], Failure | None],
        attempts: int,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.classify = classify
        self.attempts = max(attempts, 1)
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.retries = 0

    def __call__(self, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
                if not failure.retryable or attempt == self.attempts:
                    raise GaveUp(failure, attempt) from exc
                self.retries += 1
                self.sleep(backoff_s(attempt, failure.retry_after, self.rng))
        raise AssertionError("unreachable")


class GaveUp(Exception):
    def __init__(self, failure: Failure, attempts: int) -> None:
        self.failure = failure
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{failure.message}{tries}")
