"""What the hosted backends share: API keys from the environment, a pool of concurrent
requests (the configuration's concurrency), retries, and measuring each request."""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import cached_property
from typing import ClassVar

from inference.backends.base import (
    Backend,
    BackendError,
    Claim,
    Emit,
    GenerationRequest,
    GenerationResult,
    ShouldStop,
    concurrency_of,
)
from inference.backends.egress import Egress, EgressRefused
from inference.backends.retry import Failure, GaveUp, Retrying
from inference.env import envsecret

# The operator's limits arrive in params from the runner (API_MAX_ATTEMPTS, API_TIMEOUT_S
# settings): backends read no Django settings. These are the defaults of those settings.
MAX_ATTEMPTS = 5
TIMEOUT_S = 600.0


class HostedBackend(Backend):
    queue: ClassVar[str] = "api"
    is_local = False
    default_key_env: ClassVar[str]

    @classmethod
    def cache_key(cls, params: dict) -> tuple:
        where = (params.get("base_url", ""), params.get("api_key_env", ""))
        return (params["model"], *where, repr(params.get("egress")))

    @classmethod
    def in_flight(cls, params: dict) -> int:
        """Requests in flight at once: the configuration's concurrency."""
        return max(int(concurrency_of(params) or 1), 1)

    @cached_property
    def key_env(self) -> str | None:
        """The variable whose value goes with the requests, or None (the server takes no key).
        Checked against the operator's allow-lists (egress.py) before anything is sent."""
        params = self.params
        try:
            return Egress.from_params(params).key_variable(
                self.name, params.get("base_url") or "", params.get("api_key_env") or ""
            )
        except EgressRefused as exc:
            raise BackendError(str(exc)) from None

    @property
    def key_label(self) -> str:
        return self.key_env or "no variable (no key was sent)"

    def timeout_s(self) -> float:
        return float(self.params.get("timeout_s", TIMEOUT_S))

    def api_key(self) -> str:
        """The key, read from the environment variable the configuration names (or its _FILE
        twin). It is never stored in the database and never logged."""
        if self.key_env is None:
            return "not-needed"  # none of the operator's keys may go to this server
        key = envsecret(self.key_env)
        if not key:
            raise BackendError(
                f"No API key: set the environment variable {self.key_env} for the workers "
                "(or name another variable in the model configuration)."
            )
        return key

    def classify(self, exc: BaseException) -> Failure | None:
        """An SDK exception as a Failure; None for exceptions that are bugs."""
        raise NotImplementedError

    def complete(self, params: dict, request: GenerationRequest) -> GenerationResult:
        """One request, streamed and measured; raises the SDK's exceptions."""
        raise NotImplementedError

    def complete_with_retries(
        self, params: dict, request: GenerationRequest, concurrency: int
    ) -> GenerationResult:
        """Timing is that of the attempt that succeeded; `retries` says how many came before."""
        retrying = Retrying(self.classify, int(params.get("max_attempts", MAX_ATTEMPTS)))
        try:
            result = retrying(lambda: self.complete(params, request))
        except GaveUp as exc:
            result = GenerationResult(key=request.key, error=str(exc))
        result.retries = retrying.retries
        result.concurrency = concurrency
        return result

    def generate(self, params: dict, claim: Claim, emit: Emit, should_stop: ShouldStop) -> None:
        """Keep up to params["concurrency"] requests in flight; emit results as they land.

        1. Fill free slots from requests claimed ahead, before any database work, so a slot
           is never idle while a result is being written.
        2. Claim ahead: keep up to one more wave of requests ready.
        3. On cancel, requests in flight or waiting are reported cancelled at once; answers
           that come later are dropped."""
        limit = self.in_flight(params)
        pool = ThreadPoolExecutor(limit, thread_name_prefix=f"{self.name}-request")
        inflight: dict[Future, GenerationRequest] = {}
        ready: deque[GenerationRequest] = deque()

        def fill() -> None:
            while ready and len(inflight) < limit:
                request = ready.popleft()
                inflight[pool.submit(self.complete_with_retries, params, request, limit)] = request

        try:
            while True:
                if should_stop():
                    for request in [*inflight.values(), *ready]:
                        emit(GenerationResult(key=request.key, cancelled=True))
                    return
                fill()
                if len(ready) < limit:
                    ready.extend(claim(limit - len(ready)))
                    fill()
                if not inflight:
                    return
                done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    del inflight[future]
                fill()  # the next wave goes out before the results are written
                for future in done:
                    emit(future.result())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def split_system(messages: list[dict]) -> tuple[str, list[dict]]:
    """Anthropic takes the system prompt apart from the turns."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    return system, [m for m in messages if m["role"] != "system"]


def sampling(params: dict, **names: str) -> dict:
    """The sampling parameters the configuration sets, under the API's names; unset ones are
    left out, since some models refuse any non-default value."""
    return {api: params[ours] for ours, api in names.items() if params.get(ours) not in (None, [])}
