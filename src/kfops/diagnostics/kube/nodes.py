"""Node facts: readiness, heartbeats, pressure, taints, GPU capacity (domain.md §1.1–1.3, §1.5)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kfops.clients.errors import NotFound, ReaderError
from kfops.clients.resources import LEASES, NODES
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.gpu.resources import gpu_quantities
from kfops.diagnostics.kube.timefmt import age, parse_time
from kfops.model import Evidence, Observed

PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
LIFECYCLE_TAINTS = (UNREACHABLE, NOT_READY, OUT_OF_SERVICE)
NODE_LEASE_NAMESPACE = "kube-node-lease"


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    since: datetime | None  # lastTransitionTime
    heartbeat: datetime | None  # lastHeartbeatTime


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str
    since: datetime | None

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True)
class NodeFacts:
    name: str
    labels: dict[str, str]
    conditions: tuple[Condition, ...]
    taints: tuple[Taint, ...]
    unschedulable: bool
    gpu_capacity: dict[str, int]
    gpu_allocatable: dict[str, int]
    lease_renewed: datetime | None = None
    lease_note: str = ""

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    @property
    def ready(self) -> Condition | None:
        return self.condition("Ready")

    @property
    def ready_status(self) -> str:
        ready = self.ready
        return ready.status if ready else "missing"

    @property
    def is_gpu_node(self) -> bool:
        return any(self.gpu_capacity.values()) or self.labels.get("nvidia.com/gpu.present") == "true"

    @property
    def product(self) -> str:
        return self.labels.get("nvidia.com/gpu.product", "")

    @property
    def unhealthy_gpus(self) -> dict[str, int]:
        """Devices in capacity but not allocatable: what the device plugin reported unhealthy."""
        return {
            name: cap - self.gpu_allocatable.get(name, 0)
            for name, cap in self.gpu_capacity.items()
            if cap > self.gpu_allocatable.get(name, 0)
        }

    def taint(self, key: str) -> Taint | None:
        return next((t for t in self.taints if t.key == key), None)

    @property
    def schedulable_gpu_node(self) -> bool:
        """Ready, not cordoned, no lifecycle taint: a place displaced GPU work could go."""
        return (
            self.ready_status == "True"
            and not self.unschedulable
            and not any(self.taint(k) for k in (*LIFECYCLE_TAINTS, UNSCHEDULABLE))
            and any(self.gpu_allocatable.values())
        )

    @property
    def healthy(self) -> bool:
        return self.ready_status == "True" and not self.unhealthy_gpus


def node_facts(node: dict[str, Any]) -> NodeFacts:
    metadata, spec, status = (
        node.get("metadata") or {},
        node.get("spec") or {},
        node.get("status") or {},
    )
    conditions = tuple(
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "Unknown")),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
            since=parse_time(c.get("lastTransitionTime")),
            heartbeat=parse_time(c.get("lastHeartbeatTime")),
        )
        for c in status.get("conditions") or []
    )
    taints = tuple(
        Taint(
            key=str(t.get("key", "")),
            value=str(t.get("value", "") or ""),
            effect=str(t.get("effect", "")),
            since=parse_time(t.get("timeAdded")),
        )
        for t in spec.get("taints") or []
    )
    return NodeFacts(
        name=str(metadata.get("name", "")),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        conditions=conditions,
        taints=taints,
        unschedulable=bool(spec.get("unschedulable")),
        gpu_capacity=gpu_quantities(status.get("capacity")),
        gpu_allocatable=gpu_quantities(status.get("allocatable")),
    )


def condition_data(c: Condition | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "type": c.type,
        "status": c.status,
        "reason": c.reason,
        "message": c.message,
        "lastTransitionTime": c.since.isoformat() if c.since else None,
        "lastHeartbeatTime": c.heartbeat.isoformat() if c.heartbeat else None,
    }


def read_node(ctx: ProbeContext) -> Observed:
    """The target node, plus its heartbeat Lease (optional: a refused Lease read is only noted)."""
    fetched = ctx.kube.get(NODES, ctx.target)
    facts = node_facts(fetched.value)
    ready = facts.ready
    evidence: list[Evidence] = [
        kube_evidence(
            fetched,
            f"Ready={facts.ready_status}"
            + (f" ({ready.reason}) for {age(ready.since, ctx.now)}" if ready else "")
            + f"; taints: {', '.join(map(str, facts.taints)) or 'none'}"
            + ("; cordoned" if facts.unschedulable else ""),
            data={
                "conditions": [condition_data(c) for c in facts.conditions],
                "taints": [str(t) for t in facts.taints],
                "unschedulable": facts.unschedulable,
                "gpuCapacity": facts.gpu_capacity,
                "gpuAllocatable": facts.gpu_allocatable,
            },
        )
    ]
    renewed, note = None, ""
    try:
        lease = ctx.kube.get(LEASES, ctx.target, NODE_LEASE_NAMESPACE)
        renewed = parse_time((lease.value.get("spec") or {}).get("renewTime"))
        evidence.append(kube_evidence(lease, f"node heartbeat Lease renewed {age(renewed, ctx.now)} ago"))
    except NotFound as exc:
        note = "no heartbeat Lease in kube-node-lease"
        evidence.append(failure_evidence(exc, ctx.now))
    except ReaderError as exc:
        note = f"heartbeat Lease not readable: {exc.message}"
        evidence.append(failure_evidence(exc, ctx.now))
    return Observed(replace(facts, lease_renewed=renewed, lease_note=note), tuple(evidence))


def read_all_nodes(ctx: ProbeContext) -> Observed:
    """Every node, in one request: the GPU fleet is found by capacity, not by a label."""
    fetched = ctx.kube.list(NODES)
    facts = tuple(node_facts(n) for n in fetched.value)
    gpu = [n for n in facts if n.is_gpu_node]
    return Observed(facts, (kube_evidence(fetched, f"{len(facts)} nodes, {len(gpu)} with GPUs"),))
