"""What the gpu-node-down ladder proposes for each cause (values; executing them is the gate's job)."""

from __future__ import annotations

from kfops.diagnostics.gpu.operator import OperandReport, operand_of
from kfops.diagnostics.kube.nodes import (
    OUT_OF_SERVICE,
    NodeFacts,
)
from kfops.diagnostics.kube.pods import PodFacts
from kfops.diagnostics.kube.timefmt import minutes_between
from kfops.model import (
    Mode,
    Proposal,
    ProposalInput,
    Risk,
    Status,
)
from kfops.runbooks.gpu_node_down.probes import (
    NODE,
    NODE_PODS,
    OPERANDS,
    SPARE,
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


def _reset_gpu(node: NodeFacts, inp: ProposalInput) -> Proposal:
    """A hardware Xid is not fixed by software: reset or reboot, and RMA a GPU that does it again."""
    finding = inp.findings.get("gpu-xid")
    return Proposal(
        action="gpu.reset",
        target=f"node/{node.name}",
        title=f"Reset the faulted GPU on {node.name} (or reboot the node); RMA it if the Xid recurs",
        risk=Risk.MEDIUM,
        mode=Mode.MANUAL,
        rationale=inp.findings.fingerprints("gpu-xid"),
        steps=(
            f"Drain {node.name} first (kfops proposes node.drain when GPU work runs there).",
            "On the node: nvidia-smi -r -i <gpu index> resets one idle GPU; after Xid 79 (fell off the "
            "bus) a reboot is usually needed.",
            "Restart the device-plugin pod afterwards so the GPU is advertised again; uncordon when "
            "allocatable equals capacity.",
            "If the same GPU reports the Xid again, open an RMA with its UUID: "
            + (finding.summary if finding else "see the gpu-xid finding"),
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
    elif inp.cause == "gpu-hardware-xid":
        if has_gpu_work:
            out.append(_drain(node, why))
        out.append(_reset_gpu(node, inp))
    elif inp.cause == "gpu-operator-operand-failure":
        report: OperandReport | None = inp.facts.get(OPERANDS)
        if report and any(o == "device-plugin" for o, _ in report.failing):
            out.append(_restart_plugin(node, pods, why))
    if inp.findings.status("spare-capacity") is Status.FAIL:
        out.append(_page_capacity(node, inp))
    return tuple(p for p in out if p is not None)
