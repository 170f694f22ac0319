"""The `gpu-node-down` ladder: a GPU node is down, or its GPUs are unusable (domain.md §1).

The ladder a senior SRE walks: is the node there and Ready (and since when)? Is the kubelet
under pressure? Which lifecycle taints and cordon are on it? Are all its GPUs allocatable? Are
the GPU operator's pods on it healthy? What happened to it recently? Which ML workloads are
hit? And can their GPUs be found elsewhere?
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from kfops.diagnostics.gpu.operator import ESSENTIAL, OperandReport, operand_of
from kfops.diagnostics.gpu.resources import describe as describe_gpus
from kfops.diagnostics.kube.events import EventFacts
from kfops.diagnostics.kube.nodes import (
    LIFECYCLE_TAINTS,
    OUT_OF_SERVICE,
    PRESSURE_CONDITIONS,
    NodeFacts,
)
from kfops.diagnostics.kube.pods import PodFacts
from kfops.diagnostics.kube.timefmt import age, minutes_between
from kfops.model import (
    Branch,
    Cause,
    Facts,
    Findings,
    Ladder,
    Mode,
    Proposal,
    ProposalInput,
    Risk,
    Rung,
    Status,
)
from kfops.runbooks.gpu_probes import (
    ALL_NODES,
    DEVICE_PLUGIN_LOG,
    EVENTS,
    FLEET_OPERANDS,
    NODE,
    NODE_PODS,
    OPERANDS,
    SPARE,
    SpareCapacity,
    check_node_exists,
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


def _node(f: Facts) -> NodeFacts:
    node: NodeFacts = f[NODE]
    return node


# ---------------------------------------------------------------- node-ready
def _heartbeat(node: NodeFacts, now: datetime) -> str:
    beat = node.lease_renewed or (node.ready.heartbeat if node.ready else None)
    return f"last heartbeat {age(beat, now)} ago" if beat else (node.lease_note or "no heartbeat recorded")


def _ready_say(f: Facts) -> str:
    node, now = _node(f), f.now
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
            lambda f: _node(f).ready_status == "Unknown",
            _ready_say,
        ),
        Branch(
            "not-ready",
            Status.FAIL,
            "Ready=False: the kubelet runs but reports NotReady (runtime, CNI, PLEG)",
            lambda f: _node(f).ready_status == "False",
            _ready_say,
        ),
        Branch(
            "ready",
            Status.OK,
            "Ready=True: the kubelet posts ready status",
            lambda f: _node(f).ready_status == "True",
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
            lambda f: _node(f).ready_status == "Unknown",
            lambda f: "pressure conditions are Unknown while the kubelet is silent",
        ),
        Branch(
            "pressure",
            Status.WARN,
            "a pressure condition is True: the kubelet evicts pods",
            lambda f: bool(_pressures(_node(f))),
            lambda f: "pressure: " + "; ".join(_pressures(_node(f))),
        ),
        Branch(
            "none",
            Status.OK,
            "no pressure condition is True",
            lambda f: any(c.type in PRESSURE_CONDITIONS for c in _node(f).conditions),
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
            lambda f: _node(f).taint(OUT_OF_SERVICE) is not None,
            lambda f: (
                f"{_node(f).taint(OUT_OF_SERVICE)} applied "
                f"{age(_node(f).taint(OUT_OF_SERVICE).since, f.now)} ago: pods are "  # type: ignore[union-attr]
                "being force-deleted; remove it by hand once the node is repaired"
            ),
        ),
        Branch(
            "lifecycle",
            Status.FAIL,
            "unreachable/not-ready taints: pods without tolerations are evicted after 300 s",
            lambda f: bool(_lifecycle(_node(f), f.now)) and _node(f).ready_status != "True",
            lambda f: (
                _lifecycle(_node(f), f.now)
                + " — pods without tolerations are evicted after 300 s"
                + ("; cordoned" if _node(f).unschedulable else "; not cordoned")
            ),
        ),
        Branch(
            "lingering",
            Status.WARN,
            "a not-ready/unreachable taint on a Ready node: the node lifecycle controller lags",
            lambda f: bool(_lifecycle(_node(f), f.now)),
            lambda f: (
                f"{_lifecycle(_node(f), f.now)} although the node is Ready: the node lifecycle "
                "controller has not removed it yet (is kube-controller-manager healthy?)"
            ),
        ),
        Branch(
            "cordoned",
            Status.WARN,
            "cordoned: no new pods are scheduled here",
            lambda f: _node(f).unschedulable,
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


# ---------------------------------------------------------------- gpu-allocatable
def _gpu_numbers(node: NodeFacts) -> str:
    return ", ".join(
        f"{node.gpu_allocatable.get(name, 0)}/{cap} {name} allocatable"
        for name, cap in sorted(node.gpu_capacity.items())
    )


def _xid_note(f: Facts) -> str:
    lines = f.get(DEVICE_PLUGIN_LOG) or ()
    return f' — device plugin: "{lines[-1]}"' if lines else ""


GPU_ALLOCATABLE = Rung(
    id="gpu-allocatable",
    question="Are all of the node's GPUs allocatable?",
    probes=(NODE, DEVICE_PLUGIN_LOG),
    branches=(
        Branch(
            "not-gpu-node",
            Status.WARN,
            "the node advertises no GPU resources and no GPU label",
            lambda f: not _node(f).is_gpu_node,
            lambda f: (
                "the node advertises no nvidia.com/gpu or nvidia.com/mig-* capacity and is "
                "not labelled nvidia.com/gpu.present: not a GPU node"
            ),
        ),
        Branch(
            "no-devices",
            Status.FAIL,
            "labelled as a GPU node but no GPU capacity: the device plugin never registered",
            lambda f: not any(_node(f).gpu_capacity.values()),
            lambda f: (
                "labelled nvidia.com/gpu.present=true but advertises no GPU capacity: "
                "the device plugin never registered its devices"
            ),
        ),
        Branch(
            "stale",
            Status.SKIPPED,
            "the kubelet is not Ready: the numbers are its last report",
            lambda f: _node(f).ready_status != "True",
            lambda f: f"{_gpu_numbers(_node(f))} (last report of a kubelet that is not Ready)",
        ),
        Branch(
            "gpus-unhealthy",
            Status.FAIL,
            "allocatable below capacity: the device plugin marked GPUs unhealthy (usually an Xid)",
            lambda f: bool(_node(f).unhealthy_gpus),
            lambda f: (
                f"{describe_gpus(_node(f).unhealthy_gpus)} not allocatable "
                f"({_gpu_numbers(_node(f))}): the device plugin marked them unhealthy" + _xid_note(f)
            ),
        ),
    ),
    default=Branch(
        "all-allocatable",
        Status.OK,
        "every GPU in capacity is allocatable",
        lambda f: True,
        lambda f: _gpu_numbers(_node(f)),
    ),
)


# ---------------------------------------------------------------- gpu-operands
def _report(f: Facts) -> OperandReport:
    report: OperandReport = f[OPERANDS]
    return report


def _essential_missing(report: OperandReport) -> tuple[str, ...]:
    return tuple(o for o in report.missing if o in ESSENTIAL)


def _degraded(report: OperandReport) -> str:
    parts = [f"{o} pod {p.ref} not ready ({p.phase})" for o, p in report.not_ready]
    parts += [f"no {o} pod" for o in report.missing if o not in ESSENTIAL]
    return "; ".join(parts)


GPU_OPERANDS = Rung(
    id="gpu-operands",
    question="Are the GPU operator's pods on the node (driver, toolkit, device plugin…) healthy?",
    probes=(NODE, NODE_PODS, OPERANDS),
    branches=(
        Branch(
            "kubelet-silent",
            Status.SKIPPED,
            "pod statuses are stale while the kubelet is silent",
            lambda f: _node(f).ready_status == "Unknown",
            lambda f: f"{len(_report(f).pods)} operand pods, statuses stale while the kubelet is silent",
        ),
        Branch(
            "not-gpu-node",
            Status.SKIPPED,
            "not a GPU node and no operand pods",
            lambda f: not _node(f).is_gpu_node and not _report(f).pods,
            lambda f: "no GPU operator pods expected on a node without GPUs",
        ),
        Branch(
            "failing",
            Status.FAIL,
            "an operand pod crashloops or failed",
            lambda f: bool(_report(f).failing),
            lambda f: _report(f).describe_failures(),
        ),
        Branch(
            "missing",
            Status.FAIL,
            "an essential operand (driver, toolkit, device plugin) is missing",
            lambda f: bool(_essential_missing(_report(f))),
            lambda f: (
                "no "
                + ", ".join(_essential_missing(_report(f)))
                + " pod on the node although the operator should deploy it"
            ),
        ),
        Branch(
            "degraded",
            Status.WARN,
            "operand pods not ready yet, or a non-essential one missing",
            lambda f: bool(_degraded(_report(f))),
            lambda f: _degraded(_report(f)),
        ),
    ),
    default=Branch(
        "healthy",
        Status.OK,
        "every expected operand pod runs and is ready",
        lambda f: True,
        lambda f: (
            f"{len(_report(f).pods)} operand pods running and ready: "
            + ", ".join(sorted({o for o, _ in _report(f).pods}))
        ),
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


# ---------------------------------------------------------------- gpu-workloads
def _workload_pods(f: Facts) -> list[PodFacts]:
    return [p for p in f[NODE_PODS] if p.gpus and not p.terminal and not p.daemonset]


def _refused(f: Facts) -> list[PodFacts]:
    return [p for p in f[NODE_PODS] if p.reason == "UnexpectedAdmissionError"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _blast_radius(f: Facts) -> str:
    now = f.now
    groups: dict[str, list[PodFacts]] = defaultdict(list)
    for pod in _workload_pods(f):
        groups[pod.workload].append(pod)
    parts = []
    for workload, pods in sorted(groups.items()):
        stuck = [p for p in pods if p.stuck_terminating(now)]
        gpus = sum(p.gpus for p in pods)
        note = f", {len(stuck)} stuck Terminating {age(stuck[0].deleted_at, now)}" if stuck else ""
        parts.append(f"{workload} ({_count(len(pods), 'pod')}, {_count(gpus, 'GPU')}{note})")
    total = sum(p.gpus for p in _workload_pods(f))
    return f"{total} GPUs of ML work: " + "; ".join(parts)


GPU_WORKLOADS = Rung(
    id="gpu-workloads",
    question="Which ML workloads are on the node (the blast radius)?",
    probes=(NODE, NODE_PODS),
    branches=(
        Branch(
            "displaced",
            Status.WARN,
            "GPU workloads sit on a node that is not Ready",
            lambda f: bool(_workload_pods(f)) and _node(f).ready_status != "True",
            lambda f: _blast_radius(f) + " — on a node that is not Ready",
        ),
        Branch(
            "refused",
            Status.WARN,
            "the kubelet refused GPU pods (UnexpectedAdmissionError)",
            lambda f: bool(_refused(f)),
            lambda f: (
                f"{len(_refused(f))} pod(s) refused by the kubelet: "
                f"{_refused(f)[0].ref}: {_refused(f)[0].message}"
            ),
        ),
        Branch(
            "running",
            Status.OK,
            "GPU workloads run on a Ready node",
            lambda f: bool(_workload_pods(f)),
            _blast_radius,
        ),
    ),
    default=Branch(
        "none",
        Status.OK,
        "no GPU workloads on the node",
        lambda f: True,
        lambda f: f"no GPU workloads on the node ({len(f[NODE_PODS])} pods in all)",
    ),
)


# ---------------------------------------------------------------- spare-capacity
def _spare(f: Facts) -> SpareCapacity:
    spare: SpareCapacity = f[SPARE]
    return spare


def _fit_say(f: Facts) -> str:
    result = _spare(f).result
    assert result is not None
    placed = ", ".join(f"{pod}→{node}" for pod, node in result.placed)
    head = (
        f"{result.displaced_gpus} displaced GPUs, {result.free_total} free on "
        f"{result.nodes_checked} Ready GPU nodes"
    )
    if not result.unplaced:
        return f"{head}: all fit ({placed})"
    unplaced = ", ".join(f"{p.ref} ({_count(p.gpus, 'GPU')})" for p in result.unplaced)
    more = f"; {result.nodes_unchecked} more nodes not checked" if result.nodes_unchecked else ""
    return f"{head}: {result.unplaced_gpus} GPUs cannot be placed ({unplaced}){more}"


SPARE_CAPACITY = Rung(
    id="spare-capacity",
    question="Can the displaced GPU work fit on the remaining Ready GPU nodes?",
    probes=(SPARE,),
    branches=(
        Branch(
            "nothing-displaced",
            Status.SKIPPED,
            "the node is healthy or runs no GPU pods",
            lambda f: not _spare(f).applicable,
            lambda f: "nothing to place elsewhere: the node is healthy or runs no GPU pods",
        ),
        Branch(
            "fits",
            Status.OK,
            "every displaced pod fits on another node",
            lambda f: not _spare(f).result.unplaced,  # type: ignore[union-attr]
            _fit_say,
        ),
        Branch(
            "unknown",
            Status.WARN,
            "not enough room on the nodes checked, others unchecked",
            lambda f: _spare(f).result.nodes_unchecked > 0,  # type: ignore[union-attr]
            _fit_say,
        ),
    ),
    default=Branch(
        "no-fit",
        Status.FAIL,
        "the displaced GPU requests do not fit: capacity planning must be paged",
        lambda f: True,
        _fit_say,
    ),
)


# ---------------------------------------------------------------- sweep (no --node)
def _fleet_problems(f: Facts) -> list[tuple[int, str, str]]:
    """(rank, node, why) for every unhealthy GPU node; rank 0 is the worst."""
    nodes = [n for n in f[ALL_NODES] if n.is_gpu_node]
    failing_operands: dict[str, list[str]] = defaultdict(list)
    for pod in f[FLEET_OPERANDS]:
        if pod.failing_containers and pod.node:
            failing_operands[pod.node].append(f"{operand_of(pod)} crashlooping")
    problems = []
    for node in nodes:
        ready = node.ready_status
        if ready == "Unknown":
            problems.append((0, node.name, "Ready=Unknown (unreachable)"))
        elif ready != "True":
            problems.append((1, node.name, f"Ready={ready}"))
        elif failing_operands.get(node.name):
            problems.append((2, node.name, ", ".join(failing_operands[node.name])))
        elif node.unhealthy_gpus:
            problems.append((3, node.name, f"{describe_gpus(node.unhealthy_gpus)} not allocatable"))
    return sorted(problems)


def _fleet_ok(f: Facts) -> str:
    nodes = [n for n in f[ALL_NODES] if n.is_gpu_node]
    gpus = sum(sum(n.gpu_allocatable.values()) for n in nodes)
    return (
        f"all {len(nodes)} GPU nodes Ready with every GPU allocatable ({gpus} GPUs); "
        f"{len(f[FLEET_OPERANDS])} GPU operator pods, none crashlooping"
    )


FLEET = Rung(
    id="gpu-fleet",
    question="Which GPU nodes are unhealthy?",
    probes=(ALL_NODES, FLEET_OPERANDS),
    branches=(
        Branch(
            "none",
            Status.WARN,
            "no node advertises GPUs",
            lambda f: not any(n.is_gpu_node for n in f[ALL_NODES]),
            lambda f: (
                f"none of the {len(f[ALL_NODES])} nodes advertises nvidia.com/gpu or "
                "nvidia.com/mig-* capacity: was the GPU pool scaled to zero or deleted?"
            ),
        ),
        Branch(
            "unhealthy",
            Status.FAIL,
            "some GPU nodes are unhealthy",
            lambda f: bool(_fleet_problems(f)),
            lambda f: (
                f"{len(_fleet_problems(f))} GPU node(s) unhealthy: "
                + "; ".join(f"{n} ({why})" for _, n, why in _fleet_problems(f))
            ),
        ),
    ),
    default=Branch("healthy", Status.OK, "every GPU node is Ready with all GPUs", lambda f: True, _fleet_ok),
)


def select_targets(f: Facts) -> tuple[str, ...]:
    return tuple(name for _, name, _ in _fleet_problems(f))


# ---------------------------------------------------------------- causes
def _is(rung: str, *branches: str):  # type: ignore[no-untyped-def]
    return lambda found: found.branch(rung) in branches


def _summary_of(rung: str, prefix: str):  # type: ignore[no-untyped-def]
    def say(found: Findings) -> str:
        finding = found.get(rung)
        return f"{prefix}: {finding.summary}" if finding else prefix

    return say


CAUSES = (
    Cause(
        "node-unreachable",
        "GPU node down or unreachable",
        _is("node-ready", "unreachable"),
        _summary_of("node-ready", "The node is down or unreachable"),
    ),
    Cause(
        "kubelet-not-ready",
        "kubelet NotReady",
        _is("node-ready", "not-ready"),
        _summary_of("node-ready", "The kubelet reports NotReady"),
    ),
    Cause(
        "gpu-operator-operand-failure",
        "GPU operator operand failure",
        lambda found: found.status("gpu-operands") is Status.FAIL,
        _summary_of("gpu-operands", "A GPU operator component on the node is failing"),
    ),
    Cause(
        "gpus-unhealthy",
        "GPUs unhealthy on a Ready node",
        _is("gpu-allocatable", "gpus-unhealthy", "no-devices"),
        _summary_of("gpu-allocatable", "GPUs are unhealthy on a Ready node"),
    ),
    Cause(
        "no-gpu-nodes",
        "no GPU nodes at all",
        _is("gpu-fleet", "none"),
        _summary_of("gpu-fleet", "No GPU nodes"),
        confidence="medium",
    ),
)


# ---------------------------------------------------------------- proposals
def _cordon(node: NodeFacts, why: tuple[str, ...]) -> Proposal:
    return Proposal(
        action="node.cordon",
        target=f"node/{node.name}",
        title=f"Cordon {node.name}",
        risk=Risk.LOW,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(f"node {node.name} is not cordoned",),
        rollback=f"kubectl uncordon {node.name}",
    )


def _drain(node: NodeFacts, why: tuple[str, ...]) -> Proposal:
    return Proposal(
        action="node.drain",
        target=f"node/{node.name}",
        title=f"Drain {node.name} (Eviction API, honours PDBs)",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(
            f"node {node.name} is cordoned first",
            "no PodDisruptionBudget would be violated",
        ),
        rollback=f"kubectl uncordon {node.name} (evicted pods are recreated by their controllers)",
    )


def _restart_plugin(node: NodeFacts, pods: tuple[PodFacts, ...], why: tuple[str, ...]) -> Proposal | None:
    plugin = next((p for p in pods if operand_of(p) == "device-plugin"), None)
    if plugin is None:
        return None
    return Proposal(
        action="gpu.restart-device-plugin",
        target=f"pod/{plugin.ref}",
        title=f"Restart the device plugin on {node.name} (delete pod {plugin.ref})",
        risk=Risk.MEDIUM,
        mode=Mode.APPROVE,
        rationale=why,
        preconditions=(f"pod {plugin.ref} still runs on {node.name}",),
        rollback="none needed: the DaemonSet recreates the pod, which re-advertises healthy GPUs; "
        "if the GPUs are marked unhealthy again the fault is in hardware (drain, reset, RMA)",
        params={"node": node.name, "pod": plugin.name, "namespace": plugin.namespace},
    )


def _out_of_service(node: NodeFacts, pods: tuple[PodFacts, ...], inp: ProposalInput) -> Proposal | None:
    now = inp.facts.now
    ready = node.ready
    down_min = minutes_between(ready.since if ready else None, now) or 0
    stuck = [p for p in pods if p.stuck_terminating(now)]
    threshold = inp.settings.out_of_service_after_min
    if down_min < threshold or not stuck or node.taint(OUT_OF_SERVICE):
        return None
    return Proposal(
        action="node.out-of-service-taint",
        target=f"node/{node.name}",
        title=f"Mark {node.name} out of service (node.kubernetes.io/out-of-service=nodeshutdown:NoExecute)",
        risk=Risk.HIGH,
        mode=Mode.APPROVE,
        rationale=inp.findings.fingerprints("node-ready", "gpu-workloads"),
        preconditions=(
            f"node {node.name} is powered off — confirm out of band (BMC, cloud console); the taint "
            "force-deletes its pods and detaches their volumes, and on a node that is still running "
            "that risks data corruption",
            f"Ready is still {node.ready_status} (down {down_min:.0f} min, threshold {threshold:g} min)",
        ),
        rollback=f"kubectl taint nodes {node.name} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute- "
        "once the node is repaired",
        params={"stuckPods": [p.ref for p in stuck]},
    )


def _page_capacity(node: NodeFacts, inp: ProposalInput) -> Proposal:
    result = inp.facts[SPARE].result
    return Proposal(
        action="capacity.page",
        target=f"node/{node.name}",
        title="Page capacity planning: the displaced GPU work does not fit on the remaining nodes",
        risk=Risk.LOW,
        mode=Mode.MANUAL,
        rationale=inp.findings.fingerprints("spare-capacity"),
        steps=(
            f"Page the capacity/infra on-call: {result.unplaced_gpus} GPUs of ML work from {node.name} "
            f"cannot be placed ({', '.join(p.workload for p in result.unplaced)}).",
            "Ask for replacement GPU nodes or agree which workloads to pause.",
        ),
    )


def propose(inp: ProposalInput) -> tuple[Proposal, ...]:
    node: NodeFacts | None = inp.facts.get(NODE)
    pods: tuple[PodFacts, ...] = inp.facts.get(NODE_PODS) or ()
    if node is None:
        return ()
    why = inp.findings.fingerprints("node-ready", "gpu-allocatable", "gpu-operands")
    out: list[Proposal | None] = []
    if not node.unschedulable:
        out.append(_cordon(node, why))
    has_gpu_work = any(p.gpus and not p.terminal and not p.daemonset for p in pods)
    if inp.cause == "node-unreachable":
        out.append(_out_of_service(node, pods, inp))
    elif inp.cause == "kubelet-not-ready":
        out.append(_drain(node, why))
    elif inp.cause == "gpus-unhealthy":
        out.append(_restart_plugin(node, pods, why))
        if has_gpu_work:
            out.append(_drain(node, why))
    elif inp.cause == "gpu-operator-operand-failure":
        report: OperandReport | None = inp.facts.get(OPERANDS)
        if report and any(o == "device-plugin" for o, _ in report.failing):
            out.append(_restart_plugin(node, pods, why))
    if inp.findings.status("spare-capacity") is Status.FAIL:
        out.append(_page_capacity(node, inp))
    return tuple(p for p in out if p is not None)


LADDER = Ladder(
    id="gpu-node-down",
    title="GPU node down or GPUs unusable",
    meaning="A GPU node stopped being usable: the node is NotReady or unreachable, its GPUs dropped "
    "out of allocatable, or the GPU operator's driver/toolkit/device plugin broke on it.",
    impact="Training jobs, notebooks, pipeline steps and inference on that node stall or die; their "
    "pods may sit Terminating for ever; new GPU work queues if the rest of the fleet is full.",
    target_input="node",
    rungs=(
        NODE_READY,
        NODE_PRESSURE,
        NODE_TAINTS,
        GPU_ALLOCATABLE,
        GPU_OPERANDS,
        NODE_EVENTS,
        GPU_WORKLOADS,
        SPARE_CAPACITY,
    ),
    causes=CAUSES,
    propose=propose,
    check_target=check_node_exists,
    sweep=FLEET,
    select_targets=select_targets,
    aliases=("gpu", "gpu-node"),
    alerts=(
        "KubeNodeNotReady",
        "KubeNodeUnreachable",
        "KfopsGPUNodeNotReady",
        "KfopsGPUAllocatableBelowCapacity",
    ),
    mitigation=(
        "Cordon the node so nothing new lands on it.",
        "If the node is down and confirmed powered off, apply the out-of-service taint so stuck pods "
        "(StatefulSets, notebooks) restart elsewhere.",
        "If GPUs were marked unhealthy on a Ready node, restart the device-plugin pod; if they fail "
        "again, drain the node and reset or replace the GPU.",
        "If the displaced GPU work does not fit elsewhere, page capacity planning.",
    ),
)
