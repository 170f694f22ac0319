"""Pod facts: phase, container trouble, GPU requests, owners — read with selectors, never cluster-wide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.resources import PODS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.gpu.resources import gpu_quantities
from kfops.diagnostics.kube.timefmt import parse_time
from kfops.model import Observed

#: Owner kinds that are the ML workload itself (the blast radius a human cares about).
ML_OWNER_KINDS = {
    "PyTorchJob",
    "TFJob",
    "MPIJob",
    "XGBoostJob",
    "PaddleJob",
    "JAXJob",
    "TrainJob",
    "Workflow",
    "Notebook",
    "InferenceService",
}
#: Label → workload kind, for pods whose ML owner is not their direct controller.
ML_OWNER_LABELS = (
    ("serving.kserve.io/inferenceservice", "InferenceService"),
    ("notebook-name", "Notebook"),
    ("workflows.argoproj.io/workflow", "Workflow"),
)
TRAINING_OPERATORS = {
    "pytorchjob-controller": "PyTorchJob",
    "tfjob-controller": "TFJob",
    "mpijob-controller": "MPIJob",
    "xgboostjob-controller": "XGBoostJob",
    "paddlejob-controller": "PaddleJob",
    "jaxjob-controller": "JAXJob",
}


@dataclass(frozen=True)
class ContainerState:
    name: str
    init: bool
    ready: bool
    restarts: int
    state: str  # running | waiting | terminated | unknown
    reason: str  # waiting/terminated reason, e.g. CrashLoopBackOff, OOMKilled
    message: str
    last_reason: str  # lastState.terminated.reason
    last_exit_code: int | None

    @property
    def crashlooping(self) -> bool:
        return self.reason == "CrashLoopBackOff"

    @property
    def failing(self) -> bool:
        """Crashlooping, or stuck on an error that will not clear by waiting."""
        return self.crashlooping or self.reason in (
            "ErrImagePull",
            "ImagePullBackOff",
            "CreateContainerConfigError",
            "CreateContainerError",
            "RunContainerError",
            "InvalidImageName",
            "Error",
        )

    def describe(self) -> str:
        parts = [f"{'init container' if self.init else 'container'} {self.name}"]
        parts.append(self.reason or self.state)
        if self.restarts:
            parts.append(f"{self.restarts} restarts")
        if self.last_reason or self.last_exit_code is not None:
            parts.append(f"last exit {self.last_reason or '?'} ({self.last_exit_code})")
        return ", ".join(parts)


@dataclass(frozen=True)
class PodFacts:
    namespace: str
    name: str
    node: str
    phase: str
    reason: str  # status.reason, e.g. UnexpectedAdmissionError, Evicted
    message: str
    labels: dict[str, str]
    owner: str  # "DaemonSet/nvidia-driver-daemonset", "" for a bare pod
    workload: str  # the ML workload: "PyTorchJob team-nlp/bert-finetune", or the owner
    gpu_requests: dict[str, int]
    deleted_at: datetime | None
    containers: tuple[ContainerState, ...]
    has_emptydir: bool

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def daemonset(self) -> bool:
        return self.owner.startswith("DaemonSet/")

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def ready(self) -> bool:
        app = [c for c in self.containers if not c.init]
        return self.phase == "Running" and bool(app) and all(c.ready for c in app)

    def stuck_terminating(self, now: datetime) -> bool:
        """Past its deletion deadline by over a minute: nothing (no kubelet) is finishing it.

        The API server sets deletionTimestamp to the deletion time plus the grace period, so the
        grace period is already in it.
        """
        return self.deleted_at is not None and now - self.deleted_at > timedelta(seconds=60)

    @property
    def failing_containers(self) -> tuple[ContainerState, ...]:
        return tuple(c for c in self.containers if c.failing)

    @property
    def gpus(self) -> int:
        return sum(self.gpu_requests.values())


def container_memory(container: dict[str, Any]) -> tuple[str | None, str | None]:
    """(request, limit) of a container spec's memory, as written ("512Mi"); None where unset."""
    resources = container.get("resources") or {}
    request = (resources.get("requests") or {}).get("memory")
    limit = (resources.get("limits") or {}).get("memory")
    return (str(request) if request is not None else None, str(limit) if limit is not None else None)


def _container_states(status: dict[str, Any]) -> tuple[ContainerState, ...]:
    states = []
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for cs in status.get(key) or []:
            state = cs.get("state") or {}
            kind = next(iter(state), "unknown")
            detail = state.get(kind) or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            states.append(
                ContainerState(
                    name=str(cs.get("name", "")),
                    init=init,
                    ready=bool(cs.get("ready")),
                    restarts=int(cs.get("restartCount") or 0),
                    state=kind,
                    reason=str(detail.get("reason", "")),
                    message=str(detail.get("message", "")),
                    last_reason=str(last.get("reason", "")),
                    last_exit_code=last.get("exitCode"),
                )
            )
    return tuple(states)


def _effective_gpu_requests(spec: dict[str, Any]) -> dict[str, int]:
    """What the scheduler reserves: max(sum of app containers, largest init container)."""

    def requests(container: dict[str, Any]) -> dict[str, int]:
        resources = container.get("resources") or {}
        # Extended resources must set limits; requests default to them.
        return gpu_quantities({**(resources.get("limits") or {}), **(resources.get("requests") or {})})

    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        for name, n in requests(c).items():
            total[name] = total.get(name, 0) + n
    for c in spec.get("initContainers") or []:
        for name, n in requests(c).items():
            total[name] = max(total.get(name, 0), n)
    return {k: v for k, v in total.items() if v}


def _owner(metadata: dict[str, Any]) -> tuple[str, str]:
    """(controller owner, ML workload) from owner references and well-known labels."""
    namespace = metadata.get("namespace", "")
    labels = metadata.get("labels") or {}
    refs = metadata.get("ownerReferences") or []
    controller = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    owner = f"{controller['kind']}/{controller['name']}" if controller else ""
    for ref in refs:
        if ref.get("kind") in ML_OWNER_KINDS:
            return owner, f"{ref['kind']} {namespace}/{ref['name']}"
    job = labels.get("training.kubeflow.org/job-name")
    operator = labels.get("training.kubeflow.org/operator-name", "")
    if job and operator in TRAINING_OPERATORS:
        return owner, f"{TRAINING_OPERATORS[operator]} {namespace}/{job}"
    for label, kind in ML_OWNER_LABELS:
        if labels.get(label):
            return owner, f"{kind} {namespace}/{labels[label]}"
    if controller and controller.get("kind") == "ReplicaSet":
        deployment = str(controller["name"]).rsplit("-", 1)[0]
        return owner, f"Deployment {namespace}/{deployment}"
    if controller:
        return owner, f"{controller['kind']} {namespace}/{controller['name']}"
    return owner, f"bare pod {namespace}/{metadata.get('name', '')}"


def pod_facts(pod: dict[str, Any]) -> PodFacts:
    metadata, spec, status = (
        pod.get("metadata") or {},
        pod.get("spec") or {},
        pod.get("status") or {},
    )
    owner, workload = _owner(metadata)
    return PodFacts(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        node=str(spec.get("nodeName", "")),
        phase=str(status.get("phase", "Unknown")),
        reason=str(status.get("reason", "")),
        message=str(status.get("message", "")),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        owner=owner,
        workload=workload,
        gpu_requests=_effective_gpu_requests(spec),
        deleted_at=parse_time(metadata.get("deletionTimestamp")),
        containers=_container_states(status),
        has_emptydir=any("emptyDir" in v for v in spec.get("volumes") or []),
    )


def pods_on_node(ctx: ProbeContext, node: str) -> tuple[tuple[PodFacts, ...], Any]:
    """All pods bound to one node, in one request (field selector spec.nodeName)."""
    fetched = ctx.kube.list(PODS, field_selector=f"spec.nodeName={node}")
    return tuple(pod_facts(p) for p in fetched.value), fetched


def read_target_node_pods(ctx: ProbeContext) -> Observed:
    pods, fetched = pods_on_node(ctx, ctx.target)
    return Observed(pods, (kube_evidence(fetched, f"{len(pods)} pods bound to node {ctx.target}"),))
