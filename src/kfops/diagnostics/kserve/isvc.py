"""An InferenceService as the kserve-flapping ladder reads it: conditions, mode, predictor spec.

Everything here is parsed from the object `kubectl get inferenceservice -o json` prints
(serving.kserve.io/v1beta1, KServe v0.16, domain.md §3.2–3.4). The ladder's target is
"NAMESPACE/NAME"; every probe reads the InferenceService itself, and the memoised reader makes
that one request per diagnosis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import INFERENCESERVICES
from kfops.diagnostics.context import ProbeContext, TargetNotFound, kube_evidence
from kfops.diagnostics.kube.pods import container_memory
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.model import Observed

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
STOP_ANNOTATION = "serving.kserve.io/stop"
AUTOSCALER_CLASS_ANNOTATION = "serving.kserve.io/autoscalerClass"
TARGET_ANNOTATION = "autoscaling.knative.dev/target"
MIN_SCALE_ANNOTATION = "autoscaling.knative.dev/min-scale"
#: the model server's container name in every predictor pod (domain.md §3.4)
MODEL_CONTAINER = "kserve-container"
#: v0.16 renamed the modes; the old names are still accepted as aliases (domain.md §0)
MODES = {
    "knative": "Knative",
    "serverless": "Knative",
    "standard": "Standard",
    "rawdeployment": "Standard",
    "modelmesh": "ModelMesh",
}


def valid_name(value: str) -> bool:
    """A namespace or InferenceService name: an RFC 1123 label (KServe refuses longer names)."""
    return 0 < len(value) <= 63 and bool(DNS1123_LABEL.match(value))


def split_target(target: str) -> tuple[str, str]:
    namespace, _, name = target.partition("/")
    return namespace, name


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # True | False | Unknown
    reason: str
    message: str
    since: datetime | None  # lastTransitionTime

    def describe(self, now: datetime) -> str:
        why = f" ({self.reason})" if self.reason else ""
        text = f": {self.message}" if self.message else ""
        return f"{self.type}={self.status}{why} for {age(self.since, now)}{text}"


def conditions_of(status: dict[str, Any]) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "") or ""),
            message=str(c.get("message", "") or "").strip(),
            since=parse_time(c.get("lastTransitionTime")),
        )
        for c in status.get("conditions") or []
    )


@dataclass(frozen=True)
class Traffic:
    """One row of the predictor's Knative traffic table."""

    revision: str
    percent: int | None
    tag: str
    latest: bool


@dataclass(frozen=True)
class ModelResources:
    """The model server's memory, and where in the spec it is set (for the patch that changes it)."""

    where: str  # "model" (spec.predictor.model) | "containers" (spec.predictor.containers[index])
    container: str
    index: int  # position in spec.predictor.containers; -1 for the model spec
    memory_request: str | None
    memory_limit: str | None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def _model_resources(predictor: dict[str, Any]) -> ModelResources:
    containers = predictor.get("containers") or []
    for index, container in enumerate(containers):
        if container.get("name", MODEL_CONTAINER) == MODEL_CONTAINER or len(containers) == 1:
            request, limit = container_memory(container)
            return ModelResources(
                "containers", str(container.get("name", MODEL_CONTAINER)), index, request, limit
            )
    request, limit = container_memory(predictor.get("model") or {})
    return ModelResources("model", MODEL_CONTAINER, -1, request, limit)


@dataclass(frozen=True)
class InferenceService:
    namespace: str
    name: str
    uid: str
    created: datetime | None
    annotations: dict[str, str]
    conditions: tuple[Condition, ...]
    status_mode: str  # status.deploymentMode as written ("" when absent)
    min_replicas: int | None
    max_replicas: int | None
    scale_target: int | None
    scale_metric: str
    container_concurrency: int | None
    canary_percent: int | None
    predictor_annotations: dict[str, str]
    latest_ready: str
    latest_created: str
    previous_rolled_out: str
    traffic: tuple[Traffic, ...]
    resources: ModelResources
    has_status: bool
    predictor_spec: dict[str, Any]  # spec.predictor as written, for the exact patches

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def predictor(self) -> str:
        """The Knative Service / Deployment / HPA name (v0.16 naming, domain.md §3.4)."""
        return f"{self.name}-predictor"

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> Condition | None:
        return self.condition("Ready")

    @property
    def ready_now(self) -> bool:
        ready = self.ready
        return ready is not None and ready.status == "True"

    @property
    def stopped(self) -> bool:
        stopped = self.condition("Stopped")
        return (stopped is not None and stopped.status == "True") or self.annotations.get(
            STOP_ANNOTATION, ""
        ).lower() == "true"

    @property
    def failing_conditions(self) -> tuple[Condition, ...]:
        """Every condition that is not True (Stopped is good when False), Ready first."""
        bad = [c for c in self.conditions if c.status != "True" and c.type != "Stopped"]
        return tuple(sorted(bad, key=lambda c: (c.type != "Ready", c.type)))

    @property
    def target_annotation(self) -> str | None:
        """autoscaling.knative.dev/target as the InferenceService sets it (it wins over scaleTarget)."""
        return self.annotations.get(TARGET_ANNOTATION) or self.predictor_annotations.get(TARGET_ANNOTATION)

    @property
    def min_scale(self) -> int:
        """What KServe writes as autoscaling.knative.dev/min-scale: the annotation when the
        InferenceService sets it, else spec.predictor.minReplicas, else 1 (KServe's default)."""
        for written in (self.predictor_annotations, self.annotations):
            value = _int(written.get(MIN_SCALE_ANNOTATION))
            if value is not None:
                return value
        return self.min_replicas if self.min_replicas is not None else 1

    @property
    def autoscaler_class(self) -> str:
        return self.annotations.get(AUTOSCALER_CLASS_ANNOTATION, "")

    @property
    def split(self) -> bool:
        """Traffic is split between revisions: a canary rollout."""
        serving = [t for t in self.traffic if (t.percent or 0) > 0]
        return self.canary_percent is not None or len(serving) > 1


def isvc_facts(raw: dict[str, Any]) -> InferenceService:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    predictor = spec.get("predictor") or {}
    component = (status.get("components") or {}).get("predictor") or {}
    return InferenceService(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        created=parse_time(metadata.get("creationTimestamp")),
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        conditions=conditions_of(status),
        status_mode=str(status.get("deploymentMode", "") or ""),
        min_replicas=_int(predictor.get("minReplicas")),
        max_replicas=_int(predictor.get("maxReplicas")),
        scale_target=_int(predictor.get("scaleTarget")),
        scale_metric=str(predictor.get("scaleMetric", "") or ""),
        container_concurrency=_int(predictor.get("containerConcurrency")),
        canary_percent=_int(predictor.get("canaryTrafficPercent")),
        predictor_annotations={str(k): str(v) for k, v in (predictor.get("annotations") or {}).items()},
        latest_ready=str(component.get("latestReadyRevision", "") or ""),
        latest_created=str(component.get("latestCreatedRevision", "") or ""),
        previous_rolled_out=str(component.get("previousRolledoutRevision", "") or ""),
        traffic=tuple(
            Traffic(
                revision=str(t.get("revisionName", "") or ""),
                percent=_int(t.get("percent")),
                tag=str(t.get("tag", "") or ""),
                latest=bool(t.get("latestRevision")),
            )
            for t in component.get("traffic") or []
        ),
        resources=_model_resources(predictor),
        has_status=bool(status.get("conditions") or status.get("components")),
        predictor_spec=predictor,
    )


def normalise_mode(value: str) -> str:
    """Knative | Standard | ModelMesh from any spelling KServe accepts; "" when unknown."""
    return MODES.get(value.strip().lower(), "")


@dataclass(frozen=True)
class Mode:
    mode: str  # Knative | Standard | ModelMesh
    source: str  # where it came from, for the summary

    @property
    def knative(self) -> bool:
        return self.mode == "Knative"


def deployment_mode(isvc: InferenceService, default: str) -> Mode:
    """status.deploymentMode (what KServe did), else the annotation (what was asked), else the
    cluster default (settings.kserve_default_deployment_mode: Kubeflow ships Serverless)."""
    if normalise_mode(isvc.status_mode):
        return Mode(normalise_mode(isvc.status_mode), f"status.deploymentMode {isvc.status_mode}")
    annotated = isvc.annotations.get(MODE_ANNOTATION, "")
    if normalise_mode(annotated):
        return Mode(normalise_mode(annotated), f"annotation {MODE_ANNOTATION}={annotated}")
    return Mode(normalise_mode(default) or "Knative", f"the default ({default}): no status or annotation")


def get_isvc(ctx: ProbeContext) -> tuple[InferenceService, Any]:
    """The target InferenceService and its read; raises ReaderError as the reader does."""
    namespace, name = split_target(ctx.target)
    fetched = ctx.kube.get(INFERENCESERVICES, name, namespace)
    return isvc_facts(fetched.value), fetched


def mode_of(ctx: ProbeContext, isvc: InferenceService) -> Mode:
    return deployment_mode(isvc, ctx.settings.kserve_default_deployment_mode)


def read_isvc(ctx: ProbeContext) -> Observed:
    isvc, fetched = get_isvc(ctx)
    ready = isvc.ready
    said = (
        f"InferenceService {isvc.ref}: Ready={ready.status}" + (f" ({ready.reason})" if ready.reason else "")
        if ready
        else f"InferenceService {isvc.ref}: no Ready condition"
    )
    data = {
        "conditions": [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in isvc.conditions
        ],
        "latestReadyRevision": isvc.latest_ready,
        "latestCreatedRevision": isvc.latest_created,
    }
    return Observed(isvc, (kube_evidence(fetched, said, data),))


def check_isvc_target(ctx: ProbeContext, target: str) -> None:
    """A target that names nothing is a usage error, said in one sentence with where to look."""
    namespace, name = split_target(target)
    if not valid_name(namespace) or not valid_name(name):
        raise TargetNotFound(
            f"'{target}' is not an InferenceService as NAMESPACE/NAME (each a lowercase RFC 1123 label)"
        )
    try:
        ctx.kube.get(INFERENCESERVICES, name, namespace)
    except NotFound as exc:
        raise TargetNotFound(
            f"InferenceService {namespace}/{name} not found "
            f"(`kubectl get inferenceservices -n {namespace}` lists them)"
        ) from exc
    except ReaderError:
        return  # forbidden/unreachable: the rungs say so as ERROR findings
