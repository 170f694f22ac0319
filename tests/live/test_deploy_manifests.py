"""deploy/ as shipped, checked by the real API server.

Both overlays are rendered with the real kustomize (built from Go modules by
scripts/testenv/build-kustomize.sh, cached like the control plane). The Namespace is created
for real, then every object is applied with server-side apply and ``dryRun=All`` as admin: the
API server checks each object's schema (built-in kinds and the prometheus-operator CRDs in
tests/live/crds), RBAC rule syntax and references, and — through the namespace's Pod Security
labels — the restricted profile. Nothing but the Namespace (and, for the Pod Security check,
the ServiceAccount) is persisted.

Each overlay is applied into a fresh namespace (the rendered ``kfops`` renamed everywhere it
appears), so other live tests that create ``kfops`` themselves never interfere.
"""

from __future__ import annotations

import copy
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from kfops.playbooks.gate import policy_mode
from kfops.playbooks.registry import PLAYBOOKS
from kfops.settings import Settings
from tests.support.kube import metadata

from .crds import install_crds
from .test_gate import playbook_writes, role_grants

REPO: Final = Path(__file__).resolve().parents[2]
BUILD_SCRIPT: Final = REPO / "scripts" / "testenv" / "build-kustomize.sh"
OVERLAYS: Final = ("diagnose-only", "remediate")
NAMESPACE: Final = "kfops"
FIELD_MANAGER: Final = "kfops-deploy-test"
READ_VERBS: Final = frozenset({"get", "list", "watch"})

Obj = dict[str, Any]


def kustomize_binary() -> Path:
    """The cached kustomize, built on first use. A missing binary fails, never skips."""
    try:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.fail(f"kustomize not available: {BUILD_SCRIPT} failed: {error}", pytrace=False)
    paths = [line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("kustomize=")]
    if done.returncode != 0 or not paths:
        pytest.fail(
            f"kustomize not available: {BUILD_SCRIPT.relative_to(REPO)} exited {done.returncode}:\n"
            f"{done.stderr[-2000:]}",
            pytrace=False,
        )
    return Path(paths[0])


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    binary = kustomize_binary()
    out: dict[str, list[Obj]] = {}
    for overlay in OVERLAYS:
        done = subprocess.run(
            [str(binary), "build", str(REPO / "deploy" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"kustomize build deploy/overlays/{overlay}:\n{done.stderr}"
        out[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return out


def _find(objects: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def _one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    [found] = _find(objects, kind, name)
    return found


def _renamed(objects: list[Obj], namespace: str) -> list[Obj]:
    """A copy with the namespace ``kfops`` renamed wherever the manifests name it."""
    result = []
    for original in objects:
        obj = copy.deepcopy(original)
        meta = obj["metadata"]
        if obj["kind"] == "Namespace" and meta["name"] == NAMESPACE:
            meta["name"] = namespace
        if meta.get("namespace") == NAMESPACE:
            meta["namespace"] = namespace
        for subject in obj.get("subjects", []):
            if subject.get("namespace") == NAMESPACE:
                subject["namespace"] = namespace
        result.append(obj)
    return result


# ------------------------------------------------------------------ the API server's verdict


class Applier:
    """Server-side apply with dryRun=All, returning the API server's warnings."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.dynamic = DynamicClient(api)  # type: ignore[no-untyped-call]  # kubernetes.dynamic is unannotated

    def path(self, obj: Obj) -> str:
        resource = self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        path: str = resource.path(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
        return path

    def _call(
        self, method: str, path: str, body: Obj, query: list[tuple[str, str]], content: str
    ) -> list[str]:
        request = self.api.param_serialize(
            method,
            path,
            query_params=[("dryRun", "All"), *query],
            header_params={"Content-Type": content, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        response.read()  # type: ignore[no-untyped-call]  # RESTResponse.read is unannotated
        if not 200 <= response.status <= 299:
            self.api.response_deserialize(response, {})  # raises ApiException with the Status
            raise AssertionError(f"{method} {path}: HTTP {response.status}")
        headers = response.getheaders()  # type: ignore[no-untyped-call]  # RESTResponse: unannotated
        return list(headers.getlist("Warning")) if hasattr(headers, "getlist") else []

    def apply(self, obj: Obj) -> list[str]:
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        return self._call("PATCH", self.path(obj), obj, query, "application/apply-patch+yaml")

    def create_pod(self, namespace: str, pod: Obj) -> list[str]:
        return self._call("POST", f"/api/v1/namespaces/{namespace}/pods", pod, [], "application/json")


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message", error.body))
    except json.JSONDecodeError:
        return str(error.body)


@pytest.fixture(scope="module")
def applier(admin_api: client.ApiClient) -> Iterator[Applier]:
    install_crds(admin_api)  # ServiceMonitor, PrometheusRule (and the rest; idempotent)
    yield Applier(admin_api)


def _pod_from(deployment: Obj, namespace: str) -> Obj:
    template = copy.deepcopy(deployment["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"psa-{uuid.uuid4().hex[:6]}", "namespace": namespace, **template["metadata"]},
        "spec": template["spec"],
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_passes_a_server_side_dry_run(
    overlay: str, rendered: dict[str, list[Obj]], applier: Applier, admin_api: client.ApiClient
) -> None:
    namespace = f"kfops-deploy-{uuid.uuid4().hex[:6]}"
    objects = _renamed(rendered[overlay], namespace)
    kinds = {o["kind"] for o in objects}
    assert kinds >= {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy",
        "ServiceMonitor", "PrometheusRule",
    }  # fmt: skip
    assert "Secret" not in kinds, "secrets are never part of deploy/ (docs/deploy.md)"

    core = client.CoreV1Api(admin_api)
    ns = _one(objects, "Namespace")
    core.create_namespace(client.V1Namespace.model_validate(ns))  # for real: the namespaced dry-runs need it
    failures: dict[str, str] = {}
    for obj in objects:
        if obj is ns:
            continue
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            warnings = applier.apply(obj)
        except ApiException as error:
            failures[what] = f"{error.status}: {_message(error)}"
            continue
        if warnings:
            failures[what] = f"warnings: {warnings}"
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())

    # nothing but the Namespace was persisted
    assert not core.list_namespaced_config_map(namespace).items or all(
        metadata(c).name == "kube-root-ca.crt" for c in core.list_namespaced_config_map(namespace).items
    )
    with pytest.raises(ApiException) as missing:
        client.AppsV1Api(admin_api).read_namespaced_deployment("kfops", namespace)
    assert missing.value.status == 404


def test_restricted_pod_security_admits_the_deployment_and_refuses_a_weaker_pod(
    rendered: dict[str, list[Obj]], applier: Applier, admin_api: client.ApiClient
) -> None:
    """The namespace label makes the API server enforce `restricted` — proven both ways.

    Pod Security enforces on Pods; for a Deployment it only warns (about its pod template). So
    the Deployment must apply without a warning, a Pod made from its template must be admitted,
    and the same Pod with its security context removed must be refused: that last check fails
    if the API server runs without the PodSecurity admission plugin.
    """
    namespace = f"kfops-psa-{uuid.uuid4().hex[:6]}"
    objects = _renamed(rendered["remediate"], namespace)
    ns = _one(objects, "Namespace")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    core = client.CoreV1Api(admin_api)
    core.create_namespace(client.V1Namespace.model_validate(ns))
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount.model_validate(_one(objects, "ServiceAccount"))
    )
    deployment = _one(objects, "Deployment")

    assert applier.apply(deployment) == []
    assert applier.create_pod(namespace, _pod_from(deployment, namespace)) == []

    weaker = _pod_from(deployment, namespace)
    del weaker["spec"]["securityContext"]
    for container in weaker["spec"]["containers"]:
        del container["securityContext"]
    with pytest.raises(ApiException) as refused:
        applier.create_pod(namespace, weaker)
    assert refused.value.status == 403, _message(refused.value)
    message = _message(refused.value)
    assert 'violates PodSecurity "restricted:latest"' in message, message
    assert "allowPrivilegeEscalation" in message and "runAsNonRoot" in message

    weaker_deployment = copy.deepcopy(deployment)
    weaker_deployment["spec"]["template"]["spec"] = weaker["spec"]
    warnings = applier.apply(weaker_deployment)
    assert any("restricted:latest" in w for w in warnings), warnings


# ------------------------------------------------------------------ least privilege


def _bound_cluster_roles(objects: list[Obj]) -> set[str]:
    return {
        b["roleRef"]["name"]
        for b in _find(objects, "ClusterRoleBinding")
        if {"kind": "ServiceAccount", "name": "kfops", "namespace": NAMESPACE} in b["subjects"]
    }


def test_the_remediate_overlay_grants_exactly_what_the_playbooks_write(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["remediate"]
    assert role_grants(_one(objects, "ClusterRole", "kfops-remediate")) == playbook_writes()
    assert _bound_cluster_roles(objects) == {"kfops-reader", "kfops-remediate"}
    reader = role_grants(_one(objects, "ClusterRole", "kfops-reader"))
    assert {verb for _, _, verb in reader} <= READ_VERBS
    # every executable action keeps its playbook's own mode (approve)
    settings = Settings.load(environ=_one(objects, "ConfigMap", "kfops-settings")["data"])
    assert {policy_mode(settings, p) for p in PLAYBOOKS.values()} == {"approve"}


def test_the_diagnose_only_overlay_writes_nothing_but_the_gate_state(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["diagnose-only"]
    assert not _find(objects, "ClusterRole", "kfops-remediate")
    assert _bound_cluster_roles(objects) == {"kfops-reader"}
    for role in _find(objects, "ClusterRole"):
        assert {verb for _, _, verb in role_grants(role)} <= READ_VERBS, role["metadata"]["name"]
    # the only writes: the gate's state (Leases, approval ConfigMaps), in kfops' own namespace
    [state] = _find(objects, "Role")
    assert state["metadata"] == {**state["metadata"], "name": "kfops-gate-state", "namespace": NAMESPACE}
    assert role_grants(state) == role_grants(_one(rendered["remediate"], "Role", "kfops-gate-state"))
    assert {(g, r) for g, r, v in role_grants(state) if v not in READ_VERBS} == {
        ("", "configmaps"),
        ("coordination.k8s.io", "leases"),
    }
    binding = _one(objects, "RoleBinding")
    assert binding["roleRef"]["name"] == "kfops-gate-state"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kfops", "namespace": NAMESPACE}]
    # every registered action is manual: kfops writes the steps, a human runs them
    settings = Settings.load(environ=_one(objects, "ConfigMap", "kfops-settings")["data"])
    assert {a: policy_mode(settings, p) for a, p in PLAYBOOKS.items()} == dict.fromkeys(PLAYBOOKS, "manual")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_and_secret_references_are_ones_kfops_reads(
    overlay: str, rendered: dict[str, list[Obj]]
) -> None:
    objects = rendered[overlay]
    data = _one(objects, "ConfigMap", "kfops-settings")["data"]
    Settings.load(environ=data)  # raises on an unknown KFOPS_* name's type; names checked below
    known = {f"KFOPS_{name.upper()}" for name in Settings.__dataclass_fields__} | set(
        Settings.ENV_NAMES.values()
    )
    assert {k for k in data if k.startswith("KFOPS_")} <= known
    [container] = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    secret_envs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert set(secret_envs) <= known
    assert {ref["name"] for ref in secret_envs.values()} == {"kfops-secrets"}
    assert not [e for e in container["env"] if "value" in e], "no literal values next to the secrets"
    # every secret setting of Settings is fed from the Secret, never from the ConfigMap
    secret_fields = {
        Settings.ENV_NAMES.get(f.name, f"KFOPS_{f.name.upper()}")
        for f in Settings.__dataclass_fields__.values()
        if not f.repr
    }
    assert not secret_fields & set(data)
