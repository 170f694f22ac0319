"""Request accounting and single-flight memoisation, shared by every reader of a diagnosis.

Within one diagnosis, two rungs asking the same question cost one request: the first caller
reads, concurrent callers wait for its answer, later callers get it from the memo. Errors are
memoised too — a read refused once is refused for the whole diagnosis, consistently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from kfops.clients.galera.queries import Query
from kfops.clients.protocols import Fetched, GaleraReader, KubeReader, PromReader
from kfops.clients.resources import ResourceRef
from kfops.model import ProbeStats


class Accounting:
    """Thread-safe counters of what the sources were asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.memo_hits = 0
        self.errors = 0
        self.bytes = 0
        self.slowest_request_s = 0.0

    def request(self, nbytes: int, seconds: float, failed: bool) -> None:
        with self._lock:
            self.requests += 1
            self.bytes += nbytes
            self.errors += int(failed)
            self.slowest_request_s = max(self.slowest_request_s, seconds)

    def hit(self) -> None:
        with self._lock:
            self.memo_hits += 1

    def snapshot(self) -> ProbeStats:
        with self._lock:
            return ProbeStats(
                requests=self.requests,
                memo_hits=self.memo_hits,
                errors=self.errors,
                bytes=self.bytes,
                slowest_request_s=round(self.slowest_request_s, 4),
            )


class SingleFlight:
    """Run each distinct key once; concurrent and later callers share its result or error."""

    def __init__(self, accounting: Accounting) -> None:
        self._lock = threading.Lock()
        self._futures: dict[tuple[object, ...], Future[Fetched]] = {}
        self._accounting = accounting

    def do(self, key: tuple[object, ...], read: Callable[[], Fetched]) -> Fetched:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._futures[key] = future
        if not owner:
            self._accounting.hit()
            return future.result()
        started = time.monotonic()
        try:
            fetched = read()
        except BaseException as exc:  # noqa: BLE001 — stored, re-raised to every caller of the key
            self._accounting.request(0, time.monotonic() - started, failed=True)
            future.set_exception(exc)
        else:
            self._accounting.request(fetched.nbytes, time.monotonic() - started, failed=False)
            future.set_result(fetched)
        return future.result()


class MemoKubeReader:
    """A KubeReader that memoises another for the lifetime of one diagnosis run."""

    def __init__(self, inner: KubeReader, accounting: Accounting) -> None:
        self._inner = inner
        self._flight = SingleFlight(accounting)

    def describe(self) -> str:
        return self._inner.describe()

    def now(self) -> datetime:
        return self._inner.now()

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        return self._flight.do(("get", ref, name, namespace), lambda: self._inner.get(ref, name, namespace))

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Fetched:
        key = ("list", ref, namespace, label_selector, field_selector)
        return self._flight.do(key, lambda: self._inner.list(ref, namespace, label_selector, field_selector))

    def pod_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, tail_lines: int = 50
    ) -> Fetched:
        key = ("log", namespace, pod, container, previous, tail_lines)
        return self._flight.do(
            key, lambda: self._inner.pod_log(namespace, pod, container, previous, tail_lines)
        )


class MemoPromReader:
    """A PromReader memoised for one diagnosis run, counted with the same accounting."""

    def __init__(self, inner: PromReader, accounting: Accounting) -> None:
        self._inner = inner
        self._flight = SingleFlight(accounting)

    def describe(self) -> str:
        return self._inner.describe()

    def query(self, promql: str) -> Fetched:
        return self._flight.do(("prom", promql), lambda: self._inner.query(promql))

    def query_range(self, promql: str, minutes: float, step_s: float) -> Fetched:
        key = ("prom-range", promql, minutes, step_s)
        return self._flight.do(key, lambda: self._inner.query_range(promql, minutes, step_s))


class MemoGaleraReader:
    """A GaleraReader memoised for one diagnosis run, counted with the same accounting."""

    def __init__(self, inner: GaleraReader, accounting: Accounting) -> None:
        self._inner = inner
        self._flight = SingleFlight(accounting)

    def describe(self) -> str:
        return self._inner.describe()

    def nodes(self) -> tuple[str, ...]:
        return self._inner.nodes()

    def expected_size(self) -> int:
        return self._inner.expected_size()

    def query(self, node: str, query: Query, schemas: tuple[str, ...] = ()) -> Fetched:
        key = ("sql", node, query.name, query.sql, schemas)
        return self._flight.do(key, lambda: self._inner.query(node, query, schemas))

    def query_in(self, node: str, schema: str, query: Query) -> Fetched:
        key = ("sql-in", node, schema, query.name)
        return self._flight.do(key, lambda: self._inner.query_in(node, schema, query))
