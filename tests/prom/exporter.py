"""A loopback ``/metrics`` target whose series a test sets at run time.

Why: the GPU ladder reads dcgm-exporter and kube-state-metrics series through Prometheus.
Instead of canned API answers, a test plays those exporters with :class:`ScenarioExporter`
and lets a real Prometheus scrape them, so the queries kfops sends are evaluated by the real
PromQL engine against real scraped samples (staleness, ``up``, label matching included).

Series are plain gauges keyed by (name, label set); one metric name may carry different label
sets, as real exporters do. The exposition is produced by ``prometheus_client`` from a
:class:`~prometheus_client.CollectorRegistry`, so the text format is the real one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

LOOPBACK: Final = "127.0.0.1"

_LabelKey = tuple[tuple[str, str], ...]


def _key(labels: Mapping[str, str]) -> _LabelKey:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


class _SeriesCollector(Collector):
    """Yields the current series as gauge families; read under the exporter's lock."""

    def __init__(self, exporter: ScenarioExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterable[Metric]:
        with self._exporter._lock:
            snapshot = {name: dict(series) for name, series in self._exporter._series.items()}
            helps = dict(self._exporter._help)
        for name, series in sorted(snapshot.items()):
            family = Metric(name, helps.get(name, name), "gauge")
            for key, value in series.items():
                family.add_sample(name, dict(key), value)
            yield family


class ScenarioExporter:
    """An HTTP server on a free loopback port serving ``/metrics`` from a settable registry.

    ``set``/``remove``/``clear`` change what the next scrape sees. ``fail(status)`` makes
    every scrape answer that HTTP status (Prometheus then records ``up == 0`` and marks the
    target's series stale); ``recover()`` undoes it. ``stop()`` closes the listener, so
    scrapes get "connection refused" — also ``up == 0``.
    """

    def __init__(self, name: str = "exporter") -> None:
        self.name = name
        self.registry = CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._series: dict[str, dict[_LabelKey, float]] = {}
        self._help: dict[str, str] = {}
        self._fail_status: int | None = None
        self._scrapes = 0
        self.registry.register(_SeriesCollector(self))
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"exporter-{name}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def target(self) -> str:
        """``host:port``, as a Prometheus ``static_configs`` target."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.target}/metrics"

    @property
    def scrapes(self) -> int:
        """How many ``/metrics`` requests were answered (successfully or not)."""
        with self._lock:
            return self._scrapes

    # ------------------------------------------------------------------ series

    def set(self, name: str, labels: Mapping[str, str], value: float, help: str | None = None) -> None:
        """Create or update one series ``name{labels}`` to ``value``."""
        with self._lock:
            self._series.setdefault(name, {})[_key(labels)] = float(value)
            if help is not None:
                self._help[name] = help

    def remove(self, name: str, labels: Mapping[str, str]) -> None:
        """Drop one series; a missing one is not an error."""
        with self._lock:
            self._series.get(name, {}).pop(_key(labels), None)

    def clear(self, name: str | None = None) -> None:
        """Drop every series of ``name``, or every series at all when ``name`` is None."""
        with self._lock:
            if name is None:
                self._series.clear()
            else:
                self._series.pop(name, None)

    def series(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """What the next scrape will return, for assertions and debugging."""
        with self._lock:
            return {name: [(dict(k), v) for k, v in s.items()] for name, s in self._series.items() if s}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ failure

    def fail(self, status: int = 500) -> None:
        """Answer every scrape with ``status`` until :meth:`recover`."""
        with self._lock:
            self._fail_status = status

    def recover(self) -> None:
        with self._lock:
            self._fail_status = None

    def reset(self) -> None:
        """No series, not failing: the state a fresh exporter has."""
        with self._lock:
            self._series.clear()
            self._fail_status = None

    def stop(self) -> None:
        """Close the listener for good (scrapes then get connection refused)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ HTTP

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self._reply(404, b"not found\n", "text/plain")
                    return
                with exporter._lock:
                    exporter._scrapes += 1
                    failing = exporter._fail_status
                if failing is not None:
                    self._reply(failing, b"exporter failing on purpose\n", "text/plain")
                    return
                self._reply(200, exporter.exposition(), CONTENT_TYPE_LATEST)

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # quiet: one scrape a second
                return

        return Handler

    def __repr__(self) -> str:
        return f"ScenarioExporter({self.name!r}, {self.target})"
