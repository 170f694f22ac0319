"""Writing small snapshot directories for tests, in the documented snapshot format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def node(
    name: str, ready: str = "True", gpus: int = 8, allocatable: int | None = None, **extra: Any
) -> dict[str, Any]:
    reason = {"True": "KubeletReady", "False": "KubeletNotReady", "Unknown": "NodeStatusUnknown"}[ready]
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true"} if gpus else {}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "64", "nvidia.com/gpu": str(gpus)} if gpus else {"cpu": "16"},
            "allocatable": {"cpu": "63", "nvidia.com/gpu": str(gpus if allocatable is None else allocatable)}
            if gpus
            else {"cpu": "15"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": reason,
                    "message": "kubelet is posting ready status",
                    "lastTransitionTime": "2026-11-20T01:00:00Z",
                    "lastHeartbeatTime": "2026-11-20T03:11:50Z",
                },
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            ],
        },
    }
    obj.update(extra)
    return obj


def pod(name: str, namespace: str, node_name: str, gpus: int = 0, **labels: str) -> dict[str, Any]:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "main", "image": "x", "resources": resources}],
        },
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "main", "ready": True, "restartCount": 0, "state": {"running": {}}}
            ],
        },
    }


def write_snapshot(
    root: Path,
    objects: list[dict[str, Any]],
    meta: dict[str, Any] | None = None,
    logs: dict[str, str] | None = None,
) -> Path:
    """A snapshot directory: objects as a kubectl-style List, metadata, and logs by relative path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "kfops-snapshot.yaml").write_text(
        yaml.safe_dump({"capturedAt": "2026-11-20T03:12:00Z", **(meta or {})}), encoding="utf-8"
    )
    (root / "objects.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}), encoding="utf-8"
    )
    for relative, text in (logs or {}).items():
        path = root / "logs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
