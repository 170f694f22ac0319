"""The live KubeReader and the GPU ladder against a real kube-apiserver.

Objects are written the way the kubelet and node lifecycle controller would write them
(status through the status subresource); kfops then reads them back through RBAC,
field selectors and the pods/log proxy of the real API server.
"""

from __future__ import annotations

import datetime
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kfops.clients.errors import Forbidden, NotFound, Unreachable
from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.resources import NODES, PODS
from kfops.clients.timeouts import Timeouts
from kfops.model import Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.gpu_node_down import LADDER

from .controlplane import ControlPlane, node_status_endpoint_fields


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _ago(minutes: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(name: str, port: int, ready: str, minutes: float, gpus: int = 8) -> dict[str, Any]:
    reason = {"True": "KubeletReady", "Unknown": "NodeStatusUnknown"}[ready]
    message = {"True": "kubelet is posting ready status", "Unknown": "Kubelet stopped posting node status."}
    taints = (
        [
            {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": _ago(minutes)},
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": _ago(minutes)},
        ]
        if ready == "Unknown"
        else []
    )
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true"}},
        "spec": {"taints": taints},
        "status": {
            **node_status_endpoint_fields(port),
            "capacity": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": str(gpus)},
            "allocatable": {"cpu": "63", "memory": "500Gi", "pods": "110", "nvidia.com/gpu": str(gpus)},
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": reason,
                    "message": message[ready],
                    "lastTransitionTime": _ago(minutes),
                    "lastHeartbeatTime": _ago(minutes if ready == "Unknown" else 0.2),
                },
                *(
                    {
                        "type": t,
                        "status": "False" if ready == "True" else "Unknown",
                        "reason": r,
                        "lastTransitionTime": _ago(300),
                        "lastHeartbeatTime": _ago(0.2),
                    }
                    for t, r in (
                        ("MemoryPressure", "KubeletHasSufficientMemory"),
                        ("DiskPressure", "KubeletHasNoDiskPressure"),
                        ("PIDPressure", "KubeletHasSufficientPID"),
                    )
                ),
            ],
        },
    }


def _create_node(core: client.CoreV1Api, body: dict[str, Any]) -> None:
    """Create a node as a kubelet registers it, then do what the node lifecycle controller does.

    Admission (TaintNodesByCondition) puts node.kubernetes.io/not-ready:NoSchedule on every new
    node; in a real cluster the controller replaces it with what the Ready condition warrants.
    """
    core.create_node(client.V1Node.model_validate(body))
    core.patch_node(body["metadata"]["name"], {"spec": {"taints": body["spec"]["taints"] or None}})


def _device_plugin_pod(core: client.CoreV1Api, namespace: str, node: str) -> str:
    name = _unique("nvidia-device-plugin-daemonset")
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {"name": name, "labels": {"app": "nvidia-device-plugin-daemonset"}},
                "spec": {
                    "nodeName": node,
                    "containers": [
                        {"name": "nvidia-device-plugin", "image": "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}
                    ],
                },
            }
        ),
    )
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "nvidia-device-plugin",
                "ready": True,
                "restartCount": 0,
                "image": "x",
                "imageID": "x",
                "state": {"running": {"startedAt": _ago(60)}},
            }
        ],
    }
    core.patch_namespaced_pod_status(name, namespace, {"status": status})
    return name


@pytest.fixture
def admin_reader(control_plane: ControlPlane) -> LiveKubeReader:
    return LiveKubeReader.connect(str(control_plane.kubeconfig), "admin")


def test_get_list_and_logs_go_through_the_real_api_server(
    control_plane: ControlPlane, core: client.CoreV1Api, namespace: str, admin_reader: LiveKubeReader
) -> None:
    node = _unique("gpu-live")
    _create_node(core, _node(node, control_plane.kubelet.port, "True", 120))
    pod = _device_plugin_pod(core, namespace, node)
    control_plane.kubelet.set_log(namespace, pod, "nvidia-device-plugin", "a\nb\nXidCriticalError: Xid=79\n")

    fetched = admin_reader.get(NODES, node)
    assert fetched.value["metadata"]["name"] == node
    assert fetched.query == f"GET /api/v1/nodes/{node}"
    assert fetched.nbytes > 0

    listed = admin_reader.list(PODS, field_selector=f"spec.nodeName={node}")
    assert [p["metadata"]["name"] for p in listed.value] == [pod]
    assert listed.value[0]["kind"] == "Pod" and listed.value[0]["apiVersion"] == "v1"
    assert listed.query == f"GET /api/v1/pods?fieldSelector=spec.nodeName={node}"

    log = admin_reader.pod_log(namespace, pod, "nvidia-device-plugin", tail_lines=1)
    assert log.value.strip() == "XidCriticalError: Xid=79"


def test_not_found_and_forbidden_keep_the_api_servers_words(control_plane: ControlPlane) -> None:
    admin = LiveKubeReader.connect(str(control_plane.kubeconfig), "admin")
    with pytest.raises(NotFound) as missing:
        admin.get(NODES, "no-such-node")
    assert missing.value.query == "GET /api/v1/nodes/no-such-node"

    nobody = LiveKubeReader.connect(str(control_plane.kubeconfig), "nobody")
    with pytest.raises(Forbidden) as refused:
        nobody.list(PODS, field_selector="spec.nodeName=x")
    assert refused.value.verb == "list" and refused.value.resource == "pods"
    assert 'User "nobody" cannot list resource "pods"' in refused.value.message
    assert "RBAC forbids 'list' on 'pods'" in refused.value.headline


def test_an_unreachable_api_server_is_reported_not_hung(control_plane: ControlPlane, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{closed_port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    reader = LiveKubeReader.connect(
        str(kubeconfig), "admin", Timeouts(connect_s=1, read_s=1, attempts=2, backoff_max_s=0.1)
    )
    with pytest.raises(Unreachable) as err:
        reader.get(NODES, "gpu-1")
    assert f"127.0.0.1:{closed_port}" in err.value.message


def test_gpu_ladder_live_healthy_node_raises_no_alarm(
    control_plane: ControlPlane, core: client.CoreV1Api, namespace: str, admin_reader: LiveKubeReader
) -> None:
    node = _unique("gpu-ok")
    _create_node(core, _node(node, control_plane.kubelet.port, "True", 240))
    _device_plugin_pod(core, namespace, node)
    [diagnosis] = Engine(admin_reader).diagnose(LADDER, node)
    statuses = {f.rung: f.status for f in diagnosis.findings}
    assert diagnosis.conclusion.verdict is Verdict.HEALTHY, diagnosis.conclusion.summary
    assert statuses["node-ready"] is Status.OK
    assert statuses["gpu-allocatable"] is Status.OK
    assert statuses["gpu-operands"] is Status.OK
    assert diagnosis.proposals == ()


def test_gpu_ladder_live_unreachable_node(
    control_plane: ControlPlane, core: client.CoreV1Api, admin_reader: LiveKubeReader
) -> None:
    node = _unique("gpu-down")
    _create_node(core, _node(node, control_plane.kubelet.port, "Unknown", 22))
    [diagnosis] = Engine(admin_reader).diagnose(LADDER, node)
    assert diagnosis.conclusion.verdict is Verdict.PROBLEM
    assert diagnosis.conclusion.cause == "node-unreachable"
    ready = next(f for f in diagnosis.findings if f.rung == "node-ready")
    assert ready.summary.startswith("Ready=Unknown (NodeStatusUnknown) for 22m")
    assert [p.action for p in diagnosis.proposals] == ["node.cordon"]
