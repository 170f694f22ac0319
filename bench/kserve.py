"""kserve-flapping benchmark (not a test): the sweep and one targeted diagnosis on a big cluster.

Generates a snapshot of `--services` Knative-mode InferenceServices spread over `--namespaces`
Profile namespaces, each with two Revisions, their PodAutoscalers and `--replicas` predictor
pods on a pool of nodes; one service in twenty is not Ready because its model server is
OOMKilled. Then measures over fresh processes the wall time, peak RSS and request count of the
sweep (every InferenceService is listed, so its cost grows with the cluster) and of
`NAMESPACE/NAME` (which must not grow: its reads are namespaced, by label or by name).

    python bench/kserve.py --services 1000 --namespaces 50 --replicas 3
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
NODES = 40


def _time(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, ok: bool, reason: str = "", message: str = "", age: float = 300) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if ok else "False",
        "lastTransitionTime": _time(age),
    }
    if not ok:
        condition.update(reason=reason, message=message)
    return condition


def _service(index: int, namespace: str, replicas: int) -> list[dict[str, Any]]:
    name = f"model-{index:05d}"
    broken = index % 20 == 0
    latest, previous = f"{name}-predictor-00002", f"{name}-predictor-00001"
    labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor"}
    conditions = [
        _condition("IngressReady", True),
        _condition("PredictorReady", not broken, "RevisionFailed", "Revision failed: OOMKilled", 12),
        _condition("Ready", not broken, "RevisionFailed", "Revision failed: OOMKilled", 12),
    ]
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "uid": f"{name}-uid", "generation": 2},
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "model": {
                    "modelFormat": {"name": "sklearn"},
                    "storageUri": f"s3://models/{name}",
                    "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "2Gi"}},
                },
            }
        },
        "status": {
            "deploymentMode": "Knative",
            "conditions": conditions,
            "components": {
                "predictor": {
                    "latestCreatedRevision": latest,
                    "latestReadyRevision": previous if broken else latest,
                    "traffic": [
                        {
                            "revisionName": previous if broken else latest,
                            "percent": 100,
                            "latestRevision": not broken,
                        }
                    ],
                }
            },
        },
    }
    objects: list[dict[str, Any]] = [isvc]
    for revision in (previous, latest):
        ready = revision == previous or not broken
        objects.append(
            {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Revision",
                "metadata": {
                    "name": revision,
                    "namespace": namespace,
                    "uid": f"{revision}-uid",
                    "creationTimestamp": _time(600 if revision == previous else 30),
                    "labels": {"serving.knative.dev/service": f"{name}-predictor", **labels},
                    "annotations": {"autoscaling.knative.dev/min-scale": "1"},
                },
                "status": {
                    "conditions": [
                        _condition("Ready", ready, "ExitCode137", "Container failed with: OOMKilled"),
                        _condition(
                            "ContainerHealthy", ready, "ExitCode137", "Container failed with: OOMKilled"
                        ),
                    ],
                    "actualReplicas": replicas,
                    "desiredReplicas": replicas,
                },
            }
        )
        objects.append(
            {
                "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
                "kind": "PodAutoscaler",
                "metadata": {"name": revision, "namespace": namespace, "uid": f"{revision}-pa"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": f"{revision}-deployment",
                    }
                },
                "status": {
                    "desiredScale": replicas,
                    "actualScale": replicas,
                    "conditions": [_condition("Ready", True)],
                },
            }
        )
    for replica in range(replicas):
        revision = latest
        pod_name = f"{revision}-deployment-7d9f8b-{replica:05d}"
        oom = broken
        kserve: dict[str, Any] = {
            "name": "kserve-container",
            "ready": not oom,
            "restartCount": 7 if oom else 0,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
            if oom
            else {"running": {"startedAt": _time(600)}},
        }
        if oom:
            kserve["lastState"] = {
                "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": _time(2)}
            }
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": namespace,
                    "uid": f"{pod_name}-uid",
                    "creationTimestamp": _time(600),
                    "labels": {**labels, "serving.knative.dev/revision": revision},
                },
                "spec": {
                    "nodeName": f"node-{(index + replica) % NODES:03d}",
                    "containers": [
                        {"name": "kserve-container", "resources": {"limits": {"memory": "2Gi"}}},
                        {"name": "queue-proxy"},
                    ],
                },
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False" if oom else "True"}],
                    "containerStatuses": [kserve, {"name": "queue-proxy", "ready": True, "restartCount": 0}],
                },
            }
        )
    return objects


def _nodes() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": f"node-{n:03d}", "uid": f"node-{n:03d}-uid"},
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": _time(0)},
                    {"type": "MemoryPressure", "status": "False"},
                ],
                "capacity": {"cpu": "32", "memory": "256Gi"},
            },
        }
        for n in range(NODES)
    ]


def generate(root: Path, services: int, namespaces: int, replicas: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kfops-snapshot.yaml").write_text(f'capturedAt: "{_time(0)}"\ncluster: bench-kserve\n')
    items: list[dict[str, Any]] = _nodes()
    for index in range(services):
        items.extend(_service(index, f"team-{index % namespaces:03d}", replicas))
    (root / "objects.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    snapshot = ROOT / "bench" / "out" / f"kserve-{args.services}s-{args.replicas}r"
    if not snapshot.exists():
        generate(snapshot, args.services, args.namespaces, args.replicas)
    diagnose = [
        sys.executable,
        "-m",
        "kfops",
        "diagnose",
        "kserve-flapping",
        "--snapshot",
        str(snapshot),
        "-o",
        "json",
    ]
    target = f"team-{20 % args.namespaces:03d}/model-00020"
    rows = [
        measure(
            f"kserve-flapping sweep, {args.services} InferenceServices × {args.replicas} replicas", diagnose
        ),
        measure(f"kserve-flapping {target}", [*diagnose, target]),
    ]
    print_table(rows)


if __name__ == "__main__":
    main()
