"""What Prometheus knows about one InferenceService: Ready flips, cold starts, memory peaks,
requests (rate, 5xx, latency). Every query text comes from kserve_queries, so a snapshot answers
it by the exact text.

Three answers must never be confused (domain.md §3.6): no Prometheus at all (PromAbsent: the
rung is SKIPPED and says how to configure it), a metric that is not exported (an empty result:
NO_DATA naming the metric), and no traffic (a rate of 0, or a quantile of NaN — what
histogram_quantile returns when every bucket's rate is 0). An unreachable Prometheus raises, so
its rung is an ERROR.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kfops.diagnostics.context import ProbeContext, prom_evidence
from kfops.diagnostics.kserve.isvc import get_isvc, mode_of, split_target
from kfops.diagnostics.prometheus import kserve_queries as q
from kfops.diagnostics.prometheus.gpu import PromAbsent
from kfops.model import Evidence, Observed

COLD_START_WINDOW_MIN = 60.0  # the SLO is per hour, as the KfopsKServeColdStartsHigh alert counts

__all__ = ["PromAbsent"]


def _first(values: list[float]) -> float | None:
    return values[0] if values else None


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "absent"
    if math.isnan(value):
        return "NaN (no requests)"
    return f"{value:.4g}{unit}"


@dataclass(frozen=True)
class ReadyFlaps:
    changes: float | None  # None: the series is absent (the kube-state-metrics config is missing)
    window_min: float
    query: str


def read_ready_flaps(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    namespace, name = split_target(ctx.target)
    window = ctx.settings.kserve_flap_window_min
    fetched = ctx.prom.query(q.ready_changes(namespace, name, window))
    changes = max((s.value for s in fetched.value if not math.isnan(s.value)), default=None)
    said = f"Ready changed {_fmt(changes)} times in {window:g} min"
    return Observed(
        ReadyFlaps(changes, window, fetched.query), (prom_evidence(fetched, said, f"{window:g}m"),)
    )


@dataclass(frozen=True)
class ColdStarts:
    count: float | None  # scale-ups from zero in the window; None: no series
    window_min: float
    query: str


def read_cold_starts(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    namespace, name = split_target(ctx.target)
    fetched = ctx.prom.query(q.cold_starts(namespace, name, COLD_START_WINDOW_MIN))
    count = _first([s.value for s in fetched.value if not math.isnan(s.value)])
    said = f"{_fmt(count)} cold starts in the last {COLD_START_WINDOW_MIN:g} min"
    return Observed(
        ColdStarts(count, COLD_START_WINDOW_MIN, fetched.query),
        (prom_evidence(fetched, said, f"{COLD_START_WINDOW_MIN:g}m"),),
    )


@dataclass(frozen=True)
class WorkingSet:
    peaks: dict[str, float]  # pod → highest kserve-container working set (bytes) in the window
    window_min: float
    query: str

    @property
    def peak(self) -> float | None:
        return max(self.peaks.values(), default=None)


def read_working_set(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    namespace, name = split_target(ctx.target)
    window = ctx.settings.kserve_flap_window_min
    fetched = ctx.prom.query(q.working_set_peak(namespace, name, window))
    peaks = {s.labels.get("pod", "?"): s.value for s in fetched.value if not math.isnan(s.value)}
    said = f"peak kserve-container working set of {len(peaks)} pods over {window:g} min"
    return Observed(WorkingSet(peaks, window, fetched.query), (prom_evidence(fetched, said, f"{window:g}m"),))


@dataclass(frozen=True)
class Requests:
    """The service's request metrics over the last 5 minutes (kserve_queries.RATE_WINDOW)."""

    knative: bool
    rate: float | None  # requests/s; None: the metric is not exported
    errors: float | None  # 5xx/s; None: no 5xx series (no 5xx answered)
    latency_sum_rate: float | None  # request-seconds per second
    p50: float | None  # seconds; NaN: no requests; None: absent
    p95: float | None
    p99: float | None

    @property
    def metric(self) -> str:
        return q.request_metric(self.knative)

    @property
    def exported(self) -> bool:
        return self.rate is not None

    @property
    def idle(self) -> bool:
        """No requests in the window: a rate of 0 (or NaN), or a NaN P95."""
        if self.rate is None:
            return False
        return math.isnan(self.rate) or self.rate <= 0 or (self.p95 is not None and math.isnan(self.p95))

    @property
    def error_ratio(self) -> float | None:
        if self.rate is None or self.idle:
            return None
        return (self.errors or 0.0) / self.rate


def read_requests(ctx: ProbeContext) -> Observed:
    if ctx.prom is None:
        return Observed(PromAbsent())
    isvc, _ = get_isvc(ctx)
    knative = mode_of(ctx, isvc).knative
    ns, name = isvc.namespace, isvc.name
    queries = {
        "rate": q.request_rate(ns, name, knative),
        "errors": q.error_rate(ns, name, knative),
        "latency_sum_rate": q.latency_sum_rate(ns, name, knative),
        "p50": q.latency_quantile(ns, name, knative, 0.50),
        "p95": q.latency_quantile(ns, name, knative, 0.95),
        "p99": q.latency_quantile(ns, name, knative, 0.99),
    }
    values: dict[str, float | None] = {}
    evidence: list[Evidence] = []
    for key, promql in queries.items():
        fetched = ctx.prom.query(promql)
        values[key] = _first([s.value for s in fetched.value])
        unit = {"rate": " req/s", "errors": " 5xx/s", "latency_sum_rate": " s/s"}.get(key, " s")
        evidence.append(prom_evidence(fetched, f"{key}: {_fmt(values[key], unit)}", q.RATE_WINDOW))
    requests = Requests(
        knative,
        values["rate"],
        values["errors"],
        values["latency_sum_rate"],
        values["p50"],
        values["p95"],
        values["p99"],
    )
    return Observed(requests, tuple(evidence))
