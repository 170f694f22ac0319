"""Generate a large snapshot (default: 2,000 nodes, 30,000 pods) for the benchmarks.

A quarter of the nodes are 8-GPU nodes with the GPU operator's pods; one of them
(`gpu-node-0007`) is unreachable with GPU training pods stuck Terminating. Pods are written per
namespace as JSON lists, the way `kubectl cluster-info dump` lays them out.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

CAPTURED = "2026-11-20T03:12:00Z"
OPERANDS = (
    "nvidia-driver-daemonset",
    "nvidia-container-toolkit-daemonset",
    "nvidia-device-plugin-daemonset",
    "gpu-feature-discovery",
    "nvidia-dcgm-exporter",
    "nvidia-operator-validator",
)
DOWN = "gpu-node-0007"


def node(name: str, gpus: int, ready: str) -> dict[str, Any]:
    labels = {
        "kubernetes.io/hostname": name,
        "node.kubernetes.io/instance-type": "p4d.24xlarge" if gpus else "m6i.4xlarge",
    }
    taints = []
    if gpus:
        labels.update({"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"})
        labels.update(
            {f"nvidia.com/gpu.deploy.{o}": "true" for o in ("driver", "container-toolkit", "device-plugin")}
        )
        taints.append({"key": "nvidia.com/gpu", "effect": "NoSchedule"})
    if ready == "Unknown":
        taints += [
            {"key": "node.kubernetes.io/unreachable", "effect": e, "timeAdded": "2026-11-20T02:50:00Z"}
            for e in ("NoSchedule", "NoExecute")
        ]
    res = {"cpu": "96", "memory": "1152Gi", "pods": "110", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": labels,
            "creationTimestamp": "2026-10-01T00:00:00Z",
        },
        "spec": {"taints": taints, "providerID": f"aws:///eu-west-1a/i-{abs(hash(name)) % 10**12:012d}"},
        "status": {
            "capacity": res,
            "allocatable": res,
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                    "message": "kubelet is posting ready status"
                    if ready == "True"
                    else "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": "2026-11-20T03:11:40Z"
                    if ready == "True"
                    else "2026-11-20T02:49:10Z",
                    "lastTransitionTime": "2026-11-19T00:00:00Z"
                    if ready == "True"
                    else "2026-11-20T02:50:00Z",
                },
                *(
                    {
                        "type": t,
                        "status": "False" if ready == "True" else "Unknown",
                        "reason": "KubeletHasSufficient",
                    }
                    for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
                ),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"boot-{name}",
                "containerRuntimeVersion": "containerd://2.1.4",
                "kernelVersion": "6.8.0-1021-aws",
                "kubeProxyVersion": "v1.36.3",
                "kubeletVersion": "v1.36.3",
                "machineID": f"machine-{name}",
                "operatingSystem": "linux",
                "osImage": "Ubuntu 24.04.3 LTS",
                "systemUUID": f"uuid-{name}",
            },
        },
    }


def pod(
    name: str, namespace: str, node_name: str, gpus: int, labels: dict[str, str], owner: dict[str, Any]
) -> dict[str, Any]:
    resources = {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    if gpus:
        resources["limits"]["nvidia.com/gpu"] = str(gpus)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{namespace}-{name}",
        "labels": labels,
        "ownerReferences": [owner],
        "creationTimestamp": "2026-11-19T12:00:00Z",
    }
    if node_name == DOWN and gpus:
        meta["deletionTimestamp"] = "2026-11-20T02:55:30Z"
        meta["deletionGracePeriodSeconds"] = 30
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "containers": [
                {"name": "main", "image": "registry.example.com/ml/train:2026.11", "resources": resources}
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"{name}-data"}}],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "restartCount": 0,
                    "image": "registry.example.com/ml/train:2026.11",
                    "state": {"running": {"startedAt": "2026-11-19T12:01:00Z"}},
                }
            ],
        },
    }


def generate(out: Path, nodes: int, pods: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    gpu_nodes = [f"gpu-node-{i:04d}" for i in range(nodes // 4)]
    cpu_nodes = [f"cpu-node-{i:04d}" for i in range(nodes - len(gpu_nodes))]
    (out / "kfops-snapshot.yaml").write_text(f'capturedAt: "{CAPTURED}"\ncluster: bench-{nodes}n-{pods}p\n')
    items = [node(n, 8, "Unknown" if n == DOWN else "True") for n in gpu_nodes] + [
        node(n, 0, "True") for n in cpu_nodes
    ]
    (out / "nodes.json").write_text(json.dumps({"apiVersion": "v1", "kind": "NodeList", "items": items}))
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for gpu_node in gpu_nodes:  # the operator's DaemonSet pods, one per operand per GPU node
        for app in OPERANDS:
            owner = {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "name": app,
                "uid": f"ds-{app}",
                "controller": True,
            }
            by_namespace.setdefault("gpu-operator", []).append(
                pod(f"{app}-{gpu_node[-4:]}", "gpu-operator", gpu_node, 0, {"app": app}, owner)
            )
    remaining = pods - len(gpu_nodes) * len(OPERANDS)
    free = {n: 8 for n in gpu_nodes}
    for i in range(remaining):
        namespace = f"team-{i % 100:03d}"
        if i % 10 == 0:  # a tenth of the workload pods are GPU training pods
            candidates = [n for n in gpu_nodes if free[n] >= 2] or gpu_nodes
            target = rng.choice(candidates)
            free[target] -= 2
            job = f"job-{i // 4}"
            owner = {
                "apiVersion": "kubeflow.org/v1",
                "kind": "PyTorchJob",
                "name": job,
                "uid": f"pj-{job}",
                "controller": True,
            }
            labels = {
                "training.kubeflow.org/job-name": job,
                "training.kubeflow.org/operator-name": "pytorchjob-controller",
            }
            by_namespace.setdefault(namespace, []).append(
                pod(f"{job}-worker-{i}", namespace, target, 2, labels, owner)
            )
        else:
            owner = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"svc-{i % 500}-7d9f8c",
                "uid": "rs",
                "controller": True,
            }
            by_namespace.setdefault(namespace, []).append(
                pod(
                    f"svc-{i % 500}-7d9f8c-{i:06d}",
                    namespace,
                    rng.choice(cpu_nodes),
                    0,
                    {"app": f"svc-{i % 500}"},
                    owner,
                )
            )
    for namespace, ns_pods in by_namespace.items():
        (out / namespace).mkdir(exist_ok=True)
        (out / namespace / "pods.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "PodList", "items": ns_pods})
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=30000)
    args = parser.parse_args()
    generate(args.out, args.nodes, args.pods)


if __name__ == "__main__":
    main()
