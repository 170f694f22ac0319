"""Rungs about the node itself: readiness and heartbeat, pressure, lifecycle taints, events."""

from __future__ import annotations

from datetime import datetime

from kfops.diagnostics.kube.events import EventFacts
from kfops.diagnostics.kube.nodes import (
    LIFECYCLE_TAINTS,
    OUT_OF_SERVICE,
    PRESSURE_CONDITIONS,
    NodeFacts,
)
from kfops.diagnostics.kube.timefmt import age
from kfops.model import (
    Branch,
    Facts,
    Rung,
    Status,
)
from kfops.runbooks.gpu_node_down.probes import (
    EVENTS,
    NODE,
    node_of,
)

TROUBLE_EVENTS = {
    "NodeNotReady",
    "Rebooted",
    "SystemOOM",
    "NodeHasDiskPressure",
    "NodeHasInsufficientMemory",
    "NodeHasInsufficientPID",
    "EvictionThresholdMet",
    "ContainerGCFailed",
    "ImageGCFailed",
    "FreeDiskSpaceFailed",
    "KubeletSetupFailed",
    "InvalidDiskCapacity",
    "NodeShutdown",
}


# ---------------------------------------------------------------- node-ready
def _heartbeat(node: NodeFacts, now: datetime) -> str:
    beat = node.lease_renewed or (node.ready.heartbeat if node.ready else None)
    return f"last heartbeat {age(beat, now)} ago" if beat else (node.lease_note or "no heartbeat recorded")


def _ready_say(f: Facts) -> str:
    node, now = node_of(f), f.now
    ready = node.ready
    assert ready is not None
    if ready.status == "Unknown":
        return (
            f"Ready=Unknown ({ready.reason}) for {age(ready.since, now)}: "
            f"{ready.message or 'kubelet stopped posting node status'} — {_heartbeat(node, now)}"
        )
    if ready.status == "False":
        return f"Ready=False ({ready.reason}) for {age(ready.since, now)}: {ready.message}"
    return f"Ready for {age(ready.since, now)} ({ready.reason}), {_heartbeat(node, now)}"


NODE_READY = Rung(
    id="node-ready",
    question="Is the node Ready, and since when?",
    probes=(NODE,),
    branches=(
        Branch(
            "unreachable",
            Status.FAIL,
            "Ready=Unknown: the control plane stopped hearing from the kubelet (node down, "
            "kubelet dead or network partition)",
            lambda f: node_of(f).ready_status == "Unknown",
            _ready_say,
        ),
        Branch(
            "not-ready",
            Status.FAIL,
            "Ready=False: the kubelet runs but reports NotReady (runtime, CNI, PLEG)",
            lambda f: node_of(f).ready_status == "False",
            _ready_say,
        ),
        Branch(
            "ready",
            Status.OK,
            "Ready=True: the kubelet posts ready status",
            lambda f: node_of(f).ready_status == "True",
            _ready_say,
        ),
    ),
    default=Branch(
        "no-ready-condition",
        Status.WARN,
        "no Ready condition: the node never fully registered",
        lambda f: True,
        lambda f: (
            "the node has no Ready condition yet — check the kubelet's log on the host "
            "(journalctl -u kubelet)"
        ),
    ),
)


# ---------------------------------------------------------------- node-pressure
def _pressures(node: NodeFacts) -> list[str]:
    return [
        f"{c.type} ({c.reason}) since {c.since:%H:%M}Z" if c.since else c.type
        for c in node.conditions
        if c.type in PRESSURE_CONDITIONS and c.status == "True"
    ]


NODE_PRESSURE = Rung(
    id="node-pressure",
    question="Is the kubelet reporting memory, disk, PID or network pressure?",
    probes=(NODE,),
    branches=(
        Branch(
            "kubelet-silent",
            Status.SKIPPED,
            "pressure is unknown while the kubelet is silent",
            lambda f: node_of(f).ready_status == "Unknown",
            lambda f: "pressure conditions are Unknown while the kubelet is silent",
        ),
        Branch(
            "pressure",
            Status.WARN,
            "a pressure condition is True: the kubelet evicts pods",
            lambda f: bool(_pressures(node_of(f))),
            lambda f: "pressure: " + "; ".join(_pressures(node_of(f))),
        ),
        Branch(
            "none",
            Status.OK,
            "no pressure condition is True",
            lambda f: any(c.type in PRESSURE_CONDITIONS for c in node_of(f).conditions),
            lambda f: "no memory, disk, PID or network pressure",
        ),
    ),
    default=Branch(
        "no-conditions",
        Status.WARN,
        "the node reports no pressure conditions at all",
        lambda f: True,
        lambda f: "the node reports no pressure conditions — an old or broken kubelet?",
    ),
)


# ---------------------------------------------------------------- node-taints
def _lifecycle(node: NodeFacts, now: datetime) -> str:
    taints = [t for t in node.taints if t.key in LIFECYCLE_TAINTS[:2]]
    return ", ".join(f"{t} since {age(t.since, now)}" if t.since else str(t) for t in taints)


NODE_TAINTS = Rung(
    id="node-taints",
    question="Which lifecycle taints and cordon are on the node?",
    probes=(NODE,),
    branches=(
        Branch(
            "out-of-service",
            Status.WARN,
            "the out-of-service taint is on: pods are force-deleted and volumes detached",
            lambda f: node_of(f).taint(OUT_OF_SERVICE) is not None,
            lambda f: (
                f"{node_of(f).taint(OUT_OF_SERVICE)} applied "
                f"{age(node_of(f).taint(OUT_OF_SERVICE).since, f.now)} ago: pods are "  # type: ignore[union-attr]
                "being force-deleted; remove it by hand once the node is repaired"
            ),
        ),
        Branch(
            "lifecycle",
            Status.FAIL,
            "unreachable/not-ready taints: pods without tolerations are evicted after 300 s",
            lambda f: bool(_lifecycle(node_of(f), f.now)) and node_of(f).ready_status != "True",
            lambda f: (
                _lifecycle(node_of(f), f.now)
                + " — pods without tolerations are evicted after 300 s"
                + ("; cordoned" if node_of(f).unschedulable else "; not cordoned")
            ),
        ),
        Branch(
            "lingering",
            Status.WARN,
            "a not-ready/unreachable taint on a Ready node: the node lifecycle controller lags",
            lambda f: bool(_lifecycle(node_of(f), f.now)),
            lambda f: (
                f"{_lifecycle(node_of(f), f.now)} although the node is Ready: the node lifecycle "
                "controller has not removed it yet (is kube-controller-manager healthy?)"
            ),
        ),
        Branch(
            "cordoned",
            Status.WARN,
            "cordoned: no new pods are scheduled here",
            lambda f: node_of(f).unschedulable,
            lambda f: "cordoned (spec.unschedulable=true): no new pods land here",
        ),
    ),
    default=Branch(
        "clear",
        Status.OK,
        "no lifecycle taint, not cordoned",
        lambda f: True,
        lambda f: "no lifecycle taints, not cordoned",
    ),
)


# ---------------------------------------------------------------- node-events
def _events(f: Facts) -> tuple[EventFacts, ...]:
    events: tuple[EventFacts, ...] = f[EVENTS]
    return events


def _trouble(f: Facts) -> list[EventFacts]:
    return [e for e in _events(f) if e.reason in TROUBLE_EVENTS]


NODE_EVENTS = Rung(
    id="node-events",
    question="What happened to the node recently (NotReady, reboots, OOM, pressure)?",
    probes=(EVENTS,),
    branches=(
        Branch(
            "trouble",
            Status.WARN,
            "recent NotReady, reboot, OOM or pressure events",
            lambda f: bool(_trouble(f)),
            lambda f: "; ".join(e.describe(f.now) for e in _trouble(f)[:3]),
        ),
        Branch(
            "warnings",
            Status.WARN,
            "other Warning events",
            lambda f: any(e.type == "Warning" for e in _events(f)),
            lambda f: "; ".join(e.describe(f.now) for e in _events(f) if e.type == "Warning"),
        ),
    ),
    default=Branch(
        "quiet",
        Status.OK,
        "no worrying events in the window",
        lambda f: True,
        lambda f: f"no worrying events ({len(_events(f))} events in the window)",
    ),
)
