"""The arithmetic behind the concurrency and SLO rungs, pure and shown in full.

Little's law: the mean number of requests in flight equals the arrival rate times the mean time
each spends inside, L = λ × W. Per pod, c = λ × W / pods — the number Knative's KPA compares
with its target T (it aims at T × u, u = container-concurrency-target-percentage, so a pod
scales out before it is full).

The recommended target R is the in-flight count per pod at which P95 meets the SLO, if latency
grows in proportion to the requests in flight — a model server that works through requests in
turn (one model, one device): at c in flight the P95 is p95, so at c × (s / p95) it is s. Over u
because Knative aims at T × u: R = max(1, floor(c × (s / p95) / u)). A target far above R lets
requests queue in a pod before it scales (latency breaches under load); far below it, Knative
adds pods for load one pod can take (cost, and cold starts).

A ratio alone is not a fault: a lightly loaded service on the default target of 100 has R = 1,
and nothing is wrong with it. So "too high" also needs the harm — P95 over its SLO — and "too
low" needs Knative to be running more pods than the service's minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    rate: float  # λ, requests/s
    mean_latency_s: float  # W = latency_sum_rate / λ
    pods: int  # ready replicas (at least 1)
    in_flight: float  # c = λ × W / pods
    target: float  # T
    target_source: str
    utilization: float  # u, a fraction (0.7)
    p95_s: float
    slo_p95_s: float  # s
    recommended: int  # R
    factor: float  # kserve_target_off_factor
    min_pods: int = 1  # the service's min scale: below it the target decides nothing

    @property
    def too_high(self) -> bool:
        """T ≫ R while P95 misses its SLO: requests queue in the pods before Knative scales out."""
        return self.target >= self.recommended * self.factor and self.p95_s > self.slo_p95_s

    @property
    def too_low(self) -> bool:
        """R ≫ T while Knative runs more pods than the minimum: it scales out for load a pod can take."""
        return self.recommended >= self.target * self.factor and self.pods > max(1, self.min_pods)

    @property
    def off(self) -> bool:
        return self.too_high or self.too_low

    @property
    def direction(self) -> str:
        return "too high" if self.too_high else "too low"

    def arithmetic(self) -> str:
        """The whole computation in one line, numbers rounded for reading."""
        return (
            f"λ = {self.rate:.3g} req/s, W = {self.mean_latency_s:.3g} s, pods = {self.pods}: "
            f"c = λ × W / pods = {self.in_flight:.3g} in flight per pod; "
            f"P95 = {self.p95_s:.3g} s against s = {self.slo_p95_s:.3g} s, u = {self.utilization:.0%}: "
            f"R = max(1, floor(c × s / P95 / u)) = max(1, floor({self.in_flight:.3g} × "
            f"{self.slo_p95_s:.3g} / {self.p95_s:.3g} / {self.utilization:.2g})) = {self.recommended}; "
            f"configured T = {self.target:g} ({self.target_source})"
        )


def calibrate(
    *,
    rate: float,
    latency_sum_rate: float,
    pods: int,
    target: float,
    target_source: str,
    utilization: float,
    p95_s: float,
    slo_p95_s: float,
    factor: float,
    min_pods: int = 1,
) -> Calibration:
    """Little's law and the recommended target; the inputs must be finite and the rate positive."""
    pods = max(1, pods)
    mean = latency_sum_rate / rate
    in_flight = rate * mean / pods
    recommended = max(1, math.floor(in_flight * (slo_p95_s / p95_s) / utilization)) if p95_s > 0 else 1
    return Calibration(
        rate=rate,
        mean_latency_s=mean,
        pods=pods,
        in_flight=in_flight,
        target=target,
        target_source=target_source,
        utilization=utilization,
        p95_s=p95_s,
        slo_p95_s=slo_p95_s,
        recommended=recommended,
        factor=factor,
        min_pods=min_pods,
    )


@dataclass(frozen=True)
class Breach:
    what: str  # "P95 latency"
    value: float
    objective: float
    unit: str  # "s" | "ratio" | "/h"

    def describe(self) -> str:
        if self.unit == "ratio":
            return f"{self.what} {self.value:.2%} > {self.objective:.2%}"
        if self.unit == "s":
            return f"{self.what} {self.value * 1000:.0f} ms > {self.objective * 1000:.0f} ms"
        return f"{self.what} {self.value:.0f}{self.unit} ≥ {self.objective:g}{self.unit}"


@dataclass(frozen=True)
class Objectives:
    p50_s: float
    p95_s: float
    p99_s: float
    error_ratio: float
    cold_starts_per_h: float


def breaches(
    objectives: Objectives,
    p50: float | None,
    p95: float | None,
    p99: float | None,
    error_ratio: float | None,
    cold_starts_per_h: float | None,
) -> tuple[Breach, ...]:
    """Each objective the numbers break. None or NaN (absent, or no requests) breaks nothing."""

    def known(value: float | None) -> bool:
        return value is not None and not math.isnan(value)

    found: list[Breach] = []
    for what, value, objective in (
        ("P50 latency", p50, objectives.p50_s),
        ("P95 latency", p95, objectives.p95_s),
        ("P99 latency", p99, objectives.p99_s),
    ):
        if known(value) and value is not None and value > objective:
            found.append(Breach(what, value, objective, "s"))
    if known(error_ratio) and error_ratio is not None and error_ratio > objectives.error_ratio:
        found.append(Breach("5xx ratio", error_ratio, objectives.error_ratio, "ratio"))
    if (
        known(cold_starts_per_h)
        and cold_starts_per_h is not None
        and cold_starts_per_h >= objectives.cold_starts_per_h
    ):
        found.append(Breach("cold starts", cold_starts_per_h, objectives.cold_starts_per_h, "/h"))
    return tuple(found)
