"""KFP's backend in settings.kfp_namespace: the Argo workflow-controller, the API server, the
persistence agent, the metadata server and the object store — each Deployment, its pods (found
by the Deployment's own selector, as kubectl does) and, for the KFP servers, the database errors
in their last log lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import CONFIGMAPS, DEPLOYMENTS, ENDPOINTSLICES, PODS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kube.pods import PodFacts, container_memory, pod_facts
from kfops.diagnostics.kubeflow.migration_jobs import ERROR_CLASSES
from kfops.diagnostics.pipelines.controller_logs import OOM_REASON, ControllerCrash, classify_controller_log
from kfops.model import Evidence, Observed

WORKFLOW_CONTROLLER = "workflow-controller"
CONTROLLER_CONFIGMAP = "workflow-controller-configmap"
#: the KFP servers whose failure leaves runs stuck, and what each does (domain.md §2.1)
KFP_SERVERS = (
    ("ml-pipeline", "the KFP API server"),
    ("ml-pipeline-persistenceagent", "the persistence agent (syncs Workflows into KFP's database)"),
    ("metadata-grpc-deployment", "the ML Metadata server"),
)
PERSISTENCE_AGENT = "ml-pipeline-persistenceagent"
OBJECT_STORE_SERVICE = "minio-service"
OBJECT_STORE_DEPLOYMENTS = ("seaweedfs", "minio")
SIDE_CARS = frozenset({"istio-proxy", "linkerd-proxy"})
LOG_LINES = 50

#: the classes of database trouble a KFP server's log shows, most specific first; all but the
#: connection failures (a KFP server's own wording) are the migration Jobs' classes
_MIGRATION_CLASSES = {name: (meaning, pattern) for name, meaning, pattern in ERROR_CLASSES}
DB_ERRORS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "unreachable",
        "the database cannot be reached",
        re.compile(
            r"Can't connect to MySQL|dial tcp [^ ]+:3306|connection refused|no such host|"
            r"i/o timeout|driver: bad connection|invalid connection|mysql_real_connect failed",
            re.I,
        ),
    ),
    *(
        (name, *_MIGRATION_CLASSES[name])
        for name in (
            "access-denied",
            "deadlock",
            "lock-wait-timeout",
            "read-only",
            "wsrep-not-ready",
            "mlmd-version",
        )
    ),
)


@dataclass(frozen=True)
class DbError:
    kind: str
    meaning: str
    line: str
    pod: str


@dataclass(frozen=True)
class Component:
    name: str
    role: str
    namespace: str
    found: bool
    uid: str = ""
    replicas: int = 0
    available: int = 0
    pods: tuple[PodFacts, ...] = ()
    db_errors: tuple[DbError, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def down(self) -> bool:
        return self.found and self.replicas > 0 and self.available < 1

    @property
    def crashlooping(self) -> tuple[PodFacts, ...]:
        return tuple(p for p in self.pods if any(c.crashlooping for c in p.containers))

    @property
    def restarts(self) -> int:
        return sum(c.restarts for p in self.pods for c in p.containers)

    def describe(self) -> str:
        if not self.found:
            return f"Deployment {self.ref} not found"
        state = f"{self.available}/{self.replicas} available"
        crashing = [
            f"{p.name}: {c.describe()}" for p in self.crashlooping for c in p.containers if c.crashlooping
        ]
        if crashing:
            state += "; " + "; ".join(crashing)
        elif self.restarts:
            state += f", {self.restarts} restarts"
        return f"{self.name} {state}"


def classify_db_line(text: str) -> tuple[str, str, str] | None:
    """(class, meaning, line) of the newest database error in a log, or None."""
    for line in reversed([line.strip() for line in text.splitlines() if line.strip()]):
        for kind, meaning, pattern in DB_ERRORS:
            if pattern.search(line):
                return kind, meaning, line[:300]
    return None


def _app_container(pod: dict[str, Any]) -> str:
    containers = [str(c.get("name", "")) for c in (pod.get("spec") or {}).get("containers") or []]
    return next((c for c in containers if c not in SIDE_CARS), containers[0] if containers else "")


def _selector(deployment: dict[str, Any]) -> str:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def read_component(
    ctx: ProbeContext, name: str, role: str, *, logs: bool
) -> tuple[Component, list[Evidence]]:
    """One Deployment, its pods, and (``logs``) the database errors in its newest pod's log."""
    component, evidence, _ = _read_component(ctx, name, role, logs=logs)
    return component, evidence


def _read_component(
    ctx: ProbeContext, name: str, role: str, *, logs: bool
) -> tuple[Component, list[Evidence], list[dict[str, Any]]]:
    namespace = ctx.settings.kfp_namespace
    try:
        fetched = ctx.kube.get(DEPLOYMENTS, name, namespace)
    except NotFound as exc:
        return Component(name, role, namespace, found=False), [failure_evidence(exc, ctx.now)], []
    raw = fetched.value
    status, metadata = raw.get("status") or {}, raw.get("metadata") or {}
    replicas = int((raw.get("spec") or {}).get("replicas", 1) or 0)
    available = int(status.get("availableReplicas") or 0)
    evidence = [kube_evidence(fetched, f"Deployment {namespace}/{name}: {available}/{replicas} available")]
    selector = _selector(raw)
    raw_pods: list[dict[str, Any]] = []
    if selector:
        pods_fetched = ctx.kube.list(PODS, namespace, label_selector=selector)
        raw_pods = list(pods_fetched.value)
        evidence.append(kube_evidence(pods_fetched, f"{len(raw_pods)} pods of {name}"))
    errors: list[DbError] = []
    if logs:
        errors, log_evidence = _db_errors(ctx, raw_pods)
        evidence.extend(log_evidence)
    component = Component(
        name,
        role,
        namespace,
        found=True,
        uid=str(metadata.get("uid", "")),
        replicas=replicas,
        available=available,
        pods=tuple(pod_facts(p) for p in raw_pods),
        db_errors=tuple(errors),
    )
    return component, evidence, raw_pods


def _db_errors(ctx: ProbeContext, raw_pods: list[dict[str, Any]]) -> tuple[list[DbError], list[Evidence]]:
    """Read the newest pod's app container log (and its previous one after a restart)."""
    errors: list[DbError] = []
    evidence: list[Evidence] = []
    newest = sorted(raw_pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))[-1:]
    for raw in newest:
        facts = pod_facts(raw)
        container = _app_container(raw)
        restarted = any(c.name == container and c.restarts for c in facts.containers)
        for previous in (True, False) if restarted else (False,):
            try:
                log = ctx.kube.pod_log(
                    facts.namespace, facts.name, container, previous=previous, tail_lines=LOG_LINES
                )
            except ReaderError as exc:
                evidence.append(failure_evidence(exc, ctx.now))
                continue
            found = classify_db_line(str(log.value))
            said = f"database error ({found[0]}): {found[2]}" if found else "no database error"
            evidence.append(
                kube_evidence(log, f"last {LOG_LINES} log lines of {facts.name}/{container}: {said}")
            )
            if found:
                errors.append(DbError(found[0], found[1], found[2], facts.ref))
                break
    return errors, evidence


@dataclass(frozen=True)
class Controller:
    deployment: Component
    configmap_found: bool
    #: why it crash-loops (its last termination, its previous log); None when it does not
    crash: ControllerCrash | None = None


def read_crash(
    ctx: ProbeContext, raw_pods: list[dict[str, Any]]
) -> tuple[ControllerCrash | None, list[Evidence]]:
    """Why the workflow-controller crash-loops: one read of one crash-looping pod's previous log.

    OOMKilled comes from the container's last termination state, without a log read; a log that
    cannot be read is kept as evidence (class "unread"), never raised.
    """
    crashing = []
    for raw in raw_pods:
        facts, app = pod_facts(raw), _app_container(raw)
        crashing += [(raw, facts, c) for c in facts.containers if c.crashlooping and c.name == app]
    if not crashing:
        return None, []
    raw, facts, state = min(crashing, key=lambda t: t[1].name)
    pod, container, restarts = facts.name, state.name, state.restarts
    if OOM_REASON in (state.last_reason, state.reason):
        specs = (raw.get("spec") or {}).get("containers") or []
        spec: dict[str, Any] = next((c for c in specs if c.get("name") == container), {})
        request, limit = container_memory(spec)
        return ControllerCrash(
            "oom", pod, container, memory_limit=limit or "", memory_request=request or "", restarts=restarts
        ), []
    try:
        log = ctx.kube.pod_log(facts.namespace, pod, container, previous=True, tail_lines=LOG_LINES)
    except ReaderError as exc:
        crash = ControllerCrash("unread", pod, container, restarts=restarts, error=exc.headline)
        return crash, [failure_evidence(exc, ctx.now)]
    text = str(log.value or "")
    cls, line, field, denial = classify_controller_log(text)
    crash = ControllerCrash(cls, pod, container, line=line, field=field, denial=denial, restarts=restarts)
    said = f"previous {LOG_LINES} log lines of {pod}/{container}: " + (
        f"{cls}: {line}" if cls != "unknown" else (line or "empty")
    )
    return crash, [kube_evidence(log, said, {"lines": text.splitlines()[-10:]})]


def read_workflow_controller(ctx: ProbeContext) -> Observed:
    component, evidence, raw_pods = _read_component(
        ctx, WORKFLOW_CONTROLLER, "the Argo workflow-controller", logs=False
    )
    crash, crash_evidence = read_crash(ctx, raw_pods) if component.crashlooping else (None, [])
    evidence.extend(crash_evidence)
    namespace = ctx.settings.kfp_namespace
    try:
        fetched = ctx.kube.get(CONFIGMAPS, CONTROLLER_CONFIGMAP, namespace)
        evidence.append(kube_evidence(fetched, f"ConfigMap {namespace}/{CONTROLLER_CONFIGMAP} present"))
        configmap = True
    except NotFound as exc:
        evidence.append(failure_evidence(exc, ctx.now))
        configmap = False
    return Observed(Controller(component, configmap, crash), tuple(evidence))


def read_kfp_backend(ctx: ProbeContext) -> Observed:
    components, evidence = [], []
    for name, role in KFP_SERVERS:
        component, seen = read_component(ctx, name, role, logs=True)
        components.append(component)
        evidence.extend(seen)
    return Observed(tuple(components), tuple(evidence))


@dataclass(frozen=True)
class ObjectStore:
    service: str
    slices: int
    ready: int
    addresses: tuple[str, ...]
    deployment: Component | None  # seaweedfs or minio, when one is found

    @property
    def found(self) -> bool:
        return self.slices > 0


def read_object_store(ctx: ProbeContext) -> Observed:
    namespace = ctx.settings.kfp_namespace
    fetched = ctx.kube.list(
        ENDPOINTSLICES, namespace, label_selector=f"kubernetes.io/service-name={OBJECT_STORE_SERVICE}"
    )
    ready = [
        address
        for endpoint_slice in fetched.value
        for endpoint in endpoint_slice.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready") is not False
        for address in endpoint.get("addresses") or []
    ]
    evidence = [
        kube_evidence(fetched, f"Service {namespace}/{OBJECT_STORE_SERVICE}: {len(ready)} ready endpoint(s)")
    ]
    deployment = None
    for name in OBJECT_STORE_DEPLOYMENTS:
        component, seen = read_component(ctx, name, "the object store", logs=False)
        evidence.extend(seen)
        if component.found:
            deployment = component
            break
    store = ObjectStore(OBJECT_STORE_SERVICE, len(fetched.value), len(ready), tuple(ready), deployment)
    return Observed(store, tuple(evidence))
