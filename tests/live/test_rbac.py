"""Least privilege, proven on the real API server with the shipped deploy/rbac objects.

kfops reads as the ServiceAccount the deployment binds (kfops/kfops), with a token from the
TokenRequest API: the ClusterRole must be enough for every read the ladder makes, and nothing
else — every write is refused. A role missing one permission must give a diagnosis that names
the refused verb and resource and stays inconclusive, never healthy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.live.writer import LiveKubeWriter
from kfops.clients.resources import ALL, CONFIGMAPS, CRDS, NODES
from kfops.diagnostics.kserve.knative import CONFIG_AUTOSCALER
from kfops.diagnostics.pipelines.backend import CONTROLLER_CONFIGMAP
from kfops.diagnostics.profiles.versions import ISTIO_CRD, PROFILE_CRD
from kfops.model import Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.gpu_node_down import LADDER
from kfops.runbooks.requirements import cluster_role_reads

from .controlplane import ControlPlane
from .test_live_reader import _create_node, _device_plugin_pod, _node

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac"
NAMESPACE = "kfops"


def _manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((RBAC / name).read_text())
    return loaded


def _token_kubeconfig(control_plane: ControlPlane, token: str, path: Path) -> Path:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    cluster = config["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": cluster["name"], "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    return path


def _service_account_reader(
    admin_api: client.ApiClient, control_plane: ControlPlane, name: str, role: dict[str, Any], tmp: Path
) -> tuple[LiveKubeReader, client.ApiClient]:
    """A ServiceAccount bound to `role`, and a reader plus raw client authenticated as it."""
    core, rbac = client.CoreV1Api(admin_api), client.RbacAuthorizationV1Api(admin_api)
    try:
        core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": NAMESPACE}}))
    except ApiException as exc:
        if exc.status != 409:
            raise
    core.create_namespaced_service_account(
        NAMESPACE, client.V1ServiceAccount.model_validate({"metadata": {"name": name}})
    )
    try:  # other live tests may have applied the shipped role already: apply it as shipped
        rbac.create_cluster_role(client.V1ClusterRole.model_validate(role))
    except ApiException as exc:
        if exc.status != 409:
            raise
        rbac.replace_cluster_role(role["metadata"]["name"], client.V1ClusterRole.model_validate(role))
    binding = _manifest("clusterrolebinding-reader.yaml")
    binding["metadata"]["name"] = role["metadata"]["name"]
    binding["roleRef"]["name"] = role["metadata"]["name"]
    binding["subjects"] = [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding.model_validate(binding))
    token = core.create_namespaced_service_account_token(
        name,
        NAMESPACE,
        client.AuthenticationV1TokenRequest.model_validate({"spec": {"expirationSeconds": 3600}}),
    )
    assert token.status is not None and token.status.token is not None
    kubeconfig = _token_kubeconfig(control_plane, token.status.token, tmp / f"{name}.kubeconfig")
    raw = client.ApiClient(_configuration(kubeconfig))
    _wait_until_bound(LiveKubeWriter.connect(str(kubeconfig), "sa"))
    return LiveKubeReader.connect(str(kubeconfig), "sa"), raw


def _wait_until_bound(writer: LiveKubeWriter, timeout: float = 10.0) -> None:
    """RBAC caches catch up with a new binding within moments; ask instead of racing them."""
    deadline = time.monotonic() + timeout
    while not writer.can_i("get", NODES).allowed:
        if time.monotonic() > deadline:
            raise AssertionError("the ClusterRoleBinding never took effect")
        time.sleep(0.1)


def _configuration(kubeconfig: Path) -> client.Configuration:
    from kubernetes import config

    configuration = client.Configuration()
    # kubernetes.config is unannotated.
    config.load_kube_config(  # type: ignore[no-untyped-call]
        str(kubeconfig), client_configuration=configuration, persist_config=False
    )
    return configuration


def test_the_shipped_role_grants_exactly_what_the_readers_read() -> None:
    role = _manifest("clusterrole-reader.yaml")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        if not rule.get("resourceNames")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    # what the ladders read (kfops.runbooks.requirements, the table `kfops doctor` checks too)
    reads = cluster_role_reads()
    needed = {(r.ref.group, r.resource, r.verb) for r in reads if not r.name}
    assert needed <= granted, needed - granted
    # every resource the role grants is one a ladder reads (get/list, plus watch for informers)
    assert {(g, r) for g, r, _ in granted} == {(g, r) for g, r, _ in needed}
    assert {(g, r) for g, r, _ in granted if r != "pods/log"} == {(r.group, r.plural) for r in ALL}
    assert {v for _, r, v in granted if r == "pods/log"} == {"get"}
    assert not {verb for _, _, verb in granted} - {"get", "list", "watch"}
    # objects read by name only, never listed: the workflow-controller's ConfigMap, Knative's
    # config-autoscaler, the two CRDs the Profile controller needs
    named = {
        (group, resource, verb, name)
        for rule in role["rules"]
        if rule.get("resourceNames")
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule["resourceNames"]
    }
    assert named == {(r.ref.group, r.resource, r.verb, r.name) for r in reads if r.name}
    assert named == {
        (CONFIGMAPS.group, CONFIGMAPS.plural, "get", CONTROLLER_CONFIGMAP),
        (CONFIGMAPS.group, CONFIGMAPS.plural, "get", CONFIG_AUTOSCALER),
        # profile-controller-crashloop: the Profile and Istio AuthorizationPolicy CRDs, by name
        (CRDS.group, CRDS.plural, "get", PROFILE_CRD),
        (CRDS.group, CRDS.plural, "get", ISTIO_CRD),
    }


@pytest.fixture(scope="module")
def healthy_node(admin_api: client.ApiClient, control_plane: ControlPlane) -> str:
    core = client.CoreV1Api(admin_api)
    namespace = f"gpu-operator-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    node = f"gpu-rbac-{uuid.uuid4().hex[:6]}"
    _create_node(core, _node(node, control_plane.kubelet.port, "True", 300))
    _device_plugin_pod(core, namespace, node)
    return node


def test_the_shipped_role_is_enough_and_refuses_every_write(
    admin_api: client.ApiClient, control_plane: ControlPlane, healthy_node: str, tmp_path: Path
) -> None:
    reader, raw = _service_account_reader(
        admin_api, control_plane, "kfops", _manifest("clusterrole-reader.yaml"), tmp_path
    )
    [diagnosis] = Engine(reader).diagnose(LADDER, healthy_node)
    assert diagnosis.conclusion.verdict is Verdict.HEALTHY, diagnosis.conclusion.summary
    assert not diagnosis.errors
    evidence = [e.summary for f in diagnosis.findings for e in f.evidence]
    assert not [line for line in evidence if "forbid" in line.lower()], evidence

    core = client.CoreV1Api(raw)
    writes: dict[str, Callable[[], object]] = {
        "patch node (cordon)": lambda: core.patch_node(healthy_node, {"spec": {"unschedulable": True}}),
        "delete node": lambda: core.delete_node(healthy_node),
        "create pod": lambda: core.create_namespaced_pod(
            NAMESPACE,
            client.V1Pod.model_validate(
                {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "x"}]}}
            ),
        ),
        "evict pod": lambda: core.create_namespaced_pod_eviction(
            "x",
            NAMESPACE,
            client.V1Eviction.model_validate({"metadata": {"name": "x", "namespace": NAMESPACE}}),
        ),
        "create event": lambda: core.create_namespaced_event(
            NAMESPACE,
            client.CoreV1Event.model_validate(
                {"metadata": {"name": "x"}, "involvedObject": {"kind": "Node", "name": healthy_node}}
            ),
        ),
    }
    for what, write in writes.items():
        with pytest.raises(ApiException) as refused:
            write()
        assert refused.value.status == 403, what


def test_a_missing_permission_is_named_and_the_verdict_is_inconclusive(
    admin_api: client.ApiClient, control_plane: ControlPlane, healthy_node: str, tmp_path: Path
) -> None:
    role = _manifest("clusterrole-reader.yaml")
    role["metadata"]["name"] = "kfops-reader-without-pod-list"
    role["rules"][0] = {
        "apiGroups": [""],
        "resources": ["nodes", "events"],
        "verbs": ["get", "list", "watch"],
    }
    role["rules"].append({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    reader, _ = _service_account_reader(admin_api, control_plane, "kfops-partial", role, tmp_path)
    [diagnosis] = Engine(reader).diagnose(LADDER, healthy_node)
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE
    refused = [f for f in diagnosis.findings if f.status is Status.ERROR]
    assert {f.rung for f in refused} == {"gpu-operands", "gpu-workloads"}
    for finding in refused:
        assert "RBAC forbids 'list' on 'pods'" in finding.summary
        assert 'cannot list resource "pods"' in finding.summary
    assert "gpu-operands" in diagnosis.conclusion.summary
