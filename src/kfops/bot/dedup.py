"""Remembering what was already seen, for a while: redelivered webhooks, replayed clicks."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: PagerDuty retries an undelivered webhook for up to 48 h: remember event ids that long.
DEDUP_TTL_S = 48 * 3600.0


class Deduplicator:
    """Remembers keys for `ttl_s` (at most `max_entries`, oldest forgotten first); thread-safe.

    Deliveries are at-least-once: a redelivery must be answered 2xx but not run twice.
    """

    def __init__(
        self,
        ttl_s: float = DEDUP_TTL_S,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> expiry, oldest first

    def first(self, key: str) -> bool:
        """True the first time `key` is offered within the TTL (and remember it); else False."""
        now = self._clock()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) <= now:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now + self._ttl
            if len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return True

    def forget(self, key: str) -> None:
        """Let `key` through again (the request it stood for was handed back, not run)."""
        with self._lock:
            self._seen.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
