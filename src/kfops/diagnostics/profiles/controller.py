"""The Profile controller's Deployment, its rollout history, its pods, their events and logs.

Reads (domain.md §4.1): the Deployment by name (``profiles-deployment`` in ``kubeflow``); its
ReplicaSets and pods by the Deployment's own ``spec.selector.matchLabels``; the events about
each pod (a field selector per pod, at most MAX_PODS pods); and for each container that crashed
its previous log (tail LOG_LINES), or its current log when it never restarted. The request count
depends on the controller's replicas, never on the size of the cluster.

What the kubelet writes, and the rungs match (Kubernetes pkg/kubelet/prober):
- Unhealthy  "Liveness probe failed: Get "http://10.0.0.7:9876/healthz": … connection refused"
- Killing    "Container manager failed liveness probe, will be restarted"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import DEPLOYMENTS, EVENTS, PODS, REPLICASETS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kube.events import EventFacts, event_facts
from kfops.diagnostics.kube.log_lines import error_lines
from kfops.diagnostics.kube.pods import container_memory
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.diagnostics.profiles.logs import CLASSES, LogMatch, classify
from kfops.diagnostics.profiles.versions import parse_image
from kfops.model import Evidence, Observed

LOG_LINES = 100
#: the pod label of the upstream manifests (kustomize commonLabels), used only when the
#: Deployment itself cannot be read
FALLBACK_LABELS = (("kustomize.component", "profiles"),)
MAX_PODS = 5  # a controller runs one replica; a rollout gone wrong leaves a few more, never many
REVISION = "deployment.kubernetes.io/revision"
OOM_EXIT = 137  # 128 + SIGKILL: the OOM killer (or the kubelet after a failed liveness probe)
IMAGE_PULL = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)


def split_target(ctx: ProbeContext) -> tuple[str, str]:
    """The controller as (namespace, deployment): the target "NS/NAME", else the settings."""
    if ctx.target.count("/") == 1:
        namespace, name = ctx.target.split("/")
        return namespace, name
    return ctx.settings.profile_controller_namespace, ctx.settings.profile_controller_deployment


@dataclass(frozen=True)
class Container:
    pod: str
    name: str
    image: str
    ready: bool
    restarts: int
    state: str  # running | waiting | terminated | unknown
    reason: str  # the current state's reason: CrashLoopBackOff, ImagePullBackOff, OOMKilled …
    message: str
    last_reason: str  # lastState.terminated
    last_exit_code: int | None
    last_finished: datetime | None
    memory_request: str | None
    memory_limit: str | None
    liveness: dict[str, Any]  # the livenessProbe as written ({} when none)

    @property
    def crashlooping(self) -> bool:
        return self.reason == "CrashLoopBackOff" or (
            self.state == "terminated" and self.reason not in ("Completed", "")
        )

    @property
    def crashed(self) -> bool:
        """It crash-loops, or ended badly at least once (its previous run holds the why)."""
        return self.crashlooping or (
            self.restarts > 0 and (self.last_reason not in ("", "Completed") or bool(self.last_exit_code))
        )

    def describe(self) -> str:
        parts = [f"container {self.name}", self.reason or self.state]
        if self.restarts:
            parts.append(f"{self.restarts} restarts")
        if self.last_reason or self.last_exit_code is not None:
            parts.append(f"last exit {self.last_reason or '?'} code {self.last_exit_code}")
        return ", ".join(parts)

    @property
    def probe_where(self) -> str:
        """The liveness probe's target: "GET /healthz on port 9876" ("" when none)."""
        http = self.liveness.get("httpGet")
        if isinstance(http, dict):
            return f"GET {http.get('path', '/')} on port {http.get('port', '?')}"
        tcp = self.liveness.get("tcpSocket")
        if isinstance(tcp, dict):
            return f"TCP port {tcp.get('port', '?')}"
        if self.liveness.get("exec"):
            return "an exec command"
        return ""

    @property
    def probe_timing(self) -> str:
        if not self.liveness:
            return ""
        delay = int(self.liveness.get("initialDelaySeconds") or 0)
        period = int(self.liveness.get("periodSeconds") or 10)
        threshold = int(self.liveness.get("failureThreshold") or 3)
        timeout = int(self.liveness.get("timeoutSeconds") or 1)
        return (
            f"initialDelaySeconds {delay}, periodSeconds {period}, failureThreshold {threshold}, "
            f"timeoutSeconds {timeout}: {delay + period * threshold} s before a kill"
        )


@dataclass(frozen=True)
class ControllerPod:
    name: str
    uid: str
    node: str
    phase: str
    created: datetime | None
    scheduled: tuple[str, str, str]  # PodScheduled (status, reason, message)
    containers: tuple[Container, ...]

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


@dataclass(frozen=True)
class ReplicaSet:
    name: str
    revision: int
    images: dict[str, str]  # container → image of its pod template
    created: datetime | None


@dataclass(frozen=True)
class PodEvent:
    event: EventFacts
    pod: str
    field_path: str  # spec.containers{manager}

    @property
    def container(self) -> str:
        found = re.search(r"\{([^}]+)\}", self.field_path)
        if found:
            return found.group(1)
        said = re.match(r"Container (\S+) ", self.event.message)
        return said.group(1) if said else ""


@dataclass(frozen=True)
class Controller:
    namespace: str
    name: str
    found: bool
    uid: str
    revision: int | None  # the Deployment's current revision (annotation)
    selector: str
    images: dict[str, str]  # container → image in the Deployment's pod template
    memory: dict[str, tuple[str | None, str | None]]  # container → (request, limit), template
    replicasets: tuple[ReplicaSet, ...]  # newest revision first
    pods: tuple[ControllerPod, ...]
    events: tuple[PodEvent, ...]  # newest first
    pods_capped: int = 0  # pods beyond MAX_PODS whose events were not read

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def containers(self, name: str | None = None) -> tuple[Container, ...]:
        return tuple(c for p in self.pods for c in p.containers if name is None or c.name == name)

    def crashlooping(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers() if c.crashlooping)

    def crashed(self) -> tuple[Container, ...]:
        return tuple(c for c in self.containers() if c.crashed)

    def running(self) -> tuple[ControllerPod, ...]:
        return tuple(p for p in self.pods if p.phase == "Running")

    def image(self, container: str) -> str:
        if container in self.images:
            return self.images[container]
        return next((c.image for c in self.containers(container)), "")

    def tag(self, container: str) -> str:
        return parse_image(self.image(container)).tag

    def previous_image(self, container: str) -> tuple[str, ReplicaSet] | None:
        """The image this container had before the current one: the newest older ReplicaSet
        (by revision) whose template runs another image for it."""
        current = self.image(container)
        below = self.revision if self.revision is not None else None
        for rs in self.replicasets:
            if below is not None and rs.revision >= below:
                continue
            image = rs.images.get(container)
            if image and image != current:
                return image, rs
        return None

    def probe_kills(self, container: str | None = None) -> tuple[PodEvent, ...]:
        return tuple(
            e
            for e in self.events
            if e.event.reason == "Killing"
            and "failed liveness probe" in e.event.message
            and (container is None or e.container == container)
        )

    def unhealthy(self, kind: str) -> tuple[PodEvent, ...]:
        """Unhealthy events of one probe kind (Liveness | Readiness | Startup)."""
        return tuple(
            e
            for e in self.events
            if e.event.reason == "Unhealthy" and e.event.message.startswith(f"{kind} probe failed")
        )


@dataclass(frozen=True)
class OomKill:
    container: Container
    limit: str | None

    def describe(self, now: datetime) -> str:
        c = self.container
        when = f" {age(c.last_finished, now)} ago" if c.last_finished else ""
        return (
            f"{c.name} (pod {c.pod}) last terminated {c.last_reason or 'killed'} (exit "
            f"{c.last_exit_code}){when}, memory limit {self.limit or 'unset'}, {c.restarts} restarts"
        )


def oom_kills(controller: Controller) -> tuple[OomKill, ...]:
    """Containers last terminated OOMKilled, or with exit 137 without a liveness kill."""
    found = []
    for c in controller.containers():
        for reason, code in ((c.last_reason, c.last_exit_code), (c.reason, None)):
            if reason == "OOMKilled" or (code == OOM_EXIT and not controller.probe_kills(c.name)):
                limit = controller.memory.get(c.name, (None, c.memory_limit))[1] or c.memory_limit
                found.append(OomKill(c, limit))
                break
    return tuple(found)


def image_pulls(controller: Controller) -> tuple[Container, ...]:
    return tuple(c for c in controller.containers() if c.state == "waiting" and c.reason in IMAGE_PULL)


# ------------------------------------------------------------------------------------------ parsing
def _container(pod: str, spec: dict[str, Any], status: dict[str, Any]) -> Container:
    state = status.get("state") or {}
    kind = next(iter(state), "unknown")
    detail = state.get(kind) or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    request, limit = container_memory(spec)
    code = last.get("exitCode")
    return Container(
        pod=pod,
        name=str(status.get("name") or spec.get("name", "")),
        image=str(spec.get("image") or status.get("image", "")),
        ready=bool(status.get("ready")),
        restarts=int(status.get("restartCount") or 0),
        state=kind,
        reason=str(detail.get("reason", "") or ""),
        message=str(detail.get("message", "") or ""),
        last_reason=str(last.get("reason", "") or ""),
        last_exit_code=int(code) if code is not None else None,
        last_finished=parse_time(last.get("finishedAt")),
        memory_request=request,
        memory_limit=limit,
        liveness=dict(spec.get("livenessProbe") or {}),
    )


def controller_pod(raw: dict[str, Any]) -> ControllerPod:
    metadata, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    name = str(metadata.get("name", ""))
    statuses = {str(s.get("name", "")): s for s in status.get("containerStatuses") or []}
    containers = tuple(
        _container(name, c, statuses.get(str(c.get("name", "")), {"name": c.get("name")}))
        for c in spec.get("containers") or []
    )
    conditions = {str(c.get("type", "")): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    return ControllerPod(
        name=name,
        uid=str(metadata.get("uid", "")),
        node=str(spec.get("nodeName", "")),
        phase=str(status.get("phase", "Unknown")),
        created=parse_time(metadata.get("creationTimestamp")),
        scheduled=(
            str(scheduled.get("status", "")),
            str(scheduled.get("reason", "")),
            str(scheduled.get("message", "")),
        ),
        containers=containers,
    )


def _revision(metadata: dict[str, Any]) -> int | None:
    value = (metadata.get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _template_images(spec: dict[str, Any]) -> dict[str, str]:
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return {str(c.get("name", "")): str(c.get("image", "")) for c in containers}


def replica_set(raw: dict[str, Any]) -> ReplicaSet:
    metadata = raw.get("metadata") or {}
    return ReplicaSet(
        name=str(metadata.get("name", "")),
        revision=_revision(metadata) or 0,
        images=_template_images(raw.get("spec") or {}),
        created=parse_time(metadata.get("creationTimestamp")),
    )


def _owned_by(raw: dict[str, Any], kind: str, uid: str, name: str) -> bool:
    refs = (raw.get("metadata") or {}).get("ownerReferences") or []
    if not refs:
        return True  # a hand-made object that carries the labels: count it
    return any(r.get("kind") == kind and (r.get("uid") == uid or r.get("name") == name) for r in refs)


def read_deployment(ctx: ProbeContext) -> Observed:
    """The Deployment by name: None when it does not exist (an answer); other failures raise."""
    namespace, name = split_target(ctx)
    try:
        fetched = ctx.kube.get(DEPLOYMENTS, name, namespace)
    except NotFound as exc:
        return Observed(None, (failure_evidence(exc, ctx.now),))
    images = _template_images(fetched.value.get("spec") or {})
    said = f"Deployment {namespace}/{name}: " + ", ".join(f"{c} {i}" for c, i in images.items())
    return Observed(fetched.value, (kube_evidence(fetched, said),))


def read_controller(ctx: ProbeContext) -> Observed:
    """The Deployment, its ReplicaSets, its pods and the events about them.

    When the Deployment cannot be read (RBAC, a timeout) the pods are still found by the upstream
    manifests' label (FALLBACK_SELECTOR), so the rungs about the pods still answer; the rung about
    the Deployment says what failed.
    """
    namespace, name = split_target(ctx)
    evidence: list[Evidence] = []
    try:
        fetched = ctx.kube.get(DEPLOYMENTS, name, namespace)
        raw: dict[str, Any] = fetched.value
    except NotFound as exc:
        empty = Controller(namespace, name, False, "", None, "", {}, {}, (), (), ())
        return Observed(empty, (failure_evidence(exc, ctx.now),))
    except ReaderError as exc:
        evidence.append(failure_evidence(exc, ctx.now))
        raw = {"spec": {"selector": {"matchLabels": dict(FALLBACK_LABELS)}}}
    metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    template = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    memory = {
        str(c.get("name", "")): (
            _str_or_none(((c.get("resources") or {}).get("requests") or {}).get("memory")),
            _str_or_none(((c.get("resources") or {}).get("limits") or {}).get("memory")),
        )
        for c in template
    }
    uid = str(metadata.get("uid", ""))
    replicasets: tuple[ReplicaSet, ...] = ()
    pods: tuple[ControllerPod, ...] = ()
    events: list[PodEvent] = []
    capped = 0
    if selector:
        rs_fetched = ctx.kube.list(REPLICASETS, namespace, label_selector=selector)
        replicasets = tuple(
            sorted(
                (replica_set(r) for r in rs_fetched.value if _owned_by(r, "Deployment", uid, name)),
                key=lambda r: r.revision,
                reverse=True,
            )
        )
        evidence.append(
            kube_evidence(
                rs_fetched,
                f"{len(replicasets)} ReplicaSets: "
                + ", ".join(f"revision {r.revision} {'/'.join(r.images.values())}" for r in replicasets[:4]),
            )
        )
        pods_fetched = ctx.kube.list(PODS, namespace, label_selector=selector)
        pods = tuple(sorted((controller_pod(p) for p in pods_fetched.value), key=lambda p: p.name))
        evidence.append(
            kube_evidence(
                pods_fetched,
                f"{len(pods)} pods of {namespace}/{name}",
                [
                    {"pod": p.name, "phase": p.phase, "containers": [c.describe() for c in p.containers]}
                    for p in pods
                ],
            )
        )
        capped = max(0, len(pods) - MAX_PODS)
        for pod in pods[:MAX_PODS]:
            ev = ctx.kube.list(
                EVENTS, namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod.name}"
            )
            found = [
                PodEvent(
                    event_facts(e), pod.name, str((e.get("involvedObject") or {}).get("fieldPath") or "")
                )
                for e in ev.value
            ]
            events.extend(found)
            evidence.append(kube_evidence(ev, f"{len(found)} events about pod {pod.name}"))
    events.sort(key=lambda e: e.event.last or ctx.now, reverse=True)
    controller = Controller(
        namespace=namespace,
        name=name,
        found=True,
        uid=uid,
        revision=_revision(metadata),
        selector=selector,
        images=_template_images(spec),
        memory=memory,
        replicasets=replicasets,
        pods=pods,
        events=tuple(events),
        pods_capped=capped,
    )
    return Observed(controller, tuple(evidence))


def _str_or_none(value: object) -> str | None:
    return str(value) if value is not None else None


# ------------------------------------------------------------------------------------------ logs
@dataclass(frozen=True)
class ContainerLog:
    pod: str
    container: str
    previous: bool
    text: str | None  # None: unreadable
    error: str = ""  # why it was unreadable
    match: LogMatch | None = None

    @property
    def empty(self) -> bool:
        return self.text is not None and not self.text.strip()

    @property
    def which(self) -> str:
        return f"{self.pod}/{self.container} ({'previous' if self.previous else 'current'} run)"

    def last_errors(self) -> tuple[str, ...]:
        return error_lines(self.text or "")


@dataclass(frozen=True)
class ControllerLogs:
    crashed: tuple[Container, ...]  # whose logs were read
    logs: tuple[ContainerLog, ...]

    def first_match(self) -> ContainerLog | None:
        """The log with the highest-priority class (manager before kfam on a tie)."""
        matched = [log for log in self.logs if log.match is not None]
        if not matched:
            return None
        return min(matched, key=lambda log: CLASSES.index(log.match.cls) if log.match else len(CLASSES))

    @property
    def readable(self) -> tuple[ContainerLog, ...]:
        return tuple(log for log in self.logs if log.text is not None and not log.empty)

    @property
    def asked_version(self) -> str:
        """The Profile API version the controller asked for in its log ("" when it said none)."""
        for log in self.logs:
            if log.match is not None and log.match.cls == "crd-missing" and log.match.api_version:
                return log.match.api_version
        return ""

    @property
    def unknown_field(self) -> str:
        for log in self.logs:
            if log.match is not None and log.match.field:
                return log.match.field
        return ""


def read_controller_logs(ctx: ProbeContext, controller: Controller) -> Observed:
    """Each crashed container's previous log (its current log when it never restarted)."""
    watched = (
        ctx.settings.profile_controller_manager_container,
        ctx.settings.profile_controller_kfam_container,
    )
    window = timedelta(hours=ctx.settings.events_window_h)
    crashed = tuple(
        c
        for c in controller.crashed()
        if c.name in watched
        and (c.crashlooping or c.last_finished is None or ctx.now - c.last_finished <= window)
    )
    order = {watched[0]: 0}
    crashed = tuple(sorted(crashed, key=lambda c: (order.get(c.name, 1), c.pod, c.name)))
    logs: list[ContainerLog] = []
    evidence: list[Evidence] = []
    for c in crashed[: 2 * MAX_PODS]:
        previous = c.restarts > 0
        try:
            fetched = ctx.kube.pod_log(
                controller.namespace, c.pod, c.name, previous=previous, tail_lines=LOG_LINES
            )
        except ReaderError as exc:
            logs.append(ContainerLog(c.pod, c.name, previous, None, exc.headline))
            evidence.append(failure_evidence(exc, ctx.now))
            continue
        text = str(fetched.value or "")
        match = classify(text)
        log = ContainerLog(c.pod, c.name, previous, text, match=match)
        logs.append(log)
        said = (
            f"{log.which}: {match.cls}: {match.quote}"
            if match
            else f"{log.which}: " + (" | ".join(log.last_errors()) or "empty")
        )
        evidence.append(kube_evidence(fetched, said, {"lines": text.splitlines()[-10:]}))
    return Observed(ControllerLogs(crashed, tuple(logs)), tuple(evidence))
