"""The probes of the gpu-node-down ladder: what it reads, each read named once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from kfops.clients.errors import ReaderError
from kfops.clients.resources import NODES, PODS
from kfops.diagnostics.context import ProbeContext, TargetNotFound, kube_evidence
from kfops.diagnostics.gpu.capacity import FitResult, fit, free_gpus
from kfops.diagnostics.gpu.operator import (
    OPERAND_SELECTOR,
    STANDALONE_DEVICE_PLUGIN,
    collect_operands,
    operand_of,
)
from kfops.diagnostics.kube.events import read_events_about
from kfops.diagnostics.kube.nodes import NodeFacts, read_all_nodes, read_node
from kfops.diagnostics.kube.pods import PodFacts, pod_facts, pods_on_node, read_target_node_pods
from kfops.model import Evidence, Facts, Observed, Probe


def node_of(f: Facts) -> NodeFacts:
    """The target node's facts, as read by the NODE probe."""
    node: NodeFacts = f[NODE]
    return node


XID_MARKERS = ("XidCriticalError", "marked unhealthy", "marking device as unhealthy")


def check_node_exists(ctx: ProbeContext, name: str) -> None:
    """A named node that does not exist is a usage error, said with the GPU nodes that do."""
    try:
        ctx.kube.get(NODES, name)
    except ReaderError as exc:
        if exc.status != 404:
            return  # forbidden/unreachable: the rungs report it as an ERROR finding
        try:
            nodes = [n for n in read_all_nodes(ctx).value if n.is_gpu_node]
            known = ", ".join(n.name for n in nodes[:10]) or "none"
            hint = f"; GPU nodes in this cluster: {known}"
        except ReaderError:
            hint = ""
        raise TargetNotFound(f"node '{name}' not found in {ctx.kube.describe()}{hint}") from exc


def _operands(ctx: ProbeContext) -> Observed:
    node = read_node(ctx).value
    pods = read_target_node_pods(ctx).value
    return collect_operands(ctx, node, pods)


def _device_plugin_log(ctx: ProbeContext) -> Observed:
    """The Xid / unhealthy-device lines of the device plugin on the node, if it logged any."""
    pods = read_target_node_pods(ctx).value
    plugin = next((p for p in pods if operand_of(p) == "device-plugin" and p.phase == "Running"), None)
    if plugin is None:
        return Observed((), ())
    container = next((c.name for c in plugin.containers if not c.init), "nvidia-device-plugin")
    fetched = ctx.kube.pod_log(plugin.namespace, plugin.name, container, tail_lines=200)
    lines = tuple(
        line.strip() for line in str(fetched.value).splitlines() if any(m in line for m in XID_MARKERS)
    )
    summary = f"{len(lines)} unhealthy-device lines in {plugin.name}/{container}"
    return Observed(lines, (kube_evidence(fetched, summary, data=list(lines[-10:])),))


def _events(ctx: ProbeContext) -> Observed:
    window = timedelta(hours=ctx.settings.events_window_h)
    return read_events_about(ctx, "Node", ctx.target, window)


@dataclass(frozen=True)
class SpareCapacity:
    applicable: bool
    result: FitResult | None


def _spare_capacity(ctx: ProbeContext) -> Observed:
    """Whether the GPU pods of the target would fit on the other Ready, schedulable GPU nodes.

    Reads the pods of at most `spare_capacity_max_nodes` candidate nodes (same GPU product
    first), in parallel, so the request count does not grow with the cluster.
    """
    node: NodeFacts = read_node(ctx).value
    if node.healthy:
        return Observed(SpareCapacity(False, None))
    pods: tuple[PodFacts, ...] = read_target_node_pods(ctx).value
    displaced = tuple(p for p in pods if p.gpus and not p.terminal and not p.daemonset)
    if not displaced:
        return Observed(SpareCapacity(False, None))
    nodes_obs = read_all_nodes(ctx)
    candidates = sorted(
        (n for n in nodes_obs.value if n.name != node.name and n.schedulable_gpu_node),
        key=lambda n: (n.product != node.product, n.name),
    )
    limit = ctx.settings.spare_capacity_max_nodes
    checked, unchecked = candidates[:limit], len(candidates) - min(limit, len(candidates))
    evidence: list[Evidence] = list(nodes_obs.evidence)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="kfops-capacity") as pool:
        answers = list(pool.map(lambda n: pods_on_node(ctx, n.name), checked))
    free_by_node = {}
    for candidate, (candidate_pods, fetched) in zip(checked, answers, strict=True):
        free = free_gpus(candidate, candidate_pods)
        free_by_node[candidate.name] = free
        evidence.append(kube_evidence(fetched, f"{candidate.name}: {sum(free.values())} GPUs free"))
    return Observed(SpareCapacity(True, fit(displaced, free_by_node, unchecked)), tuple(evidence))


STANDALONE_SELECTOR = f"app.kubernetes.io/name={STANDALONE_DEVICE_PLUGIN}"


def _fleet_operands(ctx: ProbeContext) -> Observed:
    """GPU operator pods of the whole fleet, by label: scales with GPU nodes, not with the cluster."""
    pods: list[PodFacts] = []
    evidence = []
    for selector in (OPERAND_SELECTOR, STANDALONE_SELECTOR):
        fetched = ctx.kube.list(PODS, label_selector=selector)
        batch = [pod_facts(p) for p in fetched.value]
        pods.extend(batch)
        evidence.append(kube_evidence(fetched, f"{len(batch)} GPU operand pods"))
    return Observed(tuple(pods), tuple(evidence))


NODE = Probe("node", "GET /api/v1/nodes/{node} (+ its Lease in kube-node-lease)", read_node)
NODE_PODS = Probe("node-pods", "GET /api/v1/pods?fieldSelector=spec.nodeName={node}", read_target_node_pods)
OPERANDS = Probe("gpu-operands", "operand pods on the node, previous logs of crashed ones", _operands)
DEVICE_PLUGIN_LOG = Probe(
    "device-plugin-log",
    "GET …/pods/{device-plugin}/log?tailLines=200",
    _device_plugin_log,
    optional=True,
)
EVENTS = Probe(
    "node-events",
    "GET /api/v1/events?fieldSelector=involvedObject.kind=Node,involvedObject.name={node}",
    _events,
)
SPARE = Probe(
    "spare-capacity", "GET /api/v1/nodes, then pods of up to N candidate GPU nodes", _spare_capacity
)
ALL_NODES = Probe("all-nodes", "GET /api/v1/nodes", read_all_nodes)
FLEET_OPERANDS = Probe(
    "fleet-operands", f"GET /api/v1/pods?labelSelector={OPERAND_SELECTOR}", _fleet_operands
)
