"""stuck-pipeline benchmark (not a test): the sweep and one targeted diagnosis on a big cluster.

Generates a snapshot of `--workflows` unfinished KFP Workflows spread over `--namespaces`
Profile namespaces, each with `--steps` steps (a driver and an executor node per step, plus the
root DAG) and one pod per executor, one Workflow in ten stalled for two hours, and a healthy KFP
backend; then measures over fresh processes the wall time, peak RSS and request count of the
sweep (every unfinished Workflow is read, so its cost grows with the cluster) and of
`--workflow NAME --namespace NS` (which must not grow: its reads are namespaced or by name).

    python bench/pipelines.py --workflows 2000 --namespaces 50 --steps 12
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import measure, print_table  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _time(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workflow(index: int, namespace: str, steps: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = f"pipeline-{index:05d}"
    run_id = f"00000000-0000-4000-8000-{index:012d}"
    stalled = index % 10 == 0
    last = 130 if stalled else 3  # minutes since the newest node moved
    nodes: dict[str, Any] = {
        name: {"id": name, "name": name, "type": "DAG", "phase": "Running", "startedAt": _time(last + 60)}
    }
    pods = []
    for step in range(steps):
        for kind, template in (("driver", "system-container-driver"), ("executor", "system-container-impl")):
            node_id = f"{name}-{step}{kind[0]}"
            running = step == steps - 1 and kind == "executor"
            nodes[node_id] = {
                "id": node_id,
                "name": f"{name}.root.step-{step}.{kind}"
                if kind == "executor"
                else f"{name}.root.step-{step}-driver",
                "type": "Pod",
                "templateName": template,
                "phase": ("Pending" if stalled else "Running") if running else "Succeeded",
                "startedAt": _time(last + 2 * (steps - step)),
                **({} if running else {"finishedAt": _time(last + 2 * (steps - step) - 1)}),
            }
            if kind == "executor":
                pods.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"{name}-system-container-impl-{step}",
                            "namespace": namespace,
                            "uid": f"{node_id}-uid",
                            "creationTimestamp": _time(last + 2 * (steps - step)),
                            "labels": {"workflows.argoproj.io/workflow": name, "pipeline/runid": run_id},
                            "annotations": {"workflows.argoproj.io/node-id": node_id},
                        },
                        "spec": {"containers": [{"name": "main", "image": "python:3.12"}, {"name": "wait"}]},
                        "status": {
                            "phase": ("Pending" if stalled else "Running") if running else "Succeeded"
                        },
                    }
                )
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"{run_id}-wf",
            "creationTimestamp": _time(last + 70),
            "labels": {"pipeline/runid": run_id, "workflows.argoproj.io/phase": "Running"},
        },
        "spec": {"templates": [{"name": "system-container-impl"}]},
        "status": {"phase": "Running", "startedAt": _time(last + 60), "nodes": nodes},
    }
    return workflow, pods


def _backend() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for name, app in (
        ("workflow-controller", "workflow-controller"),
        ("ml-pipeline", "ml-pipeline"),
        ("ml-pipeline-persistenceagent", "ml-pipeline-persistenceagent"),
        ("metadata-grpc-deployment", "metadata-grpc-server"),
        ("seaweedfs", "seaweedfs"),
    ):
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "kubeflow", "uid": f"{name}-uid"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}}},
                "status": {"replicas": 1, "availableReplicas": 1},
            }
        )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "workflow-controller-configmap", "namespace": "kubeflow"},
        }
    )
    objects.append(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "minio-service-x",
                "namespace": "kubeflow",
                "labels": {"kubernetes.io/service-name": "minio-service"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.9"], "conditions": {"ready": True}}],
        }
    )
    return objects


def generate(root: Path, workflows: int, namespaces: int, steps: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kfops-snapshot.yaml").write_text(f'capturedAt: "{_time(0)}"\ncluster: bench-pipelines\n')
    items = [
        {"apiVersion": "kubeflow.org/v1", "kind": "Profile", "metadata": {"name": f"team-{n:03d}"}}
        for n in range(namespaces)
    ]
    pods: list[dict[str, Any]] = []
    for index in range(workflows):
        workflow, its_pods = _workflow(index, f"team-{index % namespaces:03d}", steps)
        items.append(workflow)
        pods.extend(its_pods)
    items.extend(_backend())
    (root / "objects.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    (root / "pods.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=2000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    snapshot = ROOT / "bench" / "out" / f"pipelines-{args.workflows}w-{args.steps}s"
    if not snapshot.exists():
        generate(snapshot, args.workflows, args.namespaces, args.steps)
    diagnose = [
        sys.executable,
        "-m",
        "kfops",
        "diagnose",
        "stuck-pipeline",
        "--snapshot",
        str(snapshot),
        "-o",
        "json",
    ]
    rows = [
        measure(f"stuck-pipeline sweep, {args.workflows} Workflows × {args.steps} steps", diagnose),
        measure(
            "stuck-pipeline --workflow pipeline-00010 --namespace team-010",
            [*diagnose, "--workflow", "pipeline-00010", "--namespace", "team-010"],
        ),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
