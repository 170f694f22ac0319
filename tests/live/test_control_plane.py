"""Smoke tests proving the test control plane recipe end to end.

Each test exercises one thing kfops relies on: the version it reports, pod logs
proxied to a (fake) kubelet, RBAC refusals for restricted users, and server-side
dry-run. Object names are unique per test because nothing ever garbage-collects
(namespaces in particular never finish deleting without controllers). conftest.py
marks every test here ``live``.
"""

from __future__ import annotations

import datetime
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3 import HTTPResponse

from tests.support.kube import metadata

from .controlplane import ControlPlane, node_status_endpoint_fields

T = TypeVar("T")
EXPECTED_VERSION = os.environ.get("KFOPS_TEST_K8S_VERSION", "v1.36.3")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rfc3339(minutes_ago: int = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def eventually(attempt: Callable[[], T], timeout: float = 10.0) -> T:
    """Retry ``attempt`` while it raises ApiException (e.g. RBAC cache not yet updated)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def node(core: client.CoreV1Api, control_plane: ControlPlane) -> str:
    """A Ready Node whose kubelet endpoint is the fake kubelet."""
    name = unique("fake-node")
    status: dict[str, Any] = {
        **node_status_endpoint_fields(control_plane.kubelet.port),
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "fake kubelet is posting ready status",
                "lastHeartbeatTime": rfc3339(),
                "lastTransitionTime": rfc3339(),
            }
        ],
    }
    core.create_node(client.V1Node.model_validate({"metadata": {"name": name}, "status": status}))
    return name


def test_version_reports_the_pinned_release(admin_api: client.ApiClient) -> None:
    info = client.VersionApi(admin_api).get_code()
    assert info.git_version == EXPECTED_VERSION
    assert (info.major, info.minor) == ("1", EXPECTED_VERSION.split(".")[1])


def test_node_status_is_accepted_on_create(core: client.CoreV1Api, node: str) -> None:
    status = core.read_node(node).status
    assert status is not None and status.addresses is not None and status.conditions is not None
    assert status.daemon_endpoints is not None and status.daemon_endpoints.kubelet_endpoint is not None
    assert [(a.type, a.address) for a in status.addresses] == [("InternalIP", "127.0.0.1")]
    assert status.daemon_endpoints.kubelet_endpoint.port > 0
    assert [(c.type, c.status) for c in status.conditions] == [("Ready", "True")]


def _crashlooping_pod(core: client.CoreV1Api, namespace: str, node: str, name: str) -> None:
    """A pod bound to ``node`` whose status says: running, OOM-killed 3 times before."""
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {"name": name},
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": "main", "image": "registry.invalid/trainer:1"}],
                },
            }
        ),
    )
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "main",
                "image": "registry.invalid/trainer:1",
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 3,
                "state": {"running": {"startedAt": rfc3339()}},
                "lastState": {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "OOMKilled",
                        "startedAt": rfc3339(minutes_ago=5),
                        "finishedAt": rfc3339(minutes_ago=1),
                    }
                },
            }
        ],
    }
    core.patch_namespaced_pod_status(name, namespace, {"status": status})


def test_previous_logs_flow_through_the_apiserver_to_the_fake_kubelet(
    core: client.CoreV1Api, control_plane: ControlPlane, namespace: str, node: str
) -> None:
    _crashlooping_pod(core, namespace, node, "trainer")
    pod = core.read_namespaced_pod("trainer", namespace)
    assert pod.status is not None and pod.status.container_statuses is not None
    container = pod.status.container_statuses[0]
    assert container.last_state is not None and container.last_state.terminated is not None
    assert (pod.status.phase, container.restart_count) == ("Running", 3)
    assert (container.last_state.terminated.exit_code, container.last_state.terminated.reason) == (
        137,
        "OOMKilled",
    )

    kubelet = control_plane.kubelet
    kubelet.set_log(namespace, "trainer", "main", "step 1\nstep 2\nCUDA OOM\nKilled\n", True)
    kubelet.set_log(namespace, "trainer", "main", "restarted\n")

    previous = core.read_namespaced_pod_log(
        "trainer", namespace, container="main", previous=True, tail_lines=2
    )
    current = core.read_namespaced_pod_log("trainer", namespace, container="main")

    assert previous == "CUDA OOM\nKilled\n"
    assert current == "restarted\n"
    forwarded = [r for r in kubelet.requests if f"/containerLogs/{namespace}/trainer/main" in r]
    assert any("previous=true" in r and "tailLines=2" in r for r in forwarded)


def test_missing_previous_log_surfaces_the_kubelet_message(
    core: client.CoreV1Api, namespace: str, node: str
) -> None:
    """The kubelet's 400 body reaches the client; a 404 body would be replaced."""
    _crashlooping_pod(core, namespace, node, "no-logs")
    with pytest.raises(ApiException) as previous:
        core.read_namespaced_pod_log("no-logs", namespace, previous=True)
    with pytest.raises(ApiException) as current:
        core.read_namespaced_pod_log("no-logs", namespace)

    assert previous.value.status == 400
    assert 'previous terminated container \\"main\\" in pod \\"no-logs\\" not found' in str(
        previous.value.body
    )
    assert current.value.status == 404
    assert "the server could not find the requested resource" in str(current.value.body)


def test_unscheduled_pod_log_is_an_empty_204(core: client.CoreV1Api, namespace: str) -> None:
    """No nodeName: the apiserver answers 204 without asking any kubelet (client: None)."""
    spec = {"containers": [{"name": "main", "image": "registry.invalid/x:1"}]}
    core.create_namespaced_pod(
        namespace, client.V1Pod.model_validate({"metadata": {"name": "pending"}, "spec": spec})
    )
    # Typed ``-> str``; with _preload_content=False the client returns urllib3's response.
    response = cast(HTTPResponse, core.read_namespaced_pod_log("pending", namespace, _preload_content=False))
    assert (response.status, response.data) == (204, b"")
    assert core.read_namespaced_pod_log("pending", namespace) is None


def _status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as error:
        return int(error.status)
    return 200


def test_restricted_users_are_refused_until_bound(
    admin_api: client.ApiClient, api_client_for: Callable[[str], client.ApiClient]
) -> None:
    reader = client.CoreV1Api(api_client_for("kfops-reader"))
    nobody = client.CoreV1Api(api_client_for("nobody"))
    assert _status_of(reader.list_node) == 403
    assert _status_of(nobody.list_node) == 403

    rbac = client.RbacAuthorizationV1Api(admin_api)
    role = unique("kfops-node-reader")
    rbac.create_cluster_role(
        client.V1ClusterRole.model_validate(
            {
                "metadata": {"name": role},
                "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}],
            }
        )
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding.model_validate(
            {
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "kfops-reader"}
                ],
            }
        )
    )
    try:
        # The RBAC authorizer reads from an informer cache: allow it a moment.
        nodes = eventually(reader.list_node)
        assert nodes.kind == "NodeList" or nodes.items is not None
        assert _status_of(nobody.list_node) == 403
    finally:
        # Leave kfops-reader unprivileged for any later test in this session.
        rbac.delete_cluster_role_binding(role)
        rbac.delete_cluster_role(role)


def test_server_side_dry_run_changes_nothing(core: client.CoreV1Api, node: str) -> None:
    before = core.read_node(node)
    patched = core.patch_node(node, {"spec": {"unschedulable": True}}, dry_run="All")
    after = core.read_node(node)

    assert patched.spec is not None and after.spec is not None
    assert patched.spec.unschedulable is True
    assert not after.spec.unschedulable
    assert metadata(after).resource_version == metadata(before).resource_version
