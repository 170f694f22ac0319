"""NVIDIA GPU operator operands on a node (domain.md §1.6).

Operands are recognised by their `app` label (the DaemonSet name), whatever namespace the operator
was installed in (`gpu-operator`, older `gpu-operator-resources`, OpenShift's
`nvidia-gpu-operator`); a standalone device-plugin Helm install is recognised by
`app.kubernetes.io/name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kfops.clients.errors import ReaderError
from kfops.clients.resources import DAEMONSETS
from kfops.diagnostics.context import ProbeContext, failure_evidence, kube_evidence
from kfops.diagnostics.kube.nodes import NodeFacts
from kfops.diagnostics.kube.pods import PodFacts
from kfops.model import Evidence, Observed

#: `app` label → operand name as used in the `nvidia.com/gpu.deploy.<operand>` node labels.
OPERAND_APPS = {
    "nvidia-driver-daemonset": "driver",
    "nvidia-container-toolkit-daemonset": "container-toolkit",
    "nvidia-device-plugin-daemonset": "device-plugin",
    "nvidia-device-plugin-mps-control-daemon": "device-plugin",
    "gpu-feature-discovery": "gpu-feature-discovery",
    "nvidia-dcgm-exporter": "dcgm-exporter",
    "nvidia-dcgm": "dcgm",
    "nvidia-operator-validator": "operator-validator",
    "nvidia-mig-manager": "mig-manager",
    "nvidia-node-status-exporter": "node-status-exporter",
}
STANDALONE_DEVICE_PLUGIN = "nvidia-device-plugin"  # app.kubernetes.io/name of the Helm chart
DEPLOY_LABEL = "nvidia.com/gpu.deploy."
#: Operands whose absence stops GPUs from being usable; the rest only cost observability.
ESSENTIAL = ("driver", "container-toolkit", "device-plugin")


def operand_of(pod: PodFacts) -> str | None:
    app = pod.labels.get("app", "")
    if app in OPERAND_APPS:
        return OPERAND_APPS[app]
    if app.startswith("nvidia-gpu-driver"):  # NVIDIADriver CR: nvidia-gpu-driver-<os>-<hash>
        return "driver"
    if pod.labels.get("app.kubernetes.io/name") == STANDALONE_DEVICE_PLUGIN:
        return "device-plugin"
    return None


@dataclass(frozen=True)
class OperandDaemonSet:
    operand: str
    name: str
    namespace: str
    node_selector: dict[str, str]


def operand_daemonsets(daemonsets: list[dict[str, Any]]) -> tuple[OperandDaemonSet, ...]:
    found = []
    for ds in daemonsets:
        metadata = ds.get("metadata") or {}
        labels = metadata.get("labels") or {}
        app = labels.get("app") or metadata.get("name", "")
        operand = OPERAND_APPS.get(app) or ("driver" if app.startswith("nvidia-gpu-driver") else None)
        if labels.get("app.kubernetes.io/name") == STANDALONE_DEVICE_PLUGIN:
            operand = "device-plugin"
        if operand is None:
            continue
        template = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
        found.append(
            OperandDaemonSet(
                operand=operand,
                name=str(metadata.get("name", "")),
                namespace=str(metadata.get("namespace", "")),
                node_selector={str(k): str(v) for k, v in (template.get("nodeSelector") or {}).items()},
            )
        )
    return tuple(found)


def expected_operands(node: NodeFacts, daemonsets: tuple[OperandDaemonSet, ...] | None) -> tuple[str, ...]:
    """The operands that should run on this node: those whose DaemonSet selects it.

    The operator labels every GPU node `nvidia.com/gpu.deploy.<operand>=true`, even for operands
    disabled in the ClusterPolicy (no DaemonSet), so the labels alone over-promise. Without the
    DaemonSets (not readable), a GPU node is still expected to run a device plugin.
    """
    if daemonsets:
        selected = {
            ds.operand
            for ds in daemonsets
            if all(node.labels.get(k) == v for k, v in ds.node_selector.items())
        }
        return tuple(sorted(selected))
    if node.labels.get(DEPLOY_LABEL + "device-plugin") == "false":
        return ()
    return ("device-plugin",) if node.is_gpu_node else ()


@dataclass(frozen=True)
class OperandReport:
    node: str
    expected: tuple[str, ...]
    pods: tuple[tuple[str, PodFacts], ...]  # (operand, pod)
    logs: dict[str, str]  # pod ref/container → last lines of the crashed container

    @property
    def failing(self) -> tuple[tuple[str, PodFacts], ...]:
        return tuple((o, p) for o, p in self.pods if p.failing_containers or p.phase == "Failed")

    @property
    def missing(self) -> tuple[str, ...]:
        present = {o for o, _ in self.pods}
        return tuple(o for o in self.expected if o not in present)

    @property
    def not_ready(self) -> tuple[tuple[str, PodFacts], ...]:
        failing = {p.ref for _, p in self.failing}
        return tuple((o, p) for o, p in self.pods if not p.ready and p.ref not in failing)

    def describe_failures(self) -> str:
        parts = []
        for operand, pod in self.failing:
            trouble = "; ".join(c.describe() for c in pod.failing_containers) or pod.phase
            line = f"{operand} pod {pod.ref}: {trouble}"
            for key, text in self.logs.items():
                if key.startswith(pod.ref + "/") and text:
                    line += f' — log: "{text.splitlines()[-1].strip()}"'
            parts.append(line)
        return "; ".join(parts)


OPERAND_SELECTOR = "app in (" + ",".join(sorted(OPERAND_APPS)) + ")"


def read_operand_daemonsets(ctx: ProbeContext) -> tuple[tuple[OperandDaemonSet, ...] | None, Evidence]:
    """The operand DaemonSets in any namespace, by label: one request whatever the cluster size."""
    try:
        fetched = ctx.kube.list(DAEMONSETS, label_selector=OPERAND_SELECTOR)
    except ReaderError as exc:
        return None, failure_evidence(exc, ctx.now)
    found = operand_daemonsets(fetched.value)
    return found, kube_evidence(fetched, f"{len(found)} GPU operator DaemonSets")


def collect_operands(ctx: ProbeContext, node: NodeFacts, pods: tuple[PodFacts, ...]) -> Observed:
    """Operand pods of the node, with the last log lines of each crashed operand container."""
    found = tuple((op, p) for p in pods if (op := operand_of(p)) is not None)
    logs: dict[str, str] = {}
    daemonsets, ds_evidence = read_operand_daemonsets(ctx)
    evidence: list[Evidence] = [ds_evidence]
    for _, pod in found:
        for container in pod.failing_containers[:2]:
            try:
                fetched = ctx.kube.pod_log(
                    pod.namespace,
                    pod.name,
                    container.name,
                    previous=container.restarts > 0,
                    tail_lines=20,
                )
            except ReaderError as exc:
                evidence.append(failure_evidence(exc, ctx.now))
                continue
            text = str(fetched.value).strip()
            logs[f"{pod.ref}/{container.name}"] = text
            last = text.splitlines()[-1] if text else "(empty)"
            evidence.append(kube_evidence(fetched, f"{pod.name}/{container.name}: {last}", data=text))
    report = OperandReport(
        node=node.name, expected=expected_operands(node, daemonsets), pods=found, logs=logs
    )
    return Observed(report, tuple(evidence))
