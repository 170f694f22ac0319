"""Rungs about the GPUs: allocatable devices, operands, workloads, spare capacity, the fleet sweep."""

from __future__ import annotations

from collections import defaultdict

from kfops.diagnostics.gpu.operator import ESSENTIAL, OperandReport, operand_of
from kfops.diagnostics.gpu.resources import describe as describe_gpus
from kfops.diagnostics.kube.nodes import (
    NodeFacts,
)
from kfops.diagnostics.kube.pods import PodFacts
from kfops.diagnostics.kube.timefmt import age
from kfops.model import (
    Branch,
    Facts,
    Rung,
    Status,
)
from kfops.runbooks.gpu_node_down.probes import (
    ALL_NODES,
    DEVICE_PLUGIN_LOG,
    FLEET_OPERANDS,
    NODE,
    NODE_PODS,
    OPERANDS,
    SPARE,
    SpareCapacity,
    node_of,
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
            lambda f: not node_of(f).is_gpu_node,
            lambda f: (
                "the node advertises no nvidia.com/gpu or nvidia.com/mig-* capacity and is "
                "not labelled nvidia.com/gpu.present: not a GPU node"
            ),
        ),
        Branch(
            "no-devices",
            Status.FAIL,
            "labelled as a GPU node but no GPU capacity: the device plugin never registered",
            lambda f: not any(node_of(f).gpu_capacity.values()),
            lambda f: (
                "labelled nvidia.com/gpu.present=true but advertises no GPU capacity: "
                "the device plugin never registered its devices"
            ),
        ),
        Branch(
            "stale",
            Status.SKIPPED,
            "the kubelet is not Ready: the numbers are its last report",
            lambda f: node_of(f).ready_status != "True",
            lambda f: f"{_gpu_numbers(node_of(f))} (last report of a kubelet that is not Ready)",
        ),
        Branch(
            "gpus-unhealthy",
            Status.FAIL,
            "allocatable below capacity: the device plugin marked GPUs unhealthy (usually an Xid)",
            lambda f: bool(node_of(f).unhealthy_gpus),
            lambda f: (
                f"{describe_gpus(node_of(f).unhealthy_gpus)} not allocatable "
                f"({_gpu_numbers(node_of(f))}): the device plugin marked them unhealthy" + _xid_note(f)
            ),
        ),
    ),
    default=Branch(
        "all-allocatable",
        Status.OK,
        "every GPU in capacity is allocatable",
        lambda f: True,
        lambda f: _gpu_numbers(node_of(f)),
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
            lambda f: node_of(f).ready_status == "Unknown",
            lambda f: f"{len(_report(f).pods)} operand pods, statuses stale while the kubelet is silent",
        ),
        Branch(
            "not-gpu-node",
            Status.SKIPPED,
            "not a GPU node and no operand pods",
            lambda f: not node_of(f).is_gpu_node and not _report(f).pods,
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
            lambda f: bool(_workload_pods(f)) and node_of(f).ready_status != "True",
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
