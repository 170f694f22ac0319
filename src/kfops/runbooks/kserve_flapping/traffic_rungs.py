"""Rungs that read the request metrics: is the concurrency target right for the model's latency
(Little's law), and does the service meet its SLOs?"""

from __future__ import annotations

import math

from kfops.diagnostics.kserve.arithmetic import Calibration, Objectives, breaches, calibrate
from kfops.diagnostics.kserve.isvc import InferenceService, deployment_mode
from kfops.diagnostics.kserve.knative import (
    DEFAULT_TARGET,
    DEFAULT_UTILIZATION_PCT,
    Autoscaler,
    AutoscalerDefaults,
    Revision,
    utilization_annotation,
)
from kfops.diagnostics.kserve.metrics import ColdStarts, PromAbsent, Requests
from kfops.diagnostics.prometheus.kserve_queries import request_metric
from kfops.model import Branch, Facts, Rung, Status
from kfops.runbooks.kserve_flapping.probes import (
    COLD_STARTS,
    DEFAULTS,
    ISVC,
    OPTIONAL_AUTOSCALER,
    OPTIONAL_REVISIONS,
    PREDICTOR,
    REQUESTS,
    SETTINGS,
    cold_starts_of,
    defaults_of,
    isvc_of,
    maybe_autoscaler,
    maybe_revisions,
    predictor_of,
    requests_of,
    settings_of,
)
from kfops.runbooks.kserve_flapping.service_rungs import PROMETHEUS_HOWTO


def _requests(f: Facts) -> Requests:
    value = requests_of(f)
    if isinstance(value, PromAbsent):
        raise LookupError("no Prometheus")  # only asked after the no-prometheus branch
    return value


def _absent(f: Facts) -> bool:
    return isinstance(requests_of(f), PromAbsent)


def _knative(f: Facts) -> bool:
    return deployment_mode(isvc_of(f), settings_of(f).kserve_default_deployment_mode).knative


def _not_exported_say(f: Facts) -> str:
    isvc = isvc_of(f)
    metric = request_metric(_knative(f))
    if _knative(f):
        how = (
            "Knative exports request metrics only when ConfigMap knative-serving/config-observability sets "
            "`request-metrics-protocol: prometheus` (the default is none)"
        )
    else:
        how = (
            f"Istio's destination-side metrics for {isvc.predictor} are not scraped "
            "(no sidecar, or no scrape config)"
        )
    return f"no {metric} series for {isvc.ref}: {how}"


# ---------------------------------------------------------------- concurrency
def _revision(f: Facts) -> Revision | None:
    revisions = maybe_revisions(f)
    if revisions is None:
        return None
    return revisions.serving or revisions.latest_created


def _autoscaler(f: Facts) -> Autoscaler | None:
    return maybe_autoscaler(f)


def scale_metric(f: Facts) -> str:
    """What the autoscaler scales on: the revision's or PodAutoscaler's metric, else the spec's."""
    if not _knative(f):
        auto = _autoscaler(f)
        return auto.scaler.metric if auto and auto.scaler else "cpu"
    revision = _revision(f)
    if revision is not None and revision.annotations.get("autoscaling.knative.dev/metric"):
        return revision.annotations["autoscaling.knative.dev/metric"]
    auto = _autoscaler(f)
    if auto is not None and auto.scaler is not None and auto.scaler.metric:
        return auto.scaler.metric
    return isvc_of(f).scale_metric or "concurrency"


def configured_target(
    isvc: InferenceService,
    revision: Revision | None,
    auto: Autoscaler | None,
    defaults: AutoscalerDefaults | None,
) -> tuple[float, str, int | None]:
    """T, where it came from, and the value the InferenceService itself sets (for the patch)."""
    own = isvc.target_annotation
    own_int = int(float(own)) if own else isvc.scale_target
    if revision is not None and revision.target is not None:
        return (
            revision.target,
            f"annotation autoscaling.knative.dev/target on Revision {revision.name}",
            own_int,
        )
    if (
        auto is not None
        and auto.scaler is not None
        and auto.scaler.target is not None
        and auto.scaler.kind == "PodAutoscaler"
    ):
        return auto.scaler.target, f"PodAutoscaler {auto.scaler.name}", own_int
    if own:
        return float(own), "annotation autoscaling.knative.dev/target", own_int
    if isvc.scale_target is not None and isvc.scale_metric in ("", "concurrency"):
        return float(isvc.scale_target), "spec.predictor.scaleTarget", own_int
    concurrency = isvc.container_concurrency or (revision.container_concurrency if revision else None)
    if concurrency:
        return float(concurrency), "containerConcurrency", own_int
    if defaults is not None:
        return defaults.target, defaults.target_source, own_int
    return DEFAULT_TARGET, "Knative's default: config-autoscaler not read", own_int


def _utilization(f: Facts) -> float:
    annotated = utilization_annotation(_revision(f), isvc_of(f))
    if annotated is not None:
        return annotated / 100
    defaults = defaults_of(f)
    return (defaults.utilization_pct if defaults else DEFAULT_UTILIZATION_PCT) / 100


def _pods(f: Facts) -> int:
    auto = _autoscaler(f)
    if auto is not None and auto.scaler is not None and auto.scaler.actual and auto.scaler.actual > 0:
        return auto.scaler.actual
    return max(1, len(predictor_of(f).ready))


def _measurable(r: Requests) -> bool:
    return (
        r.latency_sum_rate is not None
        and r.p95 is not None
        and math.isfinite(r.p95)
        and r.p95 > 0
        and math.isfinite(r.latency_sum_rate)
    )


def calibration(f: Facts) -> Calibration:
    r = _requests(f)
    assert r.rate is not None and r.latency_sum_rate is not None and r.p95 is not None
    target, source, _ = configured_target(isvc_of(f), _revision(f), _autoscaler(f), defaults_of(f))
    s = settings_of(f)
    return calibrate(
        rate=r.rate,
        latency_sum_rate=r.latency_sum_rate,
        pods=_pods(f),
        target=target,
        target_source=source,
        utilization=_utilization(f),
        p95_s=r.p95,
        slo_p95_s=s.kserve_slo_p95_s,
        factor=s.kserve_target_off_factor,
        min_pods=auto.min_scale if (auto := _autoscaler(f)) is not None else isvc_of(f).min_scale,
    )


def _off_say(f: Facts) -> str:
    c = calibration(f)
    return (
        f"the concurrency target is {c.direction}: T = {c.target:g} per pod, but Little's law recommends "
        f"R = {c.recommended} (off by more than ×{c.factor:g}). {c.arithmetic()}"
    )


#: the first answer of every rung that needs Prometheus
NO_PROMETHEUS = Branch(
    "no-prometheus",
    Status.SKIPPED,
    "no Prometheus is configured",
    _absent,
    lambda f: f"not checked: {PROMETHEUS_HOWTO}",
)


CONCURRENCY = Rung(
    id="concurrency",
    question="Is the autoscaler's concurrency target right for the model's latency (Little's law)?",
    probes=(REQUESTS, ISVC, OPTIONAL_REVISIONS, OPTIONAL_AUTOSCALER, PREDICTOR, DEFAULTS, SETTINGS),
    branches=(
        Branch(
            "not-concurrency",
            Status.SKIPPED,
            "the autoscaler scales on CPU, memory or rps, not concurrency",
            lambda f: scale_metric(f) != "concurrency",
            lambda f: f"not applicable: {isvc_of(f).ref} scales on {scale_metric(f)}, not on concurrency",
        ),
        NO_PROMETHEUS,
        Branch(
            "not-exported",
            Status.NO_DATA,
            "the request metrics (rate, latency histogram) are not exported (the metric is named)",
            lambda f: not _requests(f).exported or (not _requests(f).idle and not _measurable(_requests(f))),
            _not_exported_say,
        ),
        Branch(
            "idle",
            Status.OK,
            "no requests in the last 5 minutes: nothing to calibrate against",
            lambda f: _requests(f).idle,
            lambda f: (
                f"no requests to {isvc_of(f).ref} in the last 5 min: the target cannot be checked "
                "against load"
            ),
        ),
        Branch(
            "target-off",
            Status.FAIL,
            "the configured target T is kserve_target_off_factor (2) times above or below the recommended R",
            lambda f: calibration(f).off,
            _off_say,
        ),
    ),
    default=Branch(
        "calibrated",
        Status.OK,
        "the target is within kserve_target_off_factor of the recommended one",
        lambda f: True,
        lambda f: (
            f"the concurrency target T = {calibration(f).target:g} fits (R = {calibration(f).recommended}). "
            f"{calibration(f).arithmetic()}"
        ),
    ),
)


# ---------------------------------------------------------------- slo
def _cold_per_h(f: Facts) -> float | None:
    auto = _autoscaler(f)
    scale_to_zero = auto.scale_to_zero if auto is not None else (_knative(f) and isvc_of(f).min_scale == 0)
    value = cold_starts_of(f)
    if not scale_to_zero or not isinstance(value, ColdStarts) or value.count is None:
        return None
    return value.count * 60 / value.window_min


def _breaches(f: Facts) -> tuple[str, ...]:
    s = settings_of(f)
    r = _requests(f)
    objectives = Objectives(
        s.kserve_slo_p50_s,
        s.kserve_slo_p95_s,
        s.kserve_slo_p99_s,
        s.kserve_slo_error_ratio,
        s.kserve_slo_cold_starts_per_h,
    )
    idle = r.idle
    found = breaches(
        objectives,
        None if idle else r.p50,
        None if idle else r.p95,
        None if idle else r.p99,
        r.error_ratio,
        _cold_per_h(f),
    )
    return tuple(b.describe() for b in found)


def _met_say(f: Facts) -> str:
    r = _requests(f)
    s = settings_of(f)

    def ms(value: float | None) -> str:
        return "?" if value is None or math.isnan(value) else f"{value * 1000:.0f} ms"

    ratio = r.error_ratio
    cold = _cold_per_h(f)
    return (
        f"{r.rate:.3g} req/s; P50 {ms(r.p50)} (SLO {s.kserve_slo_p50_s * 1000:.0f} ms), "
        f"P95 {ms(r.p95)} (SLO {s.kserve_slo_p95_s * 1000:.0f} ms), "
        f"P99 {ms(r.p99)} (SLO {s.kserve_slo_p99_s * 1000:.0f} ms); "
        f"5xx {(ratio or 0):.2%} (SLO {s.kserve_slo_error_ratio:.2%})"
        + (
            f"; {cold:.0f} cold starts/h (SLO < {s.kserve_slo_cold_starts_per_h:g})"
            if cold is not None
            else ""
        )
    )


SLO = Rung(
    id="slo",
    question="Does the service meet its SLOs: P50/P95/P99 latency, 5xx ratio, cold starts per hour?",
    probes=(REQUESTS, ISVC, COLD_STARTS, OPTIONAL_AUTOSCALER, SETTINGS),
    branches=(
        NO_PROMETHEUS,
        Branch(
            "not-exported",
            Status.NO_DATA,
            "the request metrics are not exported (the metric is named, and how to turn it on)",
            lambda f: not _requests(f).exported,
            _not_exported_say,
        ),
        Branch(
            "breached",
            Status.FAIL,
            "an objective is broken: each breach is shown against its objective",
            lambda f: bool(_breaches(f)),
            lambda f: f"{isvc_of(f).ref} breaks its SLO: " + "; ".join(_breaches(f)),
        ),
        Branch(
            "no-traffic",
            Status.OK,
            "no requests in the last 5 minutes (a NaN quantile is no traffic, not a breach)",
            lambda f: _requests(f).idle,
            lambda f: f"no requests to {isvc_of(f).ref} in the last 5 min: no latency to judge",
        ),
    ),
    default=Branch("met", Status.OK, "every objective is met", lambda f: True, _met_say),
)
