"""The predictor's Knative Revisions and its autoscaler (a Knative PodAutoscaler, or in Standard
mode the HPA `<isvc>-predictor`), and the cluster's autoscaler defaults (domain.md §3.5).

A Knative Revision's pods carry `serving.knative.dev/service=<isvc>-predictor`, and so does the
Revision: one list per diagnosis finds them all. The PodAutoscaler is named exactly like its
Revision, so it is read by name. `config-autoscaler` is optional: without it (absent, or RBAC
refuses the named get) the ladder uses Knative's defaults and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import CONFIGMAPS, HPAS, PODAUTOSCALERS, REVISIONS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kserve.isvc import (
    MIN_SCALE_ANNOTATION,
    TARGET_ANNOTATION,
    Condition,
    InferenceService,
    Mode,
    conditions_of,
    get_isvc,
    mode_of,
)
from kfops.diagnostics.kube.timefmt import parse_duration, parse_time
from kfops.model import Evidence, Observed

SERVICE_LABEL = "serving.knative.dev/service"
GENERATION_LABEL = "serving.knative.dev/configurationGeneration"
PROGRESS_DEADLINE_ANNOTATION = "serving.knative.dev/progress-deadline"
#: config-deployment's progress-deadline default (domain.md §3.5)
DEFAULT_PROGRESS_DEADLINE_S = 600.0
MAX_SCALE_ANNOTATION = "autoscaling.knative.dev/max-scale"
METRIC_ANNOTATION = "autoscaling.knative.dev/metric"
CLASS_ANNOTATION = "autoscaling.knative.dev/class"
UTILIZATION_ANNOTATION = "autoscaling.knative.dev/target-utilization-percentage"
CONFIG_AUTOSCALER = "config-autoscaler"
#: Knative's built-in defaults when config-autoscaler cannot be read (domain.md §3.5)
DEFAULT_TARGET = 100.0
DEFAULT_UTILIZATION_PCT = 70.0


def _int(value: Any) -> int | None:
    try:
        return int(float(value)) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None


# --- revisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    name: str
    created: datetime | None
    annotations: dict[str, str]
    conditions: tuple[Condition, ...]
    generation: int  # serving.knative.dev/configurationGeneration (0 when absent)
    container_concurrency: int | None
    actual_replicas: int | None
    desired_replicas: int | None

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> bool:
        ready = self.condition("Ready")
        return ready is not None and ready.status == "True"

    @property
    def failed(self) -> bool:
        """Ready False: Knative gave up (ProgressDeadlineExceeded, ExitCode<N>, Unschedulable …)."""
        ready = self.condition("Ready")
        return ready is not None and ready.status == "False"

    @property
    def problem(self) -> Condition | None:
        """The condition that says why it is not Ready: the specific ones before Ready itself."""
        for kind in ("ContainerHealthy", "ResourcesAvailable", "Ready"):
            found = self.condition(kind)
            if found is not None and found.status != "True" and (found.reason or found.message):
                return found
        return None

    @property
    def progress_deadline_s(self) -> float:
        value = parse_duration(self.annotations.get(PROGRESS_DEADLINE_ANNOTATION))
        return value if value is not None else DEFAULT_PROGRESS_DEADLINE_S

    @property
    def min_scale(self) -> int | None:
        return _int(self.annotations.get(MIN_SCALE_ANNOTATION))

    @property
    def target(self) -> float | None:
        return _float(self.annotations.get(TARGET_ANNOTATION))

    def describe(self) -> str:
        problem = self.problem
        if self.ready:
            return f"Revision {self.name} Ready"
        state = "failed" if self.failed else "not Ready yet"
        if problem is None:
            return f"Revision {self.name} {state}"
        message = " | ".join(line.strip() for line in problem.message.splitlines() if line.strip())
        return f"Revision {self.name} {state}: {problem.type} {problem.reason}: {message}".rstrip(": ")


def revision_facts(raw: dict[str, Any]) -> Revision:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    labels = metadata.get("labels") or {}
    return Revision(
        name=str(metadata.get("name", "")),
        created=parse_time(metadata.get("creationTimestamp")),
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        conditions=conditions_of(status),
        generation=_int(labels.get(GENERATION_LABEL)) or 0,
        container_concurrency=_int(spec.get("containerConcurrency")),
        actual_replicas=_int(status.get("actualReplicas")),
        desired_replicas=_int(status.get("desiredReplicas")),
    )


@dataclass(frozen=True)
class Revisions:
    """The predictor's Revisions, newest first; `applicable` False outside Knative mode."""

    isvc: InferenceService
    mode: Mode
    revisions: tuple[Revision, ...]

    @property
    def applicable(self) -> bool:
        return self.mode.knative

    def named(self, name: str) -> Revision | None:
        return next((r for r in self.revisions if r.name == name), None)

    @property
    def latest_created(self) -> Revision | None:
        """status.latestCreatedRevision, else the newest Revision listed."""
        named = self.named(self.isvc.latest_created) if self.isvc.latest_created else None
        return named or (self.revisions[0] if self.revisions else None)

    @property
    def latest_ready(self) -> Revision | None:
        return self.named(self.isvc.latest_ready) if self.isvc.latest_ready else None

    @property
    def serving(self) -> Revision | None:
        """The Revision that takes the traffic: the latest Ready one."""
        return self.latest_ready or next((r for r in self.revisions if r.ready), None)


def revision_selector(isvc: str) -> str:
    """Both predictor namings (v0.16 `<isvc>-predictor`, older `<isvc>-predictor-default`)."""
    return f"{SERVICE_LABEL} in ({isvc}-predictor,{isvc}-predictor-default)"


def read_revisions(ctx: ProbeContext) -> Observed:
    isvc, _ = get_isvc(ctx)
    mode = mode_of(ctx, isvc)
    if not mode.knative:
        return Observed(Revisions(isvc, mode, ()))
    fetched = ctx.kube.list(REVISIONS, isvc.namespace, label_selector=revision_selector(isvc.name))
    revisions = sorted(
        (revision_facts(r) for r in fetched.value),
        key=lambda r: (r.generation, r.created.isoformat() if r.created else "", r.name),
        reverse=True,
    )
    ready = sum(r.ready for r in revisions)
    data = {
        "revisions": [
            {
                "revision": r.name,
                "ready": r.ready,
                "reason": r.problem.reason if r.problem else "",
                "message": r.problem.message if r.problem else "",
            }
            for r in revisions
        ],
        "traffic": [
            {"revision": t.revision, "percent": t.percent, "tag": t.tag, "latestRevision": t.latest}
            for t in isvc.traffic
        ],
    }
    evidence = kube_evidence(fetched, f"{len(revisions)} Revisions of {isvc.predictor}, {ready} Ready", data)
    return Observed(Revisions(isvc, mode, tuple(revisions)), (evidence,))


# --- the autoscaler ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scaler:
    """A PodAutoscaler or HPA, reduced to what the ladder compares."""

    kind: str  # PodAutoscaler | HorizontalPodAutoscaler
    name: str
    desired: int | None
    actual: int | None
    min_scale: int | None
    max_scale: int | None
    target: float | None  # concurrency/rps per pod, or utilisation %
    metric: str  # concurrency | rps | cpu | memory | …
    klass: str  # kpa.autoscaling.knative.dev | hpa.autoscaling.knative.dev | hpa

    def describe(self) -> str:
        low = self.min_scale if self.min_scale is not None else "?"
        bounds = f"min {low}, max {self.max_scale or 'unlimited'}"
        target = f", target {self.target:g}" if self.target is not None else ""
        return (
            f"{self.kind} {self.name} ({self.klass}, metric {self.metric or '?'}{target}): "
            f"desired {_n(self.desired)}, actual {_n(self.actual)}; {bounds}"
        )


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def pa_facts(raw: dict[str, Any]) -> Scaler:
    metadata, status = raw.get("metadata") or {}, raw.get("status") or {}
    annotations = metadata.get("annotations") or {}
    klass = str(annotations.get(CLASS_ANNOTATION, "kpa.autoscaling.knative.dev"))
    default_metric = "cpu" if klass.startswith("hpa.") else "concurrency"
    return Scaler(
        kind="PodAutoscaler",
        name=str(metadata.get("name", "")),
        desired=_int(status.get("desiredScale")),
        actual=_int(status.get("actualScale")),
        min_scale=_int(annotations.get(MIN_SCALE_ANNOTATION)),
        max_scale=_int(annotations.get(MAX_SCALE_ANNOTATION)),
        target=_float(annotations.get(TARGET_ANNOTATION)),
        metric=str(annotations.get(METRIC_ANNOTATION, default_metric)),
        klass=klass,
    )


def hpa_facts(raw: dict[str, Any]) -> Scaler:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    metric, target = "", None
    for entry in spec.get("metrics") or []:
        kind = str(entry.get("type", "") or "Resource")
        source = entry.get(kind[:1].lower() + kind[1:]) or {}
        wanted = source.get("target") or {}
        metric = str(source.get("name") or (source.get("metric") or {}).get("name") or entry.get("type", ""))
        target = _float(wanted.get("averageUtilization") or wanted.get("averageValue") or wanted.get("value"))
        break
    return Scaler(
        kind="HorizontalPodAutoscaler",
        name=str(metadata.get("name", "")),
        desired=_int(status.get("desiredReplicas")),
        actual=_int(status.get("currentReplicas")),
        min_scale=_int(spec.get("minReplicas")) if spec.get("minReplicas") is not None else 1,
        max_scale=_int(spec.get("maxReplicas")),
        target=target,
        metric=metric or "cpu",
        klass="hpa",
    )


@dataclass(frozen=True)
class Autoscaler:
    """The predictor's autoscaler (None: missing) and what was looked for."""

    isvc: InferenceService
    mode: Mode
    scaler: Scaler | None
    looked_for: str  # "PodAutoscaler team-a/x-predictor-00002"
    revision: Revision | None  # the revision the PodAutoscaler belongs to (Knative)

    @property
    def min_scale(self) -> int:
        """Revision annotation, else the autoscaler's own, else spec.predictor.minReplicas, else 1."""
        if self.revision is not None and self.revision.min_scale is not None:
            return self.revision.min_scale
        if self.scaler is not None and self.scaler.min_scale is not None:
            return self.scaler.min_scale
        if self.isvc.min_replicas is not None:
            return self.isvc.min_replicas
        return 1

    @property
    def scale_to_zero(self) -> bool:
        return self.mode.knative and self.min_scale == 0


def read_autoscaler(ctx: ProbeContext) -> Observed:
    isvc, _ = get_isvc(ctx)
    mode = mode_of(ctx, isvc)
    revision: Revision | None = None
    if mode.knative:
        revisions = read_revisions(ctx).value
        revision = revisions.latest_created
        name = revision.name if revision else isvc.latest_created
        ref, parse, kind = PODAUTOSCALERS, pa_facts, "PodAutoscaler"
    else:
        name, ref, parse, kind = isvc.predictor, HPAS, hpa_facts, "HorizontalPodAutoscaler"
    looked_for = f"{kind} {isvc.namespace}/{name or '(no revision yet)'}"
    if not name:
        return Observed(Autoscaler(isvc, mode, None, looked_for, revision))
    evidence: list[Evidence] = []
    try:
        fetched = ctx.kube.get(ref, name, isvc.namespace)
    except NotFound as exc:
        evidence.append(failure_evidence(exc, ctx.now))
        return Observed(Autoscaler(isvc, mode, None, looked_for, revision), tuple(evidence))
    scaler = parse(fetched.value)
    evidence.append(kube_evidence(fetched, scaler.describe()))
    return Observed(Autoscaler(isvc, mode, scaler, looked_for, revision), tuple(evidence))


# --- config-autoscaler ------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoscalerDefaults:
    target: float  # container-concurrency-target-default
    utilization_pct: float  # container-concurrency-target-percentage
    target_source: str  # where the target came from, said for the arithmetic line


def read_autoscaler_defaults(ctx: ProbeContext) -> Observed:
    """config-autoscaler's concurrency defaults; never fails: absent or forbidden → Knative's own."""
    namespace = ctx.settings.knative_namespace
    try:
        fetched = ctx.kube.get(CONFIGMAPS, CONFIG_AUTOSCALER, namespace)
    except ReaderError as exc:
        why = "absent" if isinstance(exc, NotFound) else f"not readable ({exc.message})"
        defaults = AutoscalerDefaults(
            DEFAULT_TARGET,
            DEFAULT_UTILIZATION_PCT,
            f"Knative's default: ConfigMap {namespace}/{CONFIG_AUTOSCALER} {why}",
        )
        return Observed(defaults, (failure_evidence(exc, ctx.now),))
    data = fetched.value.get("data") or {}
    target = _float(data.get("container-concurrency-target-default"))
    utilization = _float(data.get("container-concurrency-target-percentage"))
    configured = target is not None and math.isfinite(target)
    defaults = AutoscalerDefaults(
        target if target is not None and configured else DEFAULT_TARGET,
        utilization if utilization is not None and math.isfinite(utilization) else DEFAULT_UTILIZATION_PCT,
        # a stock ConfigMap holds only the commented `_example` block: the value is Knative's own
        f"container-concurrency-target-default from ConfigMap {namespace}/{CONFIG_AUTOSCALER}"
        if configured
        else f"Knative's default: {CONFIG_AUTOSCALER} sets no container-concurrency-target-default",
    )
    said = (
        f"cluster defaults: container-concurrency-target-default {defaults.target:g}, "
        f"container-concurrency-target-percentage {defaults.utilization_pct:g} %"
    )
    return Observed(defaults, (kube_evidence(fetched, said),))


def utilization_annotation(revision: Revision | None, isvc: InferenceService) -> float | None:
    """autoscaling.knative.dev/target-utilization-percentage on the revision or the ISVC."""
    for written in (
        revision.annotations if revision else {},
        isvc.predictor_annotations,
        isvc.annotations,
    ):
        value = _float(written.get(UTILIZATION_ANNOTATION))
        if value is not None:
            return value
    return None
