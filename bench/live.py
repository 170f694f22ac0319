"""Live benchmark: one `gpu-node-down` diagnosis against the real test control plane.

Loads a generated cluster (bench/generate.py) into a fresh kube-apiserver + etcd, then measures
over several runs: wall time, API requests, and the ratio of the wall time to the slowest single
request the diagnosis made (the physical floor of a parallel ladder). Run twice, with a small and
a large cluster, it shows whether the request count depends on cluster size (it must not).

    python bench/live.py --nodes 2000 --pods 30000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client  # noqa: E402
from tests.live.controlplane import ControlPlane  # noqa: E402
from tests.support.kube import new_api_client  # noqa: E402

from bench.generate import generate  # noqa: E402
from kfops.clients.live.kube import LiveKubeReader  # noqa: E402
from kfops.clients.snapshot.store import SnapshotStore  # noqa: E402
from kfops.runbooks.engine import Engine  # noqa: E402
from kfops.runbooks.gpu_node_down import LADDER  # noqa: E402

SERVER_OWNED = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in obj["metadata"].items() if k not in SERVER_OWNED}
    return {**obj, "metadata": metadata}


def load(api: client.ApiClient, snapshot: Path) -> float:
    """Write the snapshot's nodes and pods; returns the seconds it took."""
    started = time.perf_counter()
    store = SnapshotStore.load(snapshot)
    core = client.CoreV1Api(api)
    nodes = [e.obj for e in store.entries("", "Node")]
    pods = [e.obj for e in store.entries("", "Pod")]
    for namespace in sorted({p["metadata"]["namespace"] for p in pods}):
        core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))

    def create_node(node: dict[str, Any]) -> None:
        core.create_node(client.V1Node.model_validate(_clean(node)))
        # Admission adds node.kubernetes.io/not-ready; set the taints the node lifecycle controller would.
        core.patch_node(node["metadata"]["name"], {"spec": {"taints": node["spec"].get("taints") or None}})

    def create_pod(pod: dict[str, Any]) -> None:
        name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        # Pod status is ignored on create; the bench leaves it unset (the request count and the
        # ladder's reads do not depend on it).
        body = {k: v for k, v in _clean(pod).items() if k != "status"}
        core.create_namespaced_pod(namespace, client.V1Pod.model_validate(body))
        if pod["metadata"].get("deletionTimestamp"):  # stuck Terminating: no kubelet will finish it
            core.delete_namespaced_pod(name, namespace, grace_period_seconds=30)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create_node, nodes))
        list(pool.map(create_pod, pods))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=30000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "snapshot"
        generate(snapshot, args.nodes, args.pods)
        plane = ControlPlane.start(Path(tmp) / "plane")
        try:
            api = new_api_client(plane.kubeconfig, "admin")
            loaded_s = load(api, snapshot)
            walls, requests, ratios, slowest = [], [], [], []
            for _ in range(args.runs):
                reader = LiveKubeReader.connect(str(plane.kubeconfig), "admin")
                started = time.perf_counter()
                [diagnosis] = Engine(reader).diagnose(LADDER, "gpu-node-0007")
                wall = time.perf_counter() - started
                walls.append(wall)
                requests.append(diagnosis.stats.requests)
                slowest.append(diagnosis.stats.slowest_request_s)
                ratios.append(wall / max(diagnosis.stats.slowest_request_s, 1e-6))
            verdict = f"{diagnosis.conclusion.verdict.value}/{diagnosis.conclusion.cause}"
        finally:
            plane.stop()
    print(
        f"| {args.nodes} nodes / {args.pods} pods | loaded in {loaded_s:.0f} s | "
        f"wall median {statistics.median(walls):.3f} s (max {max(walls):.3f}) | "
        f"requests {sorted(set(requests))} | slowest request median {statistics.median(slowest):.3f} s | "
        f"wall / slowest median {statistics.median(ratios):.2f} | {verdict} |"
    )


if __name__ == "__main__":
    main()
