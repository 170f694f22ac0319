"""Every PromQL the kserve-flapping ladder runs, named, each with why it is written the way it is.

Sources (domain.md §3.6):
- Knative mode: the queue-proxy's request histogram. Knative ≥ 1.19 (Kubeflow ships 1.21.1)
  exports it as ``kn_serving_invocation_duration_seconds_{bucket,sum,count}`` with the labels
  ``k8s_namespace_name``, ``kn_service_name``, ``http_response_status_code`` — and only once
  ``config-observability`` sets ``request-metrics-protocol: prometheus`` (the default is
  ``none``). These are the series the KfopsKServe* recording rules read.
- Standard (RawDeployment) mode has no queue-proxy: Istio's destination-side
  ``istio_requests_total`` and ``istio_request_duration_milliseconds`` (milliseconds, so
  divided by 1000), whose ``destination_workload`` is the Deployment ``<isvc>-predictor``.
- Cold starts come from kube-state-metrics, not Knative: a scale-to-zero revision's Deployment
  ``<isvc>-predictor-<NNNNN>-deployment`` goes from 0 to ≥ 1 replicas. This works even when
  Knative exports nothing (the KfopsKServeColdStartsHigh alert counts the same way).
- The Ready history comes from the kube-state-metrics custom-resource config shipped in
  deploy/prometheus/ksm-inferenceservice.yaml (``kube_customresource_inferenceservice_status_condition``).
- Memory: cAdvisor's ``container_memory_working_set_bytes`` — what the OOM killer and the
  kubelet's eviction compare with the limit.

The predictor is ``<isvc>-predictor`` since KServe 0.9 and ``<isvc>-predictor-default`` before
(domain.md §3.4); every selector accepts both. Rates use 5 m, the window of the alerts, so kfops
shows the numbers that paged.
"""

from __future__ import annotations

#: the windows of the request rates and quantiles (the KfopsKServe* alerts' window)
RATE_WINDOW = "5m"


def _predictor(isvc: str) -> str:
    """A regex for the predictor's Knative Service or Deployment name, old and new naming."""
    return f"{isvc}-predictor(-default)?"


def _knative(namespace: str, isvc: str, extra: str = "") -> str:
    return f'k8s_namespace_name="{namespace}",kn_service_name=~"{_predictor(isvc)}"{extra}'


def _istio(namespace: str, isvc: str, extra: str = "") -> str:
    return (
        f'reporter="destination",destination_workload_namespace="{namespace}",'
        f'destination_workload=~"{_predictor(isvc)}"{extra}'
    )


# --- Ready history (kube-state-metrics custom resource state) ---------------------------------

READY_METRIC = "kube_customresource_inferenceservice_status_condition"


def ready_changes(namespace: str, isvc: str, window_min: float) -> str:
    """How often the InferenceService's Ready condition flipped in the window."""
    return f'changes({READY_METRIC}{{namespace="{namespace}",name="{isvc}",type="Ready"}}[{window_min:g}m])'


def flapping_services(window_min: float, more_than: int) -> str:
    """Every InferenceService whose Ready flipped more than ``more_than`` times (the sweep)."""
    return f'changes({READY_METRIC}{{type="Ready"}}[{window_min:g}m]) > {more_than}'


# --- cold starts (kube-state-metrics) ---------------------------------------------------------


def cold_starts(namespace: str, isvc: str, window_min: float) -> str:
    """Scale-ups from zero of the predictor's revisions in the window.

    ``> bool 0`` turns the replica count into 1 (wants pods) / 0 (at zero); over a 30 s subquery,
    ``changes`` counts every transition and ``resets`` the 1 → 0 ones, so the difference counts
    the 0 → 1 ones — a cold start each. A scale-to-zero cycle lasts at least the stable window
    plus the grace period (about 90 s), so 30 s sees every one.
    """
    replicas = (
        f'kube_deployment_spec_replicas{{namespace="{namespace}",'
        f'deployment=~"{_predictor(isvc)}-[0-9]+-deployment"}} > bool 0'
    )
    span = f"[{window_min:g}m:30s]"
    return f"sum(changes(({replicas}){span}) - resets(({replicas}){span}))"


#: a revision's Deployment → its InferenceService (the kfops:kserve_predictor_scaled_up rule's regex)
_REVISION_DEPLOYMENT = "(.+)-predictor(?:-default)?-[0-9]+-deployment"


def cold_start_storms(window_min: float, at_least: float) -> str:
    """Every InferenceService that scaled up from zero at least ``at_least`` times (the sweep).

    What the KfopsKServeColdStartsHigh alert pages for, built like :func:`cold_starts` over every
    revision Deployment of the cluster; ``label_replace`` names the InferenceService
    (``inferenceservice``) from ``<isvc>-predictor(-default)?-NNNNN-deployment`` so the revisions
    of one service sum together.
    """
    replicas = (
        'kube_deployment_spec_replicas{deployment=~".+-predictor(-default)?-[0-9]+-deployment"} > bool 0'
    )
    span = f"[{window_min:g}m:30s]"
    per_revision = f"changes(({replicas}){span}) - resets(({replicas}){span})"
    named = f'label_replace({per_revision}, "inferenceservice", "$1", "deployment", "{_REVISION_DEPLOYMENT}")'
    return f"sum by (namespace, inferenceservice) ({named}) >= {at_least:g}"


# --- memory -----------------------------------------------------------------------------------


def working_set_peak(namespace: str, isvc: str, window_min: float) -> str:
    """Each predictor pod's highest model-server working set (bytes) in the window."""
    return (
        "max by (pod) (max_over_time(container_memory_working_set_bytes{"
        f'namespace="{namespace}",pod=~"{_predictor(isvc)}-.*",container="kserve-container"'
        f"}}[{window_min:g}m]))"
    )


# --- requests: rate, errors, latency ------------------------------------------------------------

KNATIVE_HISTOGRAM = "kn_serving_invocation_duration_seconds"
ISTIO_REQUESTS = "istio_requests_total"
ISTIO_HISTOGRAM = "istio_request_duration_milliseconds"


def request_rate(namespace: str, isvc: str, knative: bool) -> str:
    """Requests per second over the service (every revision, every pod)."""
    if knative:
        return f"sum(rate({KNATIVE_HISTOGRAM}_count{{{_knative(namespace, isvc)}}}[{RATE_WINDOW}]))"
    return f"sum(rate({ISTIO_REQUESTS}{{{_istio(namespace, isvc)}}}[{RATE_WINDOW}]))"


def error_rate(namespace: str, isvc: str, knative: bool) -> str:
    """Requests per second answered with a 5xx."""
    if knative:
        selector = _knative(namespace, isvc, ',http_response_status_code=~"5.."')
        return f"sum(rate({KNATIVE_HISTOGRAM}_count{{{selector}}}[{RATE_WINDOW}]))"
    selector = _istio(namespace, isvc, ',response_code=~"5.."')
    return f"sum(rate({ISTIO_REQUESTS}{{{selector}}}[{RATE_WINDOW}]))"


def latency_sum_rate(namespace: str, isvc: str, knative: bool) -> str:
    """Seconds of request time per second: divided by the request rate, the mean latency W."""
    if knative:
        return f"sum(rate({KNATIVE_HISTOGRAM}_sum{{{_knative(namespace, isvc)}}}[{RATE_WINDOW}]))"
    return f"sum(rate({ISTIO_HISTOGRAM}_sum{{{_istio(namespace, isvc)}}}[{RATE_WINDOW}])) / 1000"


def latency_quantile(namespace: str, isvc: str, knative: bool, quantile: float) -> str:
    """The latency quantile (seconds) over the service's buckets."""
    if knative:
        buckets = f"rate({KNATIVE_HISTOGRAM}_bucket{{{_knative(namespace, isvc)}}}[{RATE_WINDOW}])"
        return f"histogram_quantile({quantile:g}, sum by (le) ({buckets}))"
    buckets = f"rate({ISTIO_HISTOGRAM}_bucket{{{_istio(namespace, isvc)}}}[{RATE_WINDOW}])"
    return f"histogram_quantile({quantile:g}, sum by (le) ({buckets})) / 1000"


def request_metric(knative: bool) -> str:
    """The metric a NO_DATA answer names: what must be exported for the request rungs."""
    return f"{KNATIVE_HISTOGRAM}_bucket" if knative else f"{ISTIO_HISTOGRAM}_bucket"
