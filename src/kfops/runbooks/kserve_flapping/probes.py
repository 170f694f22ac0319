"""The probes of the kserve-flapping ladder: each read named once, shared by the rungs.

Optional probes (the Prometheus history behind an API answer, config-autoscaler) may fail
without making their rung an ERROR: the rung answers from the API and says what it could not see.
"""

from __future__ import annotations

from dataclasses import replace

from kfops.diagnostics.context import ProbeContext
from kfops.diagnostics.kserve.isvc import InferenceService, read_isvc
from kfops.diagnostics.kserve.knative import (
    Autoscaler,
    AutoscalerDefaults,
    Revisions,
    read_autoscaler,
    read_autoscaler_defaults,
    read_revisions,
)
from kfops.diagnostics.kserve.metrics import (
    ColdStarts,
    PromAbsent,
    ReadyFlaps,
    Requests,
    WorkingSet,
    read_cold_starts,
    read_ready_flaps,
    read_requests,
    read_working_set,
)
from kfops.diagnostics.kserve.predictor import Predictor, PredictorNodes, read_predictor, read_predictor_nodes
from kfops.diagnostics.kserve.sweep import (
    ColdStartStorms,
    Flapping,
    Inventory,
    read_cold_start_storms,
    read_flapping,
    read_inventory,
)
from kfops.model import Facts, Observed, Probe
from kfops.settings import Settings

ISVC = Probe(
    "isvc", "GET /apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/{name}", read_isvc
)
REVISIONS = Probe(
    "revisions",
    "GET /apis/serving.knative.dev/v1/namespaces/{ns}/revisions?labelSelector=serving.knative.dev/service in "
    "({name}-predictor,{name}-predictor-default) (Knative mode)",
    read_revisions,
)
AUTOSCALER = Probe(
    "autoscaler",
    "GET /apis/autoscaling.internal.knative.dev/v1alpha1/namespaces/{ns}/podautoscalers/{latest revision} "
    "(Knative) or /apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}-predictor (Standard)",
    read_autoscaler,
)
DEFAULTS = Probe(
    "config-autoscaler",
    "GET /api/v1/namespaces/{knative_namespace}/configmaps/config-autoscaler (optional: Knative's defaults "
    "100 and 70 % without it)",
    read_autoscaler_defaults,
    optional=True,
)
PREDICTOR = Probe(
    "predictor",
    "GET /api/v1/namespaces/{ns}/pods?labelSelector=serving.kserve.io/inferenceservice={name},"
    "component=predictor, /api/v1/namespaces/{ns}/events, and a crash-looping container's previous log",
    read_predictor,
)
NODES = Probe(
    "predictor-nodes", "GET /api/v1/nodes/{node} for each node of a predictor pod", read_predictor_nodes
)
READY_FLAPS = Probe(
    "ready-flaps",
    "PromQL changes(kube_customresource_inferenceservice_status_condition{type=Ready}[window]) (optional)",
    read_ready_flaps,
    optional=True,
)
COLD_STARTS = Probe(
    "cold-starts",
    "PromQL 0 → 1 changes of kube_deployment_spec_replicas{deployment=~{name}-predictor-NNNNN-deployment} "
    "over 60 min (optional)",
    read_cold_starts,
    optional=True,
)
WORKING_SET = Probe(
    "working-set",
    "PromQL max_over_time(container_memory_working_set_bytes{container=kserve-container}[window]) (optional)",
    read_working_set,
    optional=True,
)
REQUESTS = Probe(
    "requests",
    "PromQL rate, 5xx rate, latency sum and P50/P95/P99 of kn_serving_invocation_duration_seconds (Knative) "
    "or istio_request_duration_milliseconds (Standard) over 5m",
    read_requests,
)
SETTINGS = Probe(
    "kserve-settings",
    "settings.kserve_* (flap threshold, SLOs, wedged threshold, target-off factor)",
    lambda ctx: _settings(ctx),
)
INVENTORY = Probe(
    "inferenceservices", "GET /apis/serving.kserve.io/v1beta1/inferenceservices", read_inventory
)
FLAPPING = Probe(
    "flapping-services",
    "PromQL changes(kube_customresource_inferenceservice_status_condition{type=Ready}[window]) > "
    "kserve_flap_changes (optional)",
    read_flapping,
    optional=True,
)
COLD_START_STORMS = Probe(
    "cold-start-storms",
    "PromQL 0 → 1 changes of kube_deployment_spec_replicas{deployment=~*-predictor-NNNNN-deployment} over "
    "60 min, by InferenceService, >= kserve_slo_cold_starts_per_h (optional)",
    read_cold_start_storms,
    optional=True,
)

#: rungs that can answer without these reads mark them optional: a refused Revision or
#: autoscaler read is that rung's ERROR, not every rung's
OPTIONAL_REVISIONS = replace(REVISIONS, optional=True)
OPTIONAL_AUTOSCALER = replace(AUTOSCALER, optional=True)


def _settings(ctx: ProbeContext) -> Observed:
    return Observed(ctx.settings)


def settings_of(f: Facts) -> Settings:
    value: Settings = f[SETTINGS]
    return value


def isvc_of(f: Facts) -> InferenceService:
    value: InferenceService = f[ISVC]
    return value


def revisions_of(f: Facts) -> Revisions:
    value: Revisions = f[REVISIONS]
    return value


def maybe_revisions(f: Facts) -> Revisions | None:
    value = f.get(REVISIONS)
    return value if isinstance(value, Revisions) else None


def autoscaler_of(f: Facts) -> Autoscaler:
    value: Autoscaler = f[AUTOSCALER]
    return value


def maybe_autoscaler(f: Facts) -> Autoscaler | None:
    value = f.get(AUTOSCALER)
    return value if isinstance(value, Autoscaler) else None


def defaults_of(f: Facts) -> AutoscalerDefaults | None:
    value = f.get(DEFAULTS)
    return value if isinstance(value, AutoscalerDefaults) else None


def predictor_of(f: Facts) -> Predictor:
    value: Predictor = f[PREDICTOR]
    return value


def nodes_of(f: Facts) -> PredictorNodes:
    value: PredictorNodes = f[NODES]
    return value


def flaps_of(f: Facts) -> ReadyFlaps | PromAbsent | None:
    """None: the optional query failed (its evidence says why)."""
    value = f.get(READY_FLAPS)
    return value if isinstance(value, ReadyFlaps | PromAbsent) else None


def cold_starts_of(f: Facts) -> ColdStarts | PromAbsent | None:
    value = f.get(COLD_STARTS)
    return value if isinstance(value, ColdStarts | PromAbsent) else None


def working_set_of(f: Facts) -> WorkingSet | None:
    value = f.get(WORKING_SET)
    return value if isinstance(value, WorkingSet) else None


def requests_of(f: Facts) -> Requests | PromAbsent:
    value: Requests | PromAbsent = f[REQUESTS]
    return value


def inventory_of(f: Facts) -> Inventory:
    value: Inventory = f[INVENTORY]
    return value


def flapping_of(f: Facts) -> Flapping | PromAbsent | None:
    value = f.get(FLAPPING)
    return value if isinstance(value, Flapping | PromAbsent) else None


def storms_of(f: Facts) -> ColdStartStorms | PromAbsent | None:
    value = f.get(COLD_START_STORMS)
    return value if isinstance(value, ColdStartStorms | PromAbsent) else None
