"""The gpu-node-down ladder assembled: rungs in order, causes in order, proposals."""

from __future__ import annotations

from kfops.model import (
    Cause,
    Ladder,
    Status,
)
from kfops.runbooks.causes import answered, summary_of
from kfops.runbooks.gpu_node_down.gpu_rungs import (
    FLEET,
    GPU_ALLOCATABLE,
    GPU_OPERANDS,
    GPU_WORKLOADS,
    SPARE_CAPACITY,
    select_targets,
)
from kfops.runbooks.gpu_node_down.node_rungs import NODE_EVENTS, NODE_PRESSURE, NODE_READY, NODE_TAINTS
from kfops.runbooks.gpu_node_down.probes import (
    check_node_exists,
)
from kfops.runbooks.gpu_node_down.prom_rungs import GPU_EXPORTER, GPU_TELEMETRY, GPU_XID, READY_HISTORY_RUNG
from kfops.runbooks.gpu_node_down.proposals import propose

# ---------------------------------------------------------------- causes


CAUSES = (
    Cause(
        "node-unreachable",
        "GPU node down or unreachable",
        answered("node-ready", "unreachable"),
        summary_of("node-ready", "The node is down or unreachable"),
    ),
    Cause(
        "kubelet-not-ready",
        "kubelet NotReady",
        answered("node-ready", "not-ready"),
        summary_of("node-ready", "The kubelet reports NotReady"),
    ),
    Cause(
        "gpu-operator-operand-failure",
        "GPU operator operand failure",
        lambda found: found.status("gpu-operands") is Status.FAIL,
        summary_of("gpu-operands", "A GPU operator component on the node is failing"),
    ),
    Cause(
        "gpu-hardware-xid",
        "a GPU reported a hardware Xid (fell off the bus, ECC, NVLink) on a Ready node",
        answered("gpu-xid", "hardware"),
        summary_of("gpu-xid", "A GPU reported a hardware fault on a Ready node"),
    ),
    Cause(
        "gpus-unhealthy",
        "GPUs unhealthy on a Ready node",
        answered("gpu-allocatable", "gpus-unhealthy", "no-devices"),
        summary_of("gpu-allocatable", "GPUs are unhealthy on a Ready node"),
    ),
    Cause(
        "node-flapping",
        "the node's Ready condition keeps flapping",
        answered("ready-history", "flapping"),
        summary_of("ready-history", "The node is flapping"),
        confidence="medium",
    ),
    Cause(
        "no-gpu-nodes",
        "no GPU nodes at all",
        answered("gpu-fleet", "none"),
        summary_of("gpu-fleet", "No GPU nodes"),
        confidence="medium",
    ),
)


LADDER = Ladder(
    id="gpu-node-down",
    title="GPU node down or GPUs unusable",
    meaning="A GPU node stopped being usable: the node is NotReady or unreachable, its GPUs dropped "
    "out of allocatable, or the GPU operator's driver/toolkit/device plugin broke on it.",
    impact="Training jobs, notebooks, pipeline steps and inference on that node stall or die; their "
    "pods may sit Terminating for ever; new GPU work queues if the rest of the fleet is full.",
    target_input="node",
    subject="the GPU fleet",
    rungs=(
        NODE_READY,
        READY_HISTORY_RUNG,
        NODE_PRESSURE,
        NODE_TAINTS,
        GPU_ALLOCATABLE,
        GPU_XID,
        GPU_EXPORTER,
        GPU_TELEMETRY,
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
        "KfopsGPUCriticalXid",
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
