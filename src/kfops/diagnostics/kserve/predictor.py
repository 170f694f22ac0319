"""The predictor's pods, the events about them, and the nodes they run on.

One list by label (`serving.kserve.io/inferenceservice=<isvc>,component=predictor`, set by KServe
on every predictor pod in both modes, domain.md §3.4) finds the pods; one list of the namespace's
events finds what the kubelet and Knative said about them (probe failures, kills, evictions);
the nodes are read by name. The request count depends on the InferenceService's replicas, never
on the size of the cluster.

What the kubelet writes, and the rungs match (Kubernetes pkg/kubelet/prober, eviction):
- Unhealthy  "Startup probe failed: …" / "Liveness probe failed: …" / "Readiness probe failed: …"
- Killing    "Container kserve-container failed startup probe, will be restarted"
             "Container kserve-container failed liveness probe, will be restarted"
- Evicted    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 52396Ki.
             Container kserve-container was using 5Gi, request is 2Gi, has larger consumption of memory."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import EVENTS, NODES, PODS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kserve.isvc import MODEL_CONTAINER, InferenceService, get_isvc
from kfops.diagnostics.kube.events import EventFacts, event_facts
from kfops.diagnostics.kube.nodes import NodeFacts, node_facts
from kfops.diagnostics.kube.pods import ContainerState, PodFacts, container_memory, pod_facts
from kfops.diagnostics.kube.timefmt import age, minutes_between, parse_time
from kfops.diagnostics.wording import counted
from kfops.model import Evidence, Observed

ISVC_LABEL = "serving.kserve.io/inferenceservice"
REVISION_LABEL = "serving.knative.dev/revision"
STORAGE_INITIALIZER = "storage-initializer"
#: the containers whose crashes make a predictor flap (the sidecars have their own owners)
WATCHED = (MODEL_CONTAINER, STORAGE_INITIALIZER)
LOG_LINES = 50
IMAGE_PULL = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
OOM_EXIT = 137  # 128 + SIGKILL: the kernel's OOM killer (or a kill after a failed probe)
#: Kubernetes' probe defaults (initialDelaySeconds, periodSeconds, failureThreshold)
PROBE_DEFAULTS = (0, 10, 3)


def predictor_selector(isvc: str) -> str:
    return f"{ISVC_LABEL}={isvc},component=predictor"


@dataclass(frozen=True)
class ProbeSpec:
    kind: str  # startup | liveness | readiness
    initial_delay_s: int
    period_s: int
    failure_threshold: int
    handler: dict[str, Any]  # httpGet / tcpSocket / exec / grpc, as written

    @property
    def allowance_s(self) -> int:
        """How long a container may fail this probe before the kubelet acts."""
        return self.initial_delay_s + self.period_s * self.failure_threshold

    def arithmetic(self) -> str:
        return (
            f"{self.kind} probe allows {self.initial_delay_s} s + {self.period_s} s × "
            f"{self.failure_threshold} = {self.allowance_s} s"
        )


def _probe(kind: str, raw: dict[str, Any]) -> ProbeSpec:
    delay, period, threshold = PROBE_DEFAULTS
    handler = {k: v for k, v in raw.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}
    return ProbeSpec(
        kind=kind,
        initial_delay_s=int(raw.get("initialDelaySeconds") or delay),
        period_s=int(raw.get("periodSeconds") or period),
        failure_threshold=int(raw.get("failureThreshold") or threshold),
        handler=handler,
    )


@dataclass(frozen=True)
class Termination:
    container: str
    reason: str  # OOMKilled | Error | Completed …
    exit_code: int | None
    finished: datetime | None
    current: bool  # the container's state now (True) or its last state (False)


@dataclass(frozen=True)
class PredictorPod:
    pod: PodFacts
    uid: str
    created: datetime | None
    revision: str
    ready_status: str  # the pod's Ready condition: True | False | Unknown ("" when absent)
    ready_changed: datetime | None  # the Ready condition's lastTransitionTime
    started: datetime | None
    scheduled: tuple[str, str, str]  # PodScheduled (status, reason, message)
    images: dict[str, str]
    memory: dict[str, tuple[str | None, str | None]]  # container → (request, limit)
    probes: dict[str, tuple[ProbeSpec, ...]]  # container → its probes
    terminations: tuple[Termination, ...]

    @property
    def name(self) -> str:
        return self.pod.name

    def container(self, name: str) -> ContainerState | None:
        return next((c for c in self.pod.containers if c.name == name), None)

    @property
    def ready(self) -> bool:
        """The pod's Ready condition when it has one: the node lifecycle controller sets it False
        when the node stops reporting, while the container statuses still say ready."""
        if self.ready_status:
            return self.ready_status == "True" and self.pod.phase == "Running"
        return self.pod.ready

    @property
    def live(self) -> bool:
        """Counts as a replica: not finished (evicted, completed) and not being deleted."""
        return not self.pod.terminal and self.pod.deleted_at is None

    def not_ready_min(self, now: datetime) -> float | None:
        """Minutes the pod has been not Ready (since its Ready condition changed, or it started)."""
        if self.ready:
            return None
        return minutes_between(self.ready_changed or self.started or self.created, now)


def _terminations(status: dict[str, Any]) -> tuple[Termination, ...]:
    found = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            for current, state in ((True, cs.get("state") or {}), (False, cs.get("lastState") or {})):
                terminated = state.get("terminated")
                if terminated:
                    code = terminated.get("exitCode")
                    found.append(
                        Termination(
                            container=str(cs.get("name", "")),
                            reason=str(terminated.get("reason", "") or ""),
                            exit_code=int(code) if code is not None else None,
                            finished=parse_time(terminated.get("finishedAt")),
                            current=current,
                        )
                    )
    return tuple(found)


def predictor_pod(raw: dict[str, Any]) -> PredictorPod:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    conditions = {str(c.get("type", "")): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    probes: dict[str, tuple[ProbeSpec, ...]] = {}
    memory: dict[str, tuple[str | None, str | None]] = {}
    for c in containers:
        name = str(c.get("name", ""))
        probes[name] = tuple(
            _probe(kind, c[f"{kind}Probe"])
            for kind in ("startup", "liveness", "readiness")
            if c.get(f"{kind}Probe")
        )
        memory[name] = container_memory(c)
    return PredictorPod(
        pod=pod_facts(raw),
        uid=str(metadata.get("uid", "")),
        created=parse_time(metadata.get("creationTimestamp")),
        revision=str((metadata.get("labels") or {}).get(REVISION_LABEL, "")),
        ready_status=str((conditions.get("Ready") or {}).get("status", "")),
        ready_changed=parse_time((conditions.get("Ready") or {}).get("lastTransitionTime")),
        started=parse_time(status.get("startTime")),
        scheduled=(
            str(scheduled.get("status", "")),
            str(scheduled.get("reason", "")),
            str(scheduled.get("message", "")),
        ),
        images={str(c.get("name", "")): str(c.get("image", "")) for c in containers},
        memory=memory,
        probes=probes,
        terminations=_terminations(status),
    )


@dataclass(frozen=True)
class PodEvent:
    event: EventFacts
    kind: str  # involvedObject.kind
    name: str  # involvedObject.name
    field_path: str  # involvedObject.fieldPath, e.g. spec.containers{kserve-container}

    @property
    def container(self) -> str:
        found = re.search(r"\{([^}]+)\}", self.field_path)
        return found.group(1) if found else ""


@dataclass(frozen=True)
class PreviousLog:
    pod: str
    container: str
    text: str

    def last_lines(self, n: int = 5) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()][-n:]


@dataclass(frozen=True)
class Predictor:
    isvc: InferenceService
    pods: tuple[PredictorPod, ...]
    events: tuple[PodEvent, ...]  # newest first
    log: PreviousLog | None  # the previous run of a crash-looping container, when readable

    @property
    def live(self) -> tuple[PredictorPod, ...]:
        return tuple(p for p in self.pods if p.live)

    @property
    def ready(self) -> tuple[PredictorPod, ...]:
        return tuple(p for p in self.live if p.ready)

    def events_about(self, pod: str) -> tuple[PodEvent, ...]:
        return tuple(e for e in self.events if e.kind == "Pod" and e.name == pod)


def _about_predictor(isvc: str, name: str) -> bool:
    return name == isvc or name.startswith(f"{isvc}-predictor")


def list_predictor_pods(ctx: ProbeContext, isvc: InferenceService) -> tuple[tuple[PredictorPod, ...], Any]:
    fetched = ctx.kube.list(PODS, isvc.namespace, label_selector=predictor_selector(isvc.name))
    pods = tuple(sorted((predictor_pod(p) for p in fetched.value), key=lambda p: p.name))
    return pods, fetched


def read_predictor(ctx: ProbeContext) -> Observed:
    """The predictor pods, the recent events about them, and a crash-looping container's last log."""
    isvc, _ = get_isvc(ctx)
    pods, pods_fetched = list_predictor_pods(ctx, isvc)
    events_fetched = ctx.kube.list(EVENTS, isvc.namespace)
    cutoff = ctx.now - timedelta(hours=ctx.settings.events_window_h)
    events: list[PodEvent] = []
    for raw in events_fetched.value:
        involved = raw.get("involvedObject") or {}
        name = str(involved.get("name", ""))
        if not _about_predictor(isvc.name, name):
            continue
        event = event_facts(raw)
        if event.last is None or event.last >= cutoff:
            events.append(
                PodEvent(event, str(involved.get("kind", "")), name, str(involved.get("fieldPath", "") or ""))
            )
    events.sort(key=lambda e: e.event.last or ctx.now, reverse=True)
    ready = sum(p.ready for p in pods if p.live)
    evidence: list[Evidence] = [
        kube_evidence(
            pods_fetched,
            f"{len(pods)} predictor pods of {isvc.ref} ({ready} Ready)",
            [
                {
                    "pod": p.name,
                    "node": p.pod.node,
                    "phase": p.pod.phase,
                    "reason": p.pod.reason,
                    "ready": p.ready,
                    "containers": [c.describe() for c in p.pod.containers],
                }
                for p in pods
            ],
        ),
        kube_evidence(events_fetched, f"{len(events)} recent events about the predictor in {isvc.namespace}"),
    ]
    log, log_evidence = _previous_log(ctx, pods, killed_otherwise(pods, tuple(events)))
    evidence.extend(log_evidence)
    return Observed(Predictor(isvc, pods, tuple(events), log), tuple(evidence))


def _previous_log(
    ctx: ProbeContext, pods: tuple[PredictorPod, ...], killed: frozenset[str]
) -> tuple[PreviousLog | None, list[Evidence]]:
    """The previous run's last lines of the first crash-looping watched container (one read)."""
    looping = crashloops_in(pods, killed)
    if not looping:
        return None, []
    pod, container = looping[0]
    try:
        fetched = ctx.kube.pod_log(
            pod.pod.namespace, pod.name, container.name, previous=True, tail_lines=LOG_LINES
        )
    except ReaderError as exc:
        return None, [failure_evidence(exc, ctx.now)]
    text = str(fetched.value)
    lines = [line for line in text.splitlines() if line.strip()]
    said = f"last {LOG_LINES} log lines of {pod.name}/{container.name} (previous run): " + (
        lines[-1] if lines else "empty"
    )
    return PreviousLog(pod.name, container.name, text), [kube_evidence(fetched, said)]


# --- what the rungs look for ---------------------------------------------------------------------


def probe_kills(events: tuple[PodEvent, ...]) -> tuple[PodEvent, ...]:
    """Killing events for a failed startup or liveness probe."""
    return tuple(
        e
        for e in events
        if e.event.reason == "Killing" and re.search(r"failed (startup|liveness) probe", e.event.message)
    )


def probe_killed(events: tuple[PodEvent, ...]) -> frozenset[str]:
    """The pods whose container the kubelet killed for a failed probe (their exit 137 is not OOM)."""
    return frozenset(e.name for e in probe_kills(events))


def killed_otherwise(pods: tuple[PredictorPod, ...], events: tuple[PodEvent, ...]) -> frozenset[str]:
    """Pods whose SIGKILL (exit 137) has another explanation than the OOM killer: a failed probe,
    or an eviction (the kubelet kills the containers of an evicted pod)."""
    evicted = {p.name for p in pods if p.pod.phase == "Failed" and p.pod.reason == "Evicted"}
    evicted |= {e.name for e in events if e.kind == "Pod" and e.event.reason == "Evicted"}
    return probe_killed(events) | frozenset(evicted)


def is_oom(termination: Termination, pod: str, killed: frozenset[str]) -> bool:
    if termination.reason == "OOMKilled":
        return True
    return termination.exit_code == OOM_EXIT and pod not in killed


@dataclass(frozen=True)
class OomKill:
    pod: str
    container: str
    reason: str
    exit_code: int | None
    finished: datetime | None
    limit: str | None

    def describe(self, now: datetime) -> str:
        when = f" {age(self.finished, now)} ago" if self.finished else ""
        return f"{self.pod}/{self.container} {self.reason or 'killed'} (exit {self.exit_code}){when}"


def oom_said(predictor: Predictor, kills: tuple[OomKill, ...]) -> str:
    """How many pods saw an OOM kill and how often their model server restarted.

    A pod keeps only its current and its last termination, so the kills are counted in pods; the
    restart counts say how often the model server started again (every restart after an OOM kill
    is one, though not every restart need have been one).
    """
    pods = sorted({k.pod for k in kills})
    restarts = sum(
        c.restarts
        for p in predictor.pods
        if p.name in pods
        for c in p.pod.containers
        if c.name == MODEL_CONTAINER
    )
    if not pods:
        return f"{MODEL_CONTAINER} OOMKilled (the Revision says so)"
    where = f"pod {pods[0]}" if len(pods) == 1 else counted(len(pods), "pod")
    return f"{MODEL_CONTAINER} OOMKilled in {where}" + (
        f" ({counted(restarts, 'restart')})" if restarts else ""
    )


def oom_kills(predictor: Predictor) -> tuple[OomKill, ...]:
    """The model server's OOM kills, now or as its last state, newest first."""
    killed = killed_otherwise(predictor.pods, predictor.events)
    found = [
        OomKill(
            p.name, t.container, t.reason, t.exit_code, t.finished, p.memory.get(t.container, (None, None))[1]
        )
        for p in predictor.pods
        for t in p.terminations
        if t.container == MODEL_CONTAINER and is_oom(t, p.name, killed)
    ]
    return tuple(sorted(found, key=lambda k: k.finished.isoformat() if k.finished else "", reverse=True))


def crashloops_in(
    pods: tuple[PredictorPod, ...], killed: frozenset[str]
) -> tuple[tuple[PredictorPod, ContainerState], ...]:
    """Watched containers in CrashLoopBackOff whose last exit was not an OOM kill."""
    found = []
    for pod in pods:
        if not pod.live:
            continue
        for container in pod.pod.containers:
            if container.name not in WATCHED or not container.crashlooping:
                continue
            last = Termination(container.name, container.last_reason, container.last_exit_code, None, False)
            if not is_oom(last, pod.name, killed):
                found.append((pod, container))
    return tuple(found)


def crashloops(predictor: Predictor) -> tuple[tuple[PredictorPod, ContainerState], ...]:
    return crashloops_in(predictor.pods, killed_otherwise(predictor.pods, predictor.events))


def image_pulls(predictor: Predictor) -> tuple[tuple[PredictorPod, ContainerState], ...]:
    return tuple(
        (p, c)
        for p in predictor.live
        for c in p.pod.containers
        if c.state == "waiting" and c.reason in IMAGE_PULL
    )


def unschedulable(predictor: Predictor) -> tuple[PredictorPod, ...]:
    return tuple(p for p in predictor.live if p.pod.phase == "Pending" and p.scheduled[0] == "False")


def wedged(predictor: Predictor, now: datetime, after_min: float) -> tuple[PredictorPod, ...]:
    """Running, not Ready for ≥ after_min, the model server running (not crash-looping), while
    another replica is Ready: a stuck replica the load balancer has quietly dropped."""
    if not predictor.ready:
        return ()
    found = []
    for pod in predictor.live:
        minutes = pod.not_ready_min(now)
        model = pod.container(MODEL_CONTAINER)
        if (
            pod.pod.phase == "Running"
            and minutes is not None
            and minutes >= after_min
            and model is not None
            and model.state == "running"
        ):
            found.append(pod)
    return tuple(found)


def starting(predictor: Predictor) -> tuple[PredictorPod, ...]:
    return tuple(p for p in predictor.live if not p.ready)


@dataclass(frozen=True)
class ProbeTrouble:
    failures: tuple[PodEvent, ...]  # Unhealthy events
    kills: tuple[PodEvent, ...]  # Killing events for a failed startup/liveness probe

    @property
    def killing_kind(self) -> str:
        """startup | liveness: which probe kills the model server ("" when none does)."""
        for kill in self.kills:
            found = re.search(r"failed (startup|liveness) probe", kill.event.message)
            if found:
                return found.group(1)
        return ""


def probe_trouble(predictor: Predictor) -> ProbeTrouble:
    failures = tuple(
        e
        for e in predictor.events
        if e.kind == "Pod"
        and e.event.reason == "Unhealthy"
        and re.match(r"(Startup|Liveness|Readiness) probe failed", e.event.message)
    )
    kills = tuple(e for e in probe_kills(predictor.events) if e.kind == "Pod")
    return ProbeTrouble(failures, kills)


def model_probe(predictor: Predictor, kind: str) -> ProbeSpec | None:
    """The model server's probe of this kind, from a live pod (else any pod)."""
    for pod in (*predictor.live, *predictor.pods):
        for probe in pod.probes.get(MODEL_CONTAINER, ()):
            if probe.kind == kind:
                return probe
    return None


_LOW_ON = re.compile(r"low on resource: ([\w-]+(?:[./][\w-]+)*)")
_USING = re.compile(r"Container ([\w.-]+) was using ([0-9.]+[A-Za-z]*), request is ([0-9.]+[A-Za-z]*)")


@dataclass(frozen=True)
class Eviction:
    pod: str
    node: str
    resource: str  # memory | ephemeral-storage | nodefs … ("" when the message names none)
    message: str
    when: datetime | None
    usage: dict[str, tuple[str, str]]  # container → (using, request), from the kubelet's message


def _eviction(pod: str, node: str, message: str, when: datetime | None) -> Eviction:
    low = _LOW_ON.search(message)
    usage = {m.group(1): (m.group(2), m.group(3)) for m in _USING.finditer(message)}
    return Eviction(pod, node, low.group(1) if low else "", message, when, usage)


def evictions(predictor: Predictor) -> tuple[Eviction, ...]:
    """Evicted predictor pods (status Failed/Evicted) and Evicted events about gone ones."""
    found: dict[str, Eviction] = {}
    announced = {
        e.name: e.event.last for e in predictor.events if e.kind == "Pod" and e.event.reason == "Evicted"
    }
    for pod in predictor.pods:
        if pod.pod.phase == "Failed" and pod.pod.reason == "Evicted":
            ended = max((t.finished for t in pod.terminations if t.finished), default=None)
            when = announced.get(pod.name) or ended
            found[pod.name] = _eviction(pod.name, pod.pod.node, pod.pod.message, when)
    nodes = {p.name: p.pod.node for p in predictor.pods}
    for event in predictor.events:
        if event.kind == "Pod" and event.event.reason == "Evicted" and event.name not in found:
            found[event.name] = _eviction(
                event.name, nodes.get(event.name, ""), event.event.message, event.event.last
            )
    return tuple(found.values())


# --- nodes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PredictorNodes:
    nodes: tuple[NodeFacts, ...]
    missing: tuple[str, ...]  # nodes the pods name that no longer exist
    pods: int

    def not_ready(self) -> tuple[NodeFacts, ...]:
        return tuple(n for n in self.nodes if n.ready_status != "True")

    def pressure(self) -> tuple[tuple[NodeFacts, str], ...]:
        return tuple(
            (n, kind)
            for n in self.nodes
            for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
            if (c := n.condition(kind)) is not None and c.status == "True"
        )


def read_predictor_nodes(ctx: ProbeContext) -> Observed:
    """The nodes of the predictor pods, each read by name."""
    isvc, _ = get_isvc(ctx)
    pods, _ = list_predictor_pods(ctx, isvc)
    names = sorted({p.pod.node for p in pods if p.pod.node})
    nodes: list[NodeFacts] = []
    missing: list[str] = []
    evidence: list[Evidence] = []
    for name in names:
        try:
            fetched = ctx.kube.get(NODES, name)
        except NotFound as exc:
            missing.append(name)
            evidence.append(failure_evidence(exc, ctx.now))
            continue
        node = node_facts(fetched.value)
        nodes.append(node)
        pressure = [c.type for c in node.conditions if c.type.endswith("Pressure") and c.status == "True"]
        said = f"node {name}: Ready={node.ready_status}" + (f", {', '.join(pressure)}" if pressure else "")
        evidence.append(kube_evidence(fetched, said))
    return Observed(PredictorNodes(tuple(nodes), tuple(missing), len(pods)), tuple(evidence))
