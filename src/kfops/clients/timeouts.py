"""Default timeouts and retry budgets of every live read, in one place (the httpx rule)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 3.0  # TCP + TLS handshake; an API server that cannot answer this fast is down
    read_s: float = 8.0  # one response; list calls use selectors so answers stay small
    attempts: int = 3  # transient errors only (connection reset, 5xx, 429)
    backoff_max_s: float = 2.0  # cap of the jittered exponential backoff between attempts
