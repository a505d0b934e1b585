"""The one retry policy of every remote call (LLM and embedding backends): tenacity over `Fault`s.

Wait after failed attempt n: min(max_s, initial_s·2^(n−1) + U(0, initial_s)), raised to the server's
Retry-After when it sent one (still capped by max_s); an "empty" reply is retried at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from econ.llm.faults import Fault


def backoff_s(attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Wait after failed attempt n ≥ 1: min(max_s, initial_s·2^(n−1) + U(0, initial_s)) (exponential + jitter)."""
    jitter = (rng or random).uniform(0.0, initial_s)
    return min(max_s, initial_s * 2 ** (attempt - 1) + jitter)


def fault_wait(initial_s: float, max_s: float) -> Callable[[RetryCallState], float]:
    """tenacity's `wait`: backoff with jitter, at least Retry-After, none after an empty reply."""

    def wait(state: RetryCallState) -> float:
        fault = state.outcome.exception() if state.outcome else None
        if isinstance(fault, Fault) and fault.kind == "empty":
            return 0.0
        seconds = backoff_s(state.attempt_number, initial_s, max_s)
        if isinstance(fault, Fault) and fault.retry_after_s is not None:
            seconds = max(seconds, fault.retry_after_s)
        return min(seconds, max_s)

    return wait


def retrying(
    max_retries: int,
    initial_s: float,
    max_s: float,
    asynchronous: bool = False,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying | AsyncRetrying:
    """Up to `max_retries` retries of a `Fault` (then the last one is raised), waiting by `fault_wait`."""
    kind = AsyncRetrying if asynchronous else Retrying
    return kind(
        stop=stop_after_attempt(max_retries + 1),
        wait=fault_wait(initial_s, max_s),
        retry=retry_if_exception_type(Fault),
        before_sleep=before_sleep,
        reraise=True,
    )
