"""Prometheus metrics of `kfops serve`, in their own registry (built by the service, not at import)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self, queue_depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kfops_http_requests",
            "HTTP requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.diagnoses = Counter(
            "kfops_diagnoses",
            "Diagnoses run, by ladder and verdict",
            ["ladder", "verdict"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "kfops_diagnosis_seconds",
            "Wall time of one diagnosis run",
            ["ladder"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.coalesced = Counter(
            "kfops_requests_coalesced",
            "Requests answered by an existing run (storm control)",
            registry=self.registry,
        )
        self.rejected = Counter(
            "kfops_requests_rejected",
            "Requests refused because the queue was full",
            ["source"],
            registry=self.registry,
        )
        self.remediations = Counter(
            "kfops_remediations",
            "Gated executions by action and outcome",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.notify_errors = Counter(
            "kfops_notify_errors",
            "Results that could not be posted, by surface",
            ["surface"],
            registry=self.registry,
        )
        depth = Gauge("kfops_queue_depth", "Diagnosis requests waiting in the queue", registry=self.registry)
        depth.set_function(lambda: float(queue_depth()))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
