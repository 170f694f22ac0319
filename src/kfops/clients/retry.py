"""Retries for idempotent reads on transient errors only; permanent errors surface at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from kfops.clients.errors import TransientReadError
from kfops.clients.timeouts import Timeouts

T = TypeVar("T")


def _wait(timeouts: Timeouts) -> Callable[[RetryCallState], float]:
    jitter = wait_random_exponential(multiplier=0.2, max=timeouts.backoff_max_s)

    def wait(state: RetryCallState) -> float:
        """Jittered backoff, but never shorter than a 429's Retry-After."""
        outcome = state.outcome
        error = outcome.exception() if outcome else None
        retry_after = getattr(error, "retry_after_s", None) or 0.0
        return max(jitter(state), min(retry_after, timeouts.read_s))

    return wait


def with_retries(timeouts: Timeouts, read: Callable[[], T]) -> T:
    retrying = Retrying(
        retry=retry_if_exception_type(TransientReadError),
        stop=stop_after_attempt(timeouts.attempts),
        wait=_wait(timeouts),
        reraise=True,
    )
    return retrying(read)
