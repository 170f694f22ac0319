"""`kfops doctor` against the real test API server: admin, the shipped reader role, all-manual
policy, a reader role missing one rule. Permissions are answered by the API server's real RBAC
(SelfSubjectAccessReview), as kfops' own ServiceAccount with a TokenRequest token."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client
from typer.testing import CliRunner

from kfops.cli.main import app
from kfops.clients.live.writer import LiveKubeWriter
from kfops.doctor import Level, Row, exit_code
from kfops.doctor.run import run_checks
from kfops.playbooks.gate import policy_mode
from kfops.playbooks.registry import PLAYBOOKS
from kfops.runbooks.registry import ladders
from kfops.runbooks.requirements import READS
from kfops.settings import Settings

from .controlplane import ControlPlane
from .test_rbac import NAMESPACE, _manifest, _token_kubeconfig, _wait_until_bound

ALL_MANUAL = "*=manual"  # what the diagnose-only overlay sets
KUBE_GROUPS = ("kubernetes", "ladder ", "playbook", "gate ", "permissions", "impersonation")


def _kube_rows(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.group.startswith(KUBE_GROUPS)]


def _failed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.status is Level.FAIL]


def _service_account(
    admin_api: client.ApiClient, control_plane: ControlPlane, roles: list[dict[str, Any]], tmp: Path
) -> Path:
    """A fresh ServiceAccount in kfops' namespace bound to `roles` (renamed, so tests never share
    one); its token kubeconfig (context "sa")."""
    core, rbac = client.CoreV1Api(admin_api), client.RbacAuthorizationV1Api(admin_api)
    try:
        core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": NAMESPACE}}))
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    name = f"doctor-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_service_account(
        NAMESPACE, client.V1ServiceAccount.model_validate({"metadata": {"name": name}})
    )
    for role in roles:
        role = copy.deepcopy(role)
        role["metadata"]["name"] = f"{name}-{role['metadata']['name']}"
        rbac.create_cluster_role(client.V1ClusterRole.model_validate(role))
        rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding.model_validate(
                {
                    "metadata": {"name": role["metadata"]["name"]},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": role["metadata"]["name"],
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}],
                }
            )
        )
    token = core.create_namespaced_service_account_token(
        name,
        NAMESPACE,
        client.AuthenticationV1TokenRequest.model_validate({"spec": {"expirationSeconds": 3600}}),
    )
    assert token.status is not None and token.status.token is not None
    kubeconfig = _token_kubeconfig(control_plane, token.status.token, tmp / f"{name}.kubeconfig")
    _wait_until_bound(LiveKubeWriter.connect(str(kubeconfig), "sa"))
    return kubeconfig


def test_admin_is_granted_everything(control_plane: ControlPlane) -> None:
    rows = run_checks(Settings(), str(control_plane.kubeconfig), "admin")
    kube = _kube_rows(rows)
    assert kube and all(r.status is Level.OK for r in kube), [r for r in kube if r.status is not Level.OK]
    assert {f"ladder {lad.id}" for lad in ladders()} <= {r.group for r in kube}
    assert any(r.check == "identity" and "admin" in r.detail for r in kube)
    assert exit_code(rows) == 0


def test_the_shipped_reader_alone_fails_exactly_the_remediation_permissions(
    admin_api: client.ApiClient, control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = _service_account(admin_api, control_plane, [_manifest("clusterrole-reader.yaml")], tmp_path)
    settings = Settings()
    rows = run_checks(settings, str(kubeconfig), "sa")
    assert all(r.status is Level.OK for r in rows if r.group.startswith("ladder ")), _failed(rows)
    failed = _failed(rows)
    enabled = {
        p.action
        for p in PLAYBOOKS.values()
        if policy_mode(settings, p) not in ("manual", "disabled") and p.writes
    }
    assert enabled, "some playbook is enabled by default"
    assert {r.group for r in failed} == {f"playbook {a}" for a in enabled} | {
        "gate state",
        "gate audit events",
    }
    for row in failed:
        wanted = "role-state.yaml" if row.group == "gate state" else "clusterrole-remediate.yaml"
        assert wanted in row.fix and "verbs: [" in row.fix, row
    assert any(r.check == "patch nodes (all namespaces)" for r in failed)
    assert any(r.check == "create leases.coordination.k8s.io in namespace kfops" for r in failed)
    assert exit_code(rows) == 1


def test_all_manual_needs_no_write_permission(
    admin_api: client.ApiClient, control_plane: ControlPlane, tmp_path: Path
) -> None:
    kubeconfig = _service_account(admin_api, control_plane, [_manifest("clusterrole-reader.yaml")], tmp_path)
    rows = run_checks(Settings(action_modes=ALL_MANUAL), str(kubeconfig), "sa")
    assert not _failed(rows), _failed(rows)
    assert not [r for r in rows if r.group.startswith(("playbook ", "gate "))]
    [idle] = [r for r in rows if r.check == "manual or disabled"]
    assert "need no write permission" in idle.detail and "node.drain" in idle.detail
    assert exit_code(rows) == 0


def test_a_reader_role_missing_pod_logs_fails_exactly_that(
    admin_api: client.ApiClient, control_plane: ControlPlane, tmp_path: Path
) -> None:
    role = _manifest("clusterrole-reader.yaml")
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods/log"]]
    kubeconfig = _service_account(admin_api, control_plane, [role], tmp_path)
    rows = run_checks(Settings(action_modes=ALL_MANUAL), str(kubeconfig), "sa")
    failed = _failed(rows)
    assert {r.check for r in failed} == {"get pods/log (all namespaces)"}
    reading_logs = {lad for lad, table in READS.items() if any(r.subresource == "log" for r in table)}
    assert {r.group for r in failed} == {f"ladder {lad}" for lad in reading_logs}
    for row in failed:
        rule = '{apiGroups: [""], resources: ["pods/log"], verbs: ["get"]}'
        assert row.fix == f"add {rule} to deploy/rbac/clusterrole-reader.yaml"


def test_the_cli_exits_1_on_a_refused_permission_and_prints_json(
    admin_api: client.ApiClient, control_plane: ControlPlane, tmp_path: Path
) -> None:
    import json

    kubeconfig = _service_account(admin_api, control_plane, [_manifest("clusterrole-reader.yaml")], tmp_path)
    result = CliRunner().invoke(
        app, ["doctor", "--kubeconfig", str(kubeconfig), "--context", "sa", "-o", "json"], env={}
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "kfops.dev/doctor/v1" and not document["ok"]
    assert any(c["status"] == "FAIL" and c["group"] == "playbook node.cordon" for c in document["checks"])
