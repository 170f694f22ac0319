"""A run's step pods, and what each is waiting for: the scheduler, a volume, an image, a Secret.

Argo labels every step pod with its Workflow and annotates it with its node id, so one list
request finds them all. When a pod no longer exists (retried, quota-refused, garbage-collected)
the Workflow node's message still carries the controller's account of it (domain.md §2.5):
"Unschedulable: 0/5 nodes are available: …", "OOMKilled (exit code 137)",
'pods "…" is forbidden: exceeded quota: …'. The rungs read both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.resources import EVENTS, PODS
from kfops.diagnostics.context import ProbeContext, kube_evidence
from kfops.diagnostics.kube.events import EventFacts, event_facts
from kfops.diagnostics.kube.pods import ContainerState, PodFacts, pod_facts
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.diagnostics.pipelines.target import resolve
from kfops.diagnostics.pipelines.workflows import NODE_ID_ANNOTATION, WORKFLOW_LABEL, Workflow
from kfops.model import Evidence, Observed

IMAGE_PULL = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
CONFIG_ERRORS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


@dataclass(frozen=True)
class StepPod:
    pod: PodFacts
    uid: str
    node_id: str
    created: datetime | None
    scheduled: tuple[str, str, str]  # PodScheduled (status, reason, message); ("", "", "") if absent
    images: dict[str, str]
    memory_limits: dict[str, str]
    claims: tuple[str, ...]
    terminations: tuple[tuple[str, str, int | None], ...]  # (container, reason, exit code), now and last
    #: the newest time any container (init included) started or finished, now or last; the pod's
    #: creation when no container has a time (not yet started, or a status without them)
    last_active: datetime | None = None

    @property
    def unschedulable(self) -> bool:
        return self.pod.phase == "Pending" and self.scheduled[0] == "False"

    def waiting(self) -> tuple[ContainerState, ...]:
        return tuple(c for c in self.pod.containers if c.state == "waiting" and c.reason)


@dataclass(frozen=True)
class Steps:
    """The run's Workflow (None: a run id without one), its step pods, and events about them."""

    workflow: Workflow | None
    pods: tuple[StepPod, ...]
    events: tuple[EventFacts, ...]
    event_objects: dict[EventFacts, str]  # the event → "Kind/name" it is about

    def pod_of(self, node_id: str) -> StepPod | None:
        return next((p for p in self.pods if p.node_id == node_id), None)


def _terminations(status: dict[str, Any]) -> tuple[tuple[str, str, int | None], ...]:
    found = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            for state in (cs.get("state") or {}, cs.get("lastState") or {}):
                terminated = state.get("terminated")
                if terminated:
                    code = terminated.get("exitCode")
                    found.append(
                        (
                            str(cs.get("name", "")),
                            str(terminated.get("reason", "")),
                            int(code) if code is not None else None,
                        )
                    )
    return tuple(found)


def _last_active(status: dict[str, Any]) -> datetime | None:
    """The newest startedAt / finishedAt of any container's state or lastState (running or
    terminated), as the kubelet writes them; None when no container reports a time."""
    times = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            for state in (cs.get("state") or {}, cs.get("lastState") or {}):
                for moment in (
                    (state.get("running") or {}).get("startedAt"),
                    (state.get("terminated") or {}).get("startedAt"),
                    (state.get("terminated") or {}).get("finishedAt"),
                ):
                    parsed = parse_time(moment)
                    if parsed is not None:
                        times.append(parsed)
    return max(times, default=None)


def step_pod(raw: dict[str, Any]) -> StepPod:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    scheduled: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
    )
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    created = parse_time(metadata.get("creationTimestamp"))
    return StepPod(
        pod=pod_facts(raw),
        uid=str(metadata.get("uid", "")),
        node_id=str((metadata.get("annotations") or {}).get(NODE_ID_ANNOTATION, "")),
        created=created,
        scheduled=(
            str(scheduled.get("status", "")),
            str(scheduled.get("reason", "")),
            str(scheduled.get("message", "")),
        ),
        images={str(c.get("name", "")): str(c.get("image", "")) for c in containers},
        memory_limits={
            str(c.get("name", "")): str(limit)
            for c in containers
            if (limit := ((c.get("resources") or {}).get("limits") or {}).get("memory"))
        },
        claims=tuple(
            str(v["persistentVolumeClaim"].get("claimName", ""))
            for v in spec.get("volumes") or []
            if v.get("persistentVolumeClaim")
        ),
        terminations=_terminations(status),
        last_active=_last_active(status) or created,
    )


def read_steps(ctx: ProbeContext) -> Observed:
    """The step pods (one list by label) and the namespace's recent events about the run."""
    resolved = resolve(ctx)
    workflow = resolved.workflow
    if workflow is None:
        return Observed(Steps(None, (), (), {}))
    pods_fetched = ctx.kube.list(PODS, workflow.namespace, label_selector=f"{WORKFLOW_LABEL}={workflow.name}")
    pods = tuple(step_pod(p) for p in pods_fetched.value)
    events_fetched = ctx.kube.list(EVENTS, workflow.namespace)
    cutoff = ctx.now - timedelta(hours=ctx.settings.events_window_h)
    names = {workflow.name, *(p.pod.name for p in pods), *(c for p in pods for c in p.claims)}
    about: dict[EventFacts, str] = {}
    for raw in events_fetched.value:
        involved = raw.get("involvedObject") or {}
        name = str(involved.get("name", ""))
        kind = str(involved.get("kind", ""))
        if name in names or name.startswith(f"{workflow.name}-"):
            event = event_facts(raw)
            if event.last is None or event.last >= cutoff:
                about[event] = f"{kind}/{name}"
    events = tuple(sorted(about, key=lambda e: e.last or ctx.now, reverse=True))
    evidence: tuple[Evidence, ...] = (
        kube_evidence(pods_fetched, f"{len(pods)} step pods of Workflow {workflow.ref}"),
        kube_evidence(events_fetched, f"{len(events)} recent events about the run in {workflow.namespace}"),
    )
    return Observed(Steps(workflow, pods, events, about), evidence)


# --- a run whose nodes are not known, judged from its pods ---------------------------------------


@dataclass(frozen=True)
class PodStall:
    """What the step pods of an unfinished Workflow without node status show: nothing runs."""

    workflow: Workflow
    pods: int  # the Workflow's step pods, all finished
    last: StepPod | None  # the pod that moved last; None when the run has no step pod left
    since: datetime  # when anything last moved: that pod's last activity, or the Workflow's start

    def minutes(self, now: datetime) -> float:
        return (now - self.since).total_seconds() / 60

    def describe(self, now: datetime) -> str:
        """E.g. 'no step pod has run since 02:58 UTC, 37m ago; last: pod … finished Succeeded'."""
        when = f"{self.since:%H:%M} UTC, {age(self.since, now)} ago"
        if self.last is None:
            return f"it has no step pod (none created yet, or all garbage-collected) and started at {when}"
        return (
            f"no step pod has run since {when}; last: pod {self.last.pod.name} finished "
            f"{self.last.pod.phase} ({self.pods} step pods, none Running or Pending)"
        )


def stalled_by_pods(
    workflow: Workflow, pods: Iterable[StepPod], now: datetime, after_min: float
) -> PodStall | None:
    """``Workflow.stuck`` for a Workflow whose nodes are not known (offloaded, undecodable),
    judged from its step pods: the one rule the ``workflow`` rung and the sweep both use.

    Stalled (a PodStall) when all of these hold, else None:

    - the Workflow is unfinished and ``nodes_known`` is false (with nodes, ``Workflow.stuck``
      judges from the controller's own account instead);
    - none of its step pods (``pods`` may hold others: only those labelled
      ``workflows.argoproj.io/workflow=<name>`` in its namespace count) is in a non-final phase —
      Running, Pending (ContainerCreating included), Unknown: such a pod may still be working;
    - the newest activity — each pod's ``last_active`` (a container's startedAt / finishedAt,
      else the pod's creation), and the Workflow's start (else its creation) — is at least
      `after_min` old. With no step pod at all the Workflow's age alone decides.

    A time that is missing means "not known", never "old": such a Workflow is not stalled.
    """
    if workflow.nodes_known or workflow.finished_phase:
        return None
    mine = [
        p
        for p in pods
        if p.pod.namespace == workflow.namespace and p.pod.labels.get(WORKFLOW_LABEL) == workflow.name
    ]
    if any(not p.pod.terminal for p in mine):
        return None
    began = workflow.started or workflow.created
    if began is None or any(p.last_active is None for p in mine):
        return None
    last = max(mine, key=lambda p: p.last_active or began, default=None)
    since = max(began, last.last_active or began) if last is not None else began
    stall = PodStall(workflow, len(mine), last, since)
    return stall if stall.minutes(now) >= after_min else None


# --- what a pending step waits for ------------------------------------------------------------

_GPU_SHORT = re.compile(r"Insufficient (nvidia\.com/[\w.-]+|amd\.com/gpu)")
_RESOURCES_SHORT = re.compile(r"Insufficient (cpu|memory|ephemeral-storage|pods)")
_CONSTRAINTS = re.compile(
    r"untolerated taint|didn't match Pod's node affinity|node affinity/selector|"
    r"didn't match pod (anti-)?affinity|were unschedulable|didn't satisfy existing pods anti-affinity"
)
_UNBOUND = re.compile(
    r"unbound immediate PersistentVolumeClaims|didn't match PersistentVolume's node affinity"
)


def scheduling_kind(message: str) -> str:
    """Why the scheduler refused, most specific first: a GPU shortage outranks a taint elsewhere."""
    if _GPU_SHORT.search(message):
        return "gpu-shortage"
    if _RESOURCES_SHORT.search(message):
        return "insufficient-resources"
    if _UNBOUND.search(message):
        return "waiting-volume"
    if _CONSTRAINTS.search(message):
        return "taint-affinity"
    return "unschedulable"


@dataclass(frozen=True)
class Unschedulable:
    step: str  # the pod ref, or the node id when the pod is gone
    kind: str
    message: str
    since: datetime | None


def unschedulable(steps: Steps) -> tuple[Unschedulable, ...]:
    """Every step the scheduler refused: pending pods first, then node messages of gone pods."""
    found: list[Unschedulable] = []
    seen_nodes = set()
    for pod in steps.pods:
        if pod.unschedulable:
            message = pod.scheduled[2]
            found.append(Unschedulable(pod.pod.ref, scheduling_kind(message), message, pod.created))
            seen_nodes.add(pod.node_id)
    workflow = steps.workflow
    if workflow is not None:
        for node in workflow.active_pod_nodes():
            if node.id not in seen_nodes and node.message.startswith("Unschedulable:"):
                message = node.message.removeprefix("Unschedulable:").strip()
                found.append(Unschedulable(node.describe(), scheduling_kind(message), message, node.started))
    order = ("gpu-shortage", "insufficient-resources", "taint-affinity", "unschedulable", "waiting-volume")
    return tuple(sorted(found, key=lambda u: order.index(u.kind)))


# --- containers that cannot start, and OOM kills --------------------------------------------------


@dataclass(frozen=True)
class Stuck:
    pod: StepPod
    container: ContainerState
    kind: str  # image-pull | config-error | crashloop

    def describe(self) -> str:
        image = self.pod.images.get(self.container.name, "")
        what = f"image {image}: " if self.kind == "image-pull" and image else ""
        message = self.container.message or self.container.reason
        return f"{self.pod.pod.ref} container {self.container.name} {self.container.reason}: {what}{message}"


def stuck_containers(steps: Steps) -> tuple[Stuck, ...]:
    found = []
    for pod in steps.pods:
        if pod.pod.terminal:
            continue
        for container in pod.waiting():
            if container.reason in IMAGE_PULL:
                found.append(Stuck(pod, container, "image-pull"))
            elif container.reason in CONFIG_ERRORS:
                found.append(Stuck(pod, container, "config-error"))
            elif container.reason == "CrashLoopBackOff":
                found.append(Stuck(pod, container, "crashloop"))
    order = ("image-pull", "config-error", "crashloop")
    return tuple(sorted(found, key=lambda s: order.index(s.kind)))


_MISSING_OBJECT = re.compile(r'(secret|configmap)s? "?([\w.-]+)"? not found', re.IGNORECASE)
_MISSING_KEY = re.compile(r"couldn't find key ([\w.-]+) in (Secret|ConfigMap) ([\w.-]+)/([\w.-]+)")


def missing_object(message: str) -> tuple[str, str] | None:
    """("Secret", "s3-creds") named by a CreateContainerConfigError message, when it names one."""
    key = _MISSING_KEY.search(message)
    if key:
        return key.group(2), key.group(4)
    found = _MISSING_OBJECT.search(message)
    if found:
        kind = "Secret" if found.group(1).lower() == "secret" else "ConfigMap"
        return kind, found.group(2)
    return None


@dataclass(frozen=True)
class OomKill:
    step: str
    where: str  # the pod (container) or the node that recorded it
    limit: str  # the container's memory limit, "" when unknown


def oom_kills(steps: Steps) -> tuple[OomKill, ...]:
    """Every OOMKilled attempt: from the pods still there, and from node messages of gone ones."""
    workflow = steps.workflow
    found: list[OomKill] = []
    counted: set[str] = set()
    for pod in steps.pods:
        node = workflow.nodes.get(pod.node_id) if workflow else None
        step = node.step if node else pod.pod.name
        for container, reason, _code in pod.terminations:
            if reason == "OOMKilled":
                limit = pod.memory_limits.get(container) or (
                    workflow.memory_limits.get(node.template, "") if workflow and node else ""
                )
                found.append(OomKill(step, f"{pod.pod.ref} container {container}", limit))
                counted.add(pod.node_id)
    if workflow is not None:
        for node in workflow.pod_nodes():
            if node.id not in counted and "OOMKilled" in node.message:
                found.append(
                    OomKill(node.step, f"node {node.id}", workflow.memory_limits.get(node.template, ""))
                )
    return tuple(found)
