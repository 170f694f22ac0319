"""The profile-controller-crashloop ladder's parsers on the exact strings and objects the Profile
controller, controller-runtime, client-go and the API server write (domain.md §4), and the whole
ladder on small snapshots written here: a healthy controller raises no alarm, each fault names
its cause and the fix — never a restart.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.diagnostics.kube.log_lines import error_lines, trim
from kfops.diagnostics.profiles.crds import crd_facts
from kfops.diagnostics.profiles.logs import classify
from kfops.diagnostics.profiles.profiles import profile_facts, unknown_fields
from kfops.diagnostics.profiles.versions import (
    newer,
    newest_release_for,
    parse_image,
    release_of,
    version_key,
    watched_version,
)
from kfops.model import Diagnosis, Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.profile_controller_crashloop import LADDER
from kfops.runbooks.profile_controller_crashloop.proposals import round_up
from kfops.settings import Settings

NOW = "2026-11-24T09:30:00Z"
SA = "system:serviceaccount:kubeflow:profiles-controller-service-account"

# ------------------------------------------------------------------------------- the log classifier
#: real lines: controller-runtime's zap console encoder (tab-separated, JSON context with escaped
#: quotes), client-go's klog reflector warnings, and the controller's own messages (main.go,
#: controllers/profile_controller.go v1.10.0)
LINES = {
    "crd-missing": (
        "2026-11-24T09:27:19Z\tERROR\tcontroller-runtime.source.EventHandler\tif kind is a CRD, it should be "
        'installed before calling Start\t{"kind": "Profile.kubeflow.org", "error": "no matches for kind '
        '\\"Profile\\" in version \\"kubeflow.org/v1\\""}'
    ),
    "istio-crd-missing": (
        "2026-11-24T09:27:20Z\tERROR\tcontroller-runtime.source.EventHandler\tif kind is a CRD, it should be "
        'installed before calling Start\t{"kind": "AuthorizationPolicy.security.istio.io", "error": "no '
        'matches for kind \\"AuthorizationPolicy\\" in version \\"security.istio.io/v1beta1\\""}'
    ),
    "unknown-field": (
        "W1124 09:27:21.993982       1 reflector.go:533] pkg/mod/k8s.io/client-go@v0.27.2/tools/cache/"
        "reflector.go:231: failed to list *v1.Profile: strict decoding error: "
        'unknown field "spec.namespaceLabels"'
    ),
    "conversion": (
        "E1124 09:27:22.100000       1 reflector.go:147] failed to list *v1.Profile: conversion webhook for "
        "kubeflow.org/v1beta1, Kind=Profile failed: "
        'Post "https://profiles-webhook.kubeflow.svc:443/convert": '
        "x509: certificate signed by unknown authority"
    ),
    "rbac-forbidden": (
        "W1124 09:27:21.993982       1 reflector.go:533] pkg/mod/k8s.io/client-go@v0.27.2/tools/cache/"
        "reflector.go:231: failed to list *v1beta1.AuthorizationPolicy: "
        "authorizationpolicies.security.istio.io "
        f'is forbidden: User "{SA}" cannot list resource "authorizationpolicies" in API group '
        '"security.istio.io" at the cluster scope'
    ),
    "inotify": (
        '2026-11-24T09:29:19Z\tERROR\tcontrollers.Profile\tFailed to start file watcher\t{"error": "too many '
        'open files"}'
    ),
    "labels-file": (
        "2026-11-24T09:29:19Z\tERROR\tcontrollers.Profile\tnamespace labels properties file doesn't exist\t"
        '{"path": "/etc/profile-controller/namespace-labels.yaml"}'
    ),
}
NOISE = (
    "2026-11-24T09:27:18Z\tINFO\tsetup\tstarting "
    "manager\n2026-11-24T09:27:18Z\tINFO\tcontroller-runtime.metrics\t"
    'Metrics server is starting to listen\t{"addr": ":8080"}\n'
)


@pytest.mark.parametrize("cls", sorted(LINES))
def test_each_class_is_recognised_on_its_real_line(cls: str) -> None:
    found = classify(NOISE + LINES[cls] + "\n")
    assert found is not None and found.cls == cls
    assert found.line == LINES[cls]


def test_the_classifier_reads_what_the_lines_name() -> None:
    crd = classify(LINES["crd-missing"])
    assert crd is not None and (crd.kind, crd.api_version) == ("Profile", "kubeflow.org/v1")
    field = classify(LINES["unknown-field"])
    assert field is not None and field.field == "spec.namespaceLabels"
    rbac = classify(LINES["rbac-forbidden"])
    assert rbac is not None and rbac.denial is not None
    d = rbac.denial
    assert (d.verb, d.resource, d.group, d.namespace) == (
        "list",
        "authorizationpolicies",
        "security.istio.io",
        "",
    )
    assert d.service_account == ("kubeflow", "profiles-controller-service-account")


def test_a_namespaced_denial_names_its_namespace() -> None:
    line = (
        'leases.coordination.k8s.io "kubeflow-profile-controller" is forbidden: User "' + SA + '" cannot get '
        'resource "leases" in API group "coordination.k8s.io" in the namespace "kubeflow"'
    )
    found = classify(line)
    assert found is not None and found.denial is not None
    assert (found.denial.verb, found.denial.group, found.denial.namespace) == (
        "get",
        "coordination.k8s.io",
        "kubeflow",
    )


def test_the_first_class_by_priority_wins_whatever_the_line_order() -> None:
    text = "\n".join((LINES["inotify"], LINES["rbac-forbidden"], LINES["crd-missing"]))
    found = classify(text)
    assert found is not None and found.cls == "crd-missing"


def test_another_kind_missing_is_not_the_profile_crd() -> None:
    line = 'no matches for kind "Notebook" in version "kubeflow.org/v1beta1"'
    found = classify(line)
    assert found is not None and found.kind == "Notebook" and found.cls == "crd-missing"
    other = 'no matches for kind "Certificate" in version "cert-manager.io/v1"'
    assert classify(other) is None


def test_an_ordinary_log_matches_nothing_and_its_error_lines_are_quoted() -> None:
    text = (
        NOISE + '2026-11-24T09:28:19Z\tERROR\tsetup\tproblem running manager\t{"error": "context canceled"}\n'
    )
    assert classify(text) is None
    assert error_lines(text) == (
        '2026-11-24T09:28:19Z\tERROR\tsetup\tproblem running manager\t{"error": "context canceled"}',
    )


def test_a_long_line_is_quoted_around_the_match() -> None:
    found = classify(LINES["rbac-forbidden"])
    assert found is not None
    assert "cannot list resource" in found.quote and found.quote.startswith("…")
    assert len(trim("x" * 1000)) <= 301


# ------------------------------------------------------------------------------- versions
@pytest.mark.parametrize(
    ("ref", "repository", "tag", "digest"),
    [
        (
            "ghcr.io/kubeflow/kubeflow/profile-controller:v1.10.0",
            "ghcr.io/kubeflow/kubeflow/profile-controller",
            "v1.10.0",
            "",
        ),
        (
            "registry.local:5000/kf/profile-controller:v1.9.1",
            "registry.local:5000/kf/profile-controller",
            "v1.9.1",
            "",
        ),
        ("registry.local:5000/kf/profile-controller", "registry.local:5000/kf/profile-controller", "", ""),
        ("ghcr.io/kubeflow/kubeflow/kfam@sha256:abc", "ghcr.io/kubeflow/kubeflow/kfam", "", "sha256:abc"),
    ],
)
def test_image_references_split_like_a_registry(ref: str, repository: str, tag: str, digest: str) -> None:
    image = parse_image(ref)
    assert (image.repository, image.tag, image.digest) == (repository, tag, digest)


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("v0.7.0", "v1beta1"),
        ("v0.6.2", "v1beta1"),
        ("v1.0.0", "v1"),
        ("v1.10.0", "v1"),
        ("1.9.1", "v1"),
        ("v1.8.0-rc.1", "v1"),
        ("latest", None),
        ("", None),
        ("sha-3f1c9a5", None),
    ],
)
def test_the_version_table(tag: str, version: str | None) -> None:
    assert watched_version(tag) == version


def test_release_and_api_version_ordering() -> None:
    assert release_of("v1.10.0") == (1, 10, 0) and release_of("master") is None
    assert newest_release_for("v1") == "v1.10.0" and newest_release_for("v1beta1") == "v0.7.0"
    assert newest_release_for("v2") is None
    ordered = sorted(["v2", "v1", "v2beta1", "v1beta1", "v1alpha1", "v2alpha1"], key=version_key)
    assert ordered == ["v1alpha1", "v1beta1", "v1", "v2alpha1", "v2beta1", "v2"]
    assert newer("v1", "v1beta1") and not newer("v1beta1", "v1")


# ------------------------------------------------------------------------------- Profiles
def test_the_fields_every_controller_knows_raise_nothing() -> None:
    spec = {
        "owner": {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"},
        "resourceQuotaSpec": {"hard": {"cpu": "8"}},
        "plugins": [{"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": "x@y.iam"}}],
    }
    assert unknown_fields(spec) == ()


def test_unknown_fields_are_named_by_path() -> None:
    spec = {
        "owner": {"kind": "User", "name": "a", "email": "a@b"},
        "namespaceLabels": {"x": "y"},
        "plugins": [{"kind": "AwsIamForServiceAccount", "spec": {}}, {"kind": "AzureWorkloadIdentity"}],
    }
    assert unknown_fields(spec) == (
        "spec.namespaceLabels",
        "spec.owner.email",
        "spec.plugins[1].kind=AzureWorkloadIdentity",
    )


def test_who_changed_a_field_comes_from_managed_fields() -> None:
    raw = _profile("team-vision", extra={"namespaceLabels": {"a": "b"}}, editor="kubectl-edit")
    profile = profile_facts(raw)
    change = profile.changed_by("spec.namespaceLabels")
    assert change is not None and change.manager == "kubectl-edit"
    assert profile.restorable and profile.last_applied_spec is not None
    assert "namespaceLabels" not in profile.last_applied_spec


# ------------------------------------------------------------------------------- CRDs
def test_crd_versions_served_storage_and_stale_stored_versions() -> None:
    crd = crd_facts("profiles.kubeflow.org", _profile_crd(("v1",), stored=("v1beta1", "v1")))
    assert crd.served == ("v1",) and crd.storage == "v1" and crd.conversion == "None"
    assert crd.stale_stored == ("v1beta1",)
    both = crd_facts("profiles.kubeflow.org", _profile_crd(("v1beta1", "v1")))
    assert both.served == ("v1beta1", "v1") and both.stale_stored == ()


# ------------------------------------------------------------------------------- the whole ladder
def _deployment(manager: str = "v1.10.0", kfam: str = "v1.10.0", memory: str | None = None) -> dict[str, Any]:
    resources = {"limits": {"memory": memory}, "requests": {"memory": "64Mi"}} if memory else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "profiles-deployment",
            "namespace": "kubeflow",
            "uid": "d-uid",
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {
            "selector": {"matchLabels": {"kustomize.component": "profiles"}},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "manager",
                            "image": f"ghcr.io/kubeflow/kubeflow/profile-controller:{manager}",
                            "resources": resources,
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9876}},
                        },
                        {"name": "kfam", "image": f"ghcr.io/kubeflow/kubeflow/kfam:{kfam}"},
                    ]
                }
            },
        },
    }


def _replicaset(revision: int, manager: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"profiles-deployment-rs{revision}",
            "namespace": "kubeflow",
            "labels": {"kustomize.component": "profiles"},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"kind": "Deployment", "name": "profiles-deployment", "uid": "d-uid"}],
        },
        "spec": _deployment(manager)["spec"],
    }


def _pod(
    manager_state: dict[str, Any] | None = None, last: dict[str, Any] | None = None, restarts: int = 0
) -> dict[str, Any]:
    deployment = _deployment()
    running = {"running": {"startedAt": "2026-11-20T08:00:00Z"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "profiles-deployment-rs2-abcde",
            "namespace": "kubeflow",
            "uid": "p-uid",
            "labels": {"kustomize.component": "profiles"},
            "creationTimestamp": "2026-11-20T08:00:00Z",
        },
        "spec": {"nodeName": "kf-cpu-1", **deployment["spec"]["template"]["spec"]},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "manager",
                    "ready": manager_state is None,
                    "restartCount": restarts,
                    "state": manager_state or running,
                    "lastState": {"terminated": last} if last else {},
                },
                {"name": "kfam", "ready": True, "restartCount": 0, "state": running},
            ],
        },
    }


def _profile_crd(served: tuple[str, ...], stored: tuple[str, ...] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "profiles.kubeflow.org", "uid": "crd-uid"},
        "spec": {
            "group": "kubeflow.org",
            "scope": "Cluster",
            "conversion": {"strategy": "None"},
            "versions": [{"name": v, "served": True, "storage": v == served[-1]} for v in served],
        },
        "status": {"storedVersions": list(stored or served[-1:])},
    }


ISTIO_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "authorizationpolicies.security.istio.io"},
    "spec": {
        "group": "security.istio.io",
        "versions": [
            {"name": "v1beta1", "served": True, "storage": False},
            {"name": "v1", "served": True, "storage": True},
        ],
    },
    "status": {"storedVersions": ["v1"]},
}


def _profile(name: str, extra: dict[str, Any] | None = None, editor: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"owner": {"kind": "User", "name": f"{name}@example.com"}}
    applied = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Profile",
        "metadata": {"name": name},
        "spec": copy.deepcopy(spec),
    }
    managed = [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "time": "2026-10-01T10:00:00Z",
            "fieldsV1": {"f:spec": {"f:owner": {}}},
        }
    ]
    if extra:
        spec.update(extra)
        managed.append(
            {
                "manager": editor or "kubectl-edit",
                "operation": "Update",
                "time": "2026-11-24T08:50:00Z",
                "fieldsV1": {"f:spec": {f"f:{k}": {} for k in extra}},
            }
        )
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "Profile",
        "metadata": {
            "name": name,
            "uid": f"{name}-uid",
            "resourceVersion": "4711",
            "creationTimestamp": "2026-10-01T10:00:00Z",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)},
            "managedFields": managed,
        },
        "spec": spec,
    }


def _reconciled(name: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "annotations": {"owner": f"{name}@example.com"}},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "namespaceAdmin", "namespace": name},
        },
        {
            "apiVersion": "security.istio.io/v1beta1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "ns-owner-access-istio", "namespace": name},
        },
    ]


def _healthy() -> list[dict[str, Any]]:
    return [
        _deployment(),
        _replicaset(2, "v1.10.0"),
        _replicaset(1, "v1.9.1"),
        _pod(),
        _profile_crd(("v1beta1", "v1")),
        copy.deepcopy(ISTIO_CRD),
        _profile("alice"),
        *_reconciled("alice"),
    ]


def _diagnose(tmp: Path, objects: list[dict[str, Any]], logs: dict[str, str] | None = None) -> Diagnosis:
    (tmp / "kfops-snapshot.yaml").write_text(yaml.safe_dump({"capturedAt": NOW, "cluster": "unit"}))
    (tmp / "objects.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}))
    for name, text in (logs or {}).items():
        path = tmp / "logs" / "kubeflow" / "profiles-deployment-rs2-abcde" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    [diagnosis] = Engine(SnapshotKubeReader.open(tmp), Settings()).diagnose(LADDER)
    return diagnosis


def _statuses(d: Diagnosis) -> dict[str, str]:
    return {f.rung: f.branch for f in d.findings}


CRASH = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}
EXIT_1 = {"reason": "Error", "exitCode": 1, "finishedAt": "2026-11-24T09:29:00Z"}


def test_a_healthy_controller_raises_no_alarm(tmp_path: Path) -> None:
    d = _diagnose(tmp_path, _healthy())
    assert d.conclusion.verdict is Verdict.HEALTHY, d.conclusion.summary
    assert d.target == "kubeflow/profiles-deployment"
    assert not d.errors and not d.proposals
    assert all(f.status is Status.OK for f in d.findings), _statuses(d)


def test_controller_upgraded_past_the_crd_rolls_back_to_the_previous_replicaset(tmp_path: Path) -> None:
    objects = _healthy()
    objects[3] = _pod(CRASH, EXIT_1, restarts=7)
    objects[4] = _profile_crd(("v1beta1",))
    objects[1], objects[2] = _replicaset(2, "v1.10.0"), _replicaset(1, "v0.7.0")
    d = _diagnose(tmp_path, objects, {"manager.previous.log": NOISE + LINES["crd-missing"] + "\n"})
    assert d.conclusion.cause == "controller-ahead-of-crd", d.conclusion.summary
    assert "would crash again" in d.conclusion.summary and "v1.10.0" in d.conclusion.summary
    [set_image] = [p for p in d.proposals if p.action == "deployment.set-image"]
    assert set_image.params["to_image"] == "ghcr.io/kubeflow/kubeflow/profile-controller:v0.7.0"
    assert (set_image.params["from_version"], set_image.params["to_version"]) == ("v1.10.0", "v0.7.0")
    assert "deployment.restart" not in {p.action for p in d.proposals}


def test_crd_upgraded_past_the_controller_upgrades_the_controller(tmp_path: Path) -> None:
    objects = _healthy()
    objects[0] = _deployment(manager="v0.7.0")
    objects[3] = _pod(CRASH, EXIT_1, restarts=7)
    objects[4] = _profile_crd(("v1",), stored=("v1beta1", "v1"))
    d = _diagnose(tmp_path, objects)  # no log: the version table says v0.7.0 watches v1beta1
    assert d.conclusion.cause == "crd-ahead-of-controller", d.conclusion.summary
    [set_image] = [p for p in d.proposals if p.action == "deployment.set-image"]
    assert set_image.params["to_image"] == "ghcr.io/kubeflow/kubeflow/profile-controller:v1.10.0"
    assert set_image.params["uid"] == "d-uid" and set_image.params["container"] == "manager"


def test_a_missing_profile_crd_is_an_answer_not_an_error(tmp_path: Path) -> None:
    objects = [o for o in _healthy() if o["metadata"].get("name") != "profiles.kubeflow.org"]
    objects[3] = _pod(CRASH, EXIT_1, restarts=3)
    d = _diagnose(tmp_path, objects)
    assert _statuses(d)["profile-crd"] == "crd-missing" and not d.errors
    assert d.conclusion.cause == "profile-crd-missing"
    [install] = d.proposals
    assert install.action == "profile.install-crd" and any("ref=v1.10.0" in s for s in install.steps)


def test_an_unknown_field_proposes_restoring_the_last_applied_spec(tmp_path: Path) -> None:
    objects = _healthy()
    objects[3] = _pod(CRASH, EXIT_1, restarts=4)
    objects[6] = _profile("alice", extra={"namespaceLabels": {"team": "a"}})
    d = _diagnose(tmp_path, objects, {"manager.previous.log": LINES["unknown-field"]})
    assert d.conclusion.cause == "unknown-profile-field", d.conclusion.summary
    [rollback] = [p for p in d.proposals if p.action == "profile.rollback"]
    assert rollback.target == "profile/alice"
    assert rollback.params["fields"] == ["spec.namespaceLabels"]
    assert rollback.params["restore_spec"] == {"owner": {"kind": "User", "name": "alice@example.com"}}
    assert rollback.params["resource_version"] == "4711" and rollback.params["uid"] == "alice-uid"


def test_without_a_clean_last_applied_spec_the_rollback_is_manual(tmp_path: Path) -> None:
    objects = _healthy()
    profile = _profile("alice", extra={"namespaceLabels": {"team": "a"}})
    del profile["metadata"]["annotations"]
    objects[6] = profile
    d = _diagnose(tmp_path, objects)
    actions = sorted(p.action for p in d.proposals)
    assert actions == ["profile.restore-spec", "profile.upgrade-controller"]


def test_an_oom_kill_raises_the_limit_by_half_rounded_to_64mi(tmp_path: Path) -> None:
    objects = _healthy()
    objects[0] = _deployment(memory="100Mi")
    oom = {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-24T09:29:00Z"}
    objects[3] = _pod(CRASH, oom, restarts=5)
    d = _diagnose(tmp_path, objects, {"manager.previous.log": NOISE})
    assert d.conclusion.cause == "oom-killed"
    [resources] = d.proposals
    assert resources.params["memory_limit"] == "192Mi"  # 100Mi × 1.5 = 150Mi → 192Mi
    assert resources.params["memory_request"] == "64Mi"  # min(current 64Mi, 192Mi)
    assert round_up(Decimal(150 * 2**20)) == 192 * 2**20


def test_rbac_forbidden_writes_the_exact_rule(tmp_path: Path) -> None:
    objects = _healthy()
    objects[3] = _pod(CRASH, EXIT_1, restarts=4)
    d = _diagnose(tmp_path, objects, {"manager.previous.log": LINES["rbac-forbidden"]})
    assert d.conclusion.cause == "rbac-forbidden"
    [grant] = d.proposals
    assert grant.action == "rbac.grant"
    rule = next(s for s in grant.steps if "kind: ClusterRole\n" in s)
    assert 'apiGroups: ["security.istio.io"]' in rule and 'verbs: ["list"]' in rule
    assert "name: profiles-controller-service-account" in rule


def test_a_profile_without_its_namespace_is_user_visible_damage(tmp_path: Path) -> None:
    objects = [*_healthy(), _profile("bob")]
    d = _diagnose(tmp_path, objects)
    [finding] = [f for f in d.findings if f.rung == "reconciled-objects"]
    assert finding.status is Status.WARN and "bob" in finding.summary
    assert "Unable to contact Profile Controller" in finding.summary
