"""The remediation gate against the real API server: every rule of DESIGN.md §6, each refusal a sentence.

On-call users (client certificates): alice, bob and carol in group gpu-oncall, bound to the
shipped kfops-reader and kfops-remediate ClusterRoles and the kfops-gate-state Role; dave is
authenticated and holds nothing. Each test gets its own state namespace, so pause, breaker and
approvals never leak between tests.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.live.writer import LiveKubeWriter
from kfops.model import Mode, Proposal, Risk
from kfops.playbooks.audit import AuditLog
from kfops.playbooks.gate import Executed, Gate, Refused
from kfops.playbooks.registry import PLAYBOOKS
from kfops.settings import Settings
from tests.support.kube import metadata

from .controlplane import ControlPlane
from .test_live_reader import _create_node, _device_plugin_pod, _node

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "rbac"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((RBAC / name).read_text())
    return loaded


def _create(call: Callable[[], Any]) -> None:
    try:
        call()
    except ApiException as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="module")
def oncall_roles(admin_api: client.ApiClient) -> None:
    """The shipped ClusterRoles, bound to the gpu-oncall group (once per module)."""
    rbac = client.RbacAuthorizationV1Api(admin_api)
    for manifest in ("clusterrole-reader.yaml", "clusterrole-remediate.yaml"):
        role = _load(manifest)
        _create(functools.partial(rbac.create_cluster_role, client.V1ClusterRole.model_validate(role)))
        binding = {
            "metadata": {"name": f"gpu-oncall-{role['metadata']['name']}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role["metadata"]["name"],
            },
            "subjects": [{"kind": "Group", "name": "gpu-oncall", "apiGroup": "rbac.authorization.k8s.io"}],
        }
        _create(
            functools.partial(
                rbac.create_cluster_role_binding, client.V1ClusterRoleBinding.model_validate(binding)
            )
        )


@pytest.fixture
def settings(admin_api: client.ApiClient, oncall_roles: None, tmp_path: Path) -> Settings:
    """A fresh state namespace with the shipped gate-state Role bound to gpu-oncall."""
    namespace = f"kfops-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin_api).create_namespace(
        client.V1Namespace.model_validate({"metadata": {"name": namespace}})
    )
    rbac = client.RbacAuthorizationV1Api(admin_api)
    role = _load("role-state.yaml")
    role["metadata"]["namespace"] = namespace
    rbac.create_namespaced_role(namespace, client.V1Role.model_validate(role))
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": "gpu-oncall-gate-state"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "kfops-gate-state",
                },
                "subjects": [
                    {"kind": "Group", "name": "gpu-oncall", "apiGroup": "rbac.authorization.k8s.io"}
                ],
            }
        ),
    )
    return Settings(
        namespace=namespace,
        audit_path=str(tmp_path / "audit.jsonl"),
        drain_timeout_s=6,
        min_schedulable_gpu_nodes=0,
        min_schedulable_gpu_fraction=0.0,
        rate_limit_per_action=50,
        breaker_trip_after=50,
    )


class People:
    """A gate per user, reading and writing with that user's own credentials."""

    def __init__(self, control_plane: ControlPlane, settings: Settings) -> None:
        self.kubeconfig = str(control_plane.kubeconfig)
        self.settings = settings

    def gate(self, user: str, clock: Callable[[], datetime] | None = None, **overrides: Any) -> Gate:
        settings = Settings(**{**self.settings.__dict__, **overrides}) if overrides else self.settings
        reader = LiveKubeReader.connect(self.kubeconfig, user)
        writer = LiveKubeWriter.connect(self.kubeconfig, user)
        return Gate(reader, writer, settings, clock=clock)

    def who(self, user: str) -> Any:
        return LiveKubeWriter.connect(self.kubeconfig, user).identity()


@pytest.fixture
def people(control_plane: ControlPlane, settings: Settings) -> People:
    return People(control_plane, settings)


@pytest.fixture
def gpu_node(core: client.CoreV1Api, control_plane: ControlPlane) -> Iterator[str]:
    name = f"gpu-gate-{uuid.uuid4().hex[:6]}"
    _create_node(core, _node(name, control_plane.kubelet.port, "True", 300))
    yield name


def proposal(action: str, target: str, **params: Any) -> Proposal:
    playbook = PLAYBOOKS[action]
    return Proposal(
        action=action,
        target=target,
        title=f"{action} {target}",
        risk=playbook.risk,
        mode=Mode.APPROVE,
        rationale=("test",),
        params=params,
    )


def run_low_risk(gate: Gate, who: Any, p: Proposal) -> Executed:
    prepared = gate.prepare(p, who)
    record = gate.request(prepared, who)
    if who.username not in record.approvers:  # a retry after a refusal keeps the approval it had
        gate.approve(prepared.plan.id, who, self_approval=True)
    return gate.execute(prepared.plan.id, who)


def unschedulable(core: client.CoreV1Api, node: str) -> bool:
    spec = core.read_node(node).spec
    assert spec is not None
    return bool(spec.unschedulable)


def audit_events(settings: Settings) -> list[str]:
    import json

    path = Path(settings.audit_path)
    return [json.loads(line)["event"] for line in path.read_text().splitlines()] if path.exists() else []


def test_dry_run_shows_the_diff_and_changes_nothing(
    people: People, core: client.CoreV1Api, gpu_node: str
) -> None:
    prepared = people.gate("alice").prepare(proposal("node.cordon", f"node/{gpu_node}"), people.who("alice"))
    assert prepared.plan.diff == ("- spec.unschedulable: false", "+ spec.unschedulable: true")
    assert prepared.dry_run == (f'dry-run OK: PATCH nodes/{gpu_node}: {{"spec": {{"unschedulable": true}}}}',)
    assert all(check.allowed for check in prepared.access)
    assert not unschedulable(core, gpu_node)


def test_cordon_executes_once_verifies_and_audits(
    people: People, core: client.CoreV1Api, gpu_node: str, settings: Settings
) -> None:
    gate, alice = people.gate("alice"), people.who("alice")
    observed: list[Executed] = []
    gate.observers.append(observed.append)
    executed = run_low_risk(gate, alice, proposal("node.cordon", f"node/{gpu_node}"))
    assert executed.outcome.ok and executed.verification.ok
    assert observed == [executed]
    assert executed.verification.summary == f"node {gpu_node} is cordoned (spec.unschedulable=true)"
    assert executed.executed_as == "alice"
    assert unschedulable(core, gpu_node)
    with pytest.raises(Refused, match="already executed"):
        gate.execute(executed.plan.id, alice)  # the second click
    events = core.list_event_for_all_namespaces(field_selector=f"involvedObject.name={gpu_node}").items
    assert [e.reason for e in events if e.reason == "KfopsRemediation"] == ["KfopsRemediation"]
    assert audit_events(settings) == ["requested", "approved", "executed"]
    assert AuditLog(Path(settings.audit_path)).verify().ok


def test_an_unauthorised_user_is_refused_before_any_write(
    people: People, core: client.CoreV1Api, gpu_node: str
) -> None:
    with pytest.raises(Refused) as refused:
        people.gate("dave").prepare(proposal("node.cordon", f"node/{gpu_node}"), people.who("dave"))
    assert str(refused.value).startswith(
        f"dave may not do this: missing 'patch' on 'nodes' (cluster scope) for {gpu_node}"
    )
    assert not unschedulable(core, gpu_node)


def test_impersonation_acts_as_the_approver(
    control_plane: ControlPlane, settings: Settings, gpu_node: str
) -> None:
    writer = LiveKubeWriter.connect(str(control_plane.kubeconfig), "admin", impersonate_user="dave")
    assert writer.identity().username == "dave"
    gate = Gate(LiveKubeReader.connect(str(control_plane.kubeconfig), "admin"), writer, settings)
    with pytest.raises(Refused, match="dave may not do this"):
        gate.prepare(proposal("node.cordon", f"node/{gpu_node}"), writer.identity())


def test_high_risk_needs_two_distinct_approvers_never_the_requester(
    people: People, core: client.CoreV1Api, control_plane: ControlPlane
) -> None:
    node = f"gpu-dead-{uuid.uuid4().hex[:6]}"
    _create_node(core, _node(node, control_plane.kubelet.port, "Unknown", 22))
    taint = proposal("node.out-of-service-taint", f"node/{node}")
    alice, bob, carol = people.who("alice"), people.who("bob"), people.who("carol")
    gate = people.gate("alice")
    prepared = gate.prepare(taint, alice)
    record = gate.request(prepared, alice)
    assert record.required == 2
    plan_id = prepared.plan.id
    with pytest.raises(Refused, match=f"alice requested plan {plan_id} and cannot approve it"):
        gate.approve(plan_id, alice, self_approval=True)
    assert not people.gate("bob").approve(plan_id, bob).complete
    with pytest.raises(Refused, match=f"bob already approved plan {plan_id}"):
        people.gate("bob").approve(plan_id, bob)
    with pytest.raises(Refused, match="has 1 of 2 approvals"):
        gate.execute(plan_id, alice)
    assert people.gate("carol").approve(plan_id, carol).complete
    executed = people.gate("carol").execute(plan_id, carol)
    assert executed.verification.ok
    spec = core.read_node(node).spec
    assert spec is not None and spec.taints is not None
    taints = {(t.key, t.value, t.effect) for t in spec.taints}
    assert ("node.kubernetes.io/out-of-service", "nodeshutdown", "NoExecute") in taints


def test_an_expired_approval_is_refused(people: People, gpu_node: str, core: client.CoreV1Api) -> None:
    alice, bob = people.who("alice"), people.who("bob")
    gate = people.gate("alice")
    prepared = gate.prepare(proposal("node.cordon", f"node/{gpu_node}"), alice)
    gate.request(prepared, alice)
    later = people.gate("bob", clock=lambda: datetime.now(UTC) + timedelta(minutes=16))
    with pytest.raises(Refused, match=f"plan {prepared.plan.id} expired at"):
        later.approve(prepared.plan.id, bob)
    assert not unschedulable(core, gpu_node)


def test_a_precondition_that_changed_after_approval_is_refused(
    people: People, core: client.CoreV1Api, gpu_node: str, settings: Settings
) -> None:
    alice = people.who("alice")
    gate = people.gate("alice")
    prepared = gate.prepare(proposal("node.cordon", f"node/{gpu_node}"), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    core.patch_node(gpu_node, {"spec": {"unschedulable": True}})  # someone cordoned it by hand meanwhile
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        f"the cluster changed since approval: node {gpu_node} is already cordoned; nothing was done"
    )
    assert "executed" not in audit_events(settings)


def test_two_concurrent_executions_of_one_plan_execute_once(
    people: People, gpu_node: str, settings: Settings
) -> None:
    alice = people.who("alice")
    gate = people.gate("alice")
    prepared = gate.prepare(proposal("node.cordon", f"node/{gpu_node}"), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def click() -> None:
        mine = people.gate("alice")
        barrier.wait()
        try:
            results.append(mine.execute(prepared.plan.id, alice))
        except Refused as exc:
            results.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(type(r).__name__ for r in results) == ["Executed", "Refused"]
    assert audit_events(settings).count("executed") == 1


def test_the_breaker_trips_and_blocks_until_a_human_resets_it(
    people: People, core: client.CoreV1Api, control_plane: ControlPlane
) -> None:
    nodes = [f"gpu-brk-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for node in nodes:
        _create_node(core, _node(node, control_plane.kubelet.port, "True", 300))
    alice = people.who("alice")
    gate = people.gate("alice", breaker_trip_after=2)
    assert not run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[0]}")).breaker_opened
    assert run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[1]}")).breaker_opened
    with pytest.raises(Refused, match=r"the circuit breaker is open .* `kfops breaker reset`"):
        run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[2]}"))
    assert not unschedulable(core, nodes[2])
    gate.control.reset_breaker("alice")
    assert run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[2]}")).verification.ok


def test_pause_blocks_everything_until_resume(people: People, core: client.CoreV1Api, gpu_node: str) -> None:
    alice = people.who("alice")
    gate = people.gate("alice")
    gate.control.set_paused(True, "bob", "GPU maintenance window")
    with pytest.raises(Refused, match=r"kfops is paused by bob \(GPU maintenance window\)"):
        run_low_risk(gate, alice, proposal("node.cordon", f"node/{gpu_node}"))
    assert not unschedulable(core, gpu_node)
    gate.control.set_paused(False, "bob")
    assert run_low_risk(people.gate("alice"), alice, proposal("node.cordon", f"node/{gpu_node}")).outcome.ok


def test_rate_limit_per_action(people: People, core: client.CoreV1Api, control_plane: ControlPlane) -> None:
    nodes = [f"gpu-rate-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for node in nodes:
        _create_node(core, _node(node, control_plane.kubelet.port, "True", 300))
    alice = people.who("alice")
    gate = people.gate("alice", rate_limit_per_action=1)
    run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[0]}"))
    with pytest.raises(Refused, match=r"rate limit: node\.cordon ran 1 times"):
        run_low_risk(gate, alice, proposal("node.cordon", f"node/{nodes[1]}"))


def test_the_minimum_healthy_floor_refuses_the_last_schedulable_gpu_nodes(
    people: People, gpu_node: str
) -> None:
    gate = people.gate("alice", min_schedulable_gpu_nodes=10_000)
    alice = people.who("alice")
    with pytest.raises(Refused, match=f"minimum-healthy floor: taking {gpu_node} out would leave"):
        run_low_risk(gate, alice, proposal("node.cordon", f"node/{gpu_node}"))


def _running_pod(
    core: client.CoreV1Api, namespace: str, node: str, name: str, labels: dict[str, str]
) -> None:
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": "rs-1",
                            "uid": str(uuid.uuid4()),
                            "controller": True,
                        }
                    ],
                },
                "spec": {"nodeName": node, "containers": [{"name": "main", "image": "trainer:1"}]},
            }
        ),
    )
    core.patch_namespaced_pod_status(
        name, namespace, {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    )


def test_drain_evicts_and_reports_the_pdb_that_blocks(
    people: People, core: client.CoreV1Api, admin_api: client.ApiClient, gpu_node: str
) -> None:
    namespace = f"team-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    _running_pod(core, namespace, gpu_node, "free-worker", {"app": "free"})
    _running_pod(core, namespace, gpu_node, "guarded-worker", {"app": "guarded"})
    policy = client.PolicyV1Api(admin_api)
    policy.create_namespaced_pod_disruption_budget(
        namespace,
        client.V1PodDisruptionBudget.model_validate(
            {
                "metadata": {"name": "guarded-pdb"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}},
            }
        ),
    )
    generation = metadata(policy.read_namespaced_pod_disruption_budget("guarded-pdb", namespace)).generation
    # What the disruption controller would write: one healthy pod, none may go.
    policy.patch_namespaced_pod_disruption_budget_status(
        "guarded-pdb",
        namespace,
        {
            "status": {
                "observedGeneration": generation,
                "disruptionsAllowed": 0,
                "currentHealthy": 1,
                "desiredHealthy": 1,
                "expectedPods": 1,
            }
        },
    )
    executed = run_low_risk(
        people.gate("alice"), people.who("alice"), proposal("node.drain", f"node/{gpu_node}")
    )
    assert not executed.outcome.ok
    assert "1 eviction(s) blocked by a PodDisruptionBudget" in executed.outcome.summary
    blocked = [d for d in executed.outcome.details if d.startswith("BLOCKED")]
    assert len(blocked) == 1 and blocked[0].startswith(f"BLOCKED {namespace}/guarded-worker:")
    assert "The disruption budget guarded-pdb needs 1 healthy pods and has 1 currently" in blocked[0]
    assert f"evict {namespace}/free-worker" in executed.outcome.details
    assert metadata(core.read_namespaced_pod("free-worker", namespace)).deletion_timestamp is not None
    assert metadata(core.read_namespaced_pod("guarded-worker", namespace)).deletion_timestamp is None
    assert unschedulable(core, gpu_node)


def test_drain_refuses_local_data_unless_allowed(
    people: People, core: client.CoreV1Api, gpu_node: str
) -> None:
    namespace = f"team-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {"name": "scratch"},
                "spec": {
                    "nodeName": gpu_node,
                    "containers": [{"name": "main", "image": "trainer:1"}],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            }
        ),
    )
    with pytest.raises(Refused, match=f"{namespace}/scratch has emptyDir data that eviction destroys"):
        people.gate("alice").prepare(proposal("node.drain", f"node/{gpu_node}"), people.who("alice"))


def test_restart_device_plugin_deletes_exactly_that_pod(
    people: People, core: client.CoreV1Api, gpu_node: str
) -> None:
    namespace = f"gpu-operator-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    pod = _device_plugin_pod(core, namespace, gpu_node)
    restart = proposal(
        "gpu.restart-device-plugin", f"pod/{namespace}/{pod}", node=gpu_node, pod=pod, namespace=namespace
    )
    executed = run_low_risk(people.gate("alice"), people.who("alice"), restart)
    assert executed.outcome.ok and executed.verification.ok, executed.verification.summary
    assert metadata(core.read_namespaced_pod(pod, namespace)).deletion_timestamp is not None
    assert executed.plan.steps[0].uid


def role_grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) for every rule of an RBAC role, resourceNames or not."""
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def playbook_writes() -> set[tuple[str, str, str]]:
    """What the registered playbooks declare they write, plus the Event every execution records."""
    declared = {
        (ref.group, ref.plural + (f"/{sub}" if sub else ""), verb)
        for p in PLAYBOOKS.values()
        for verb, ref, sub in p.writes
    }
    return declared | {("", "events", "create")}


def test_the_shipped_remediation_role_grants_exactly_what_the_playbooks_use() -> None:
    granted = role_grants(_load("clusterrole-remediate.yaml"))
    used = {
        ("", "nodes", "patch"),
        ("", "pods/eviction", "create"),
        ("", "pods", "delete"),
        ("batch", "jobs", "delete"),
        ("batch", "jobs", "create"),
        ("apps", "deployments", "patch"),
        ("serving.kserve.io", "inferenceservices", "patch"),
        ("kubeflow.org", "profiles", "patch"),
        ("", "events", "create"),
    }
    assert granted == used == playbook_writes()
    assert {p.risk for p in PLAYBOOKS.values()} == {Risk.LOW, Risk.MEDIUM, Risk.HIGH}


def test_the_cli_walks_the_whole_gate(
    people: People, core: client.CoreV1Api, control_plane: ControlPlane, settings: Settings, tmp_path: Path
) -> None:
    """diagnose --propose → remediate --dry-run → refused without a TTY → --yes executes → once only."""
    import os
    import re
    import subprocess
    import sys

    node = f"gpu-cli-{uuid.uuid4().hex[:6]}"
    body = _node(node, control_plane.kubelet.port, "True", 300)
    body["status"]["allocatable"]["nvidia.com/gpu"] = "6"  # two GPUs marked unhealthy
    _create_node(core, body)
    namespace = f"gpu-operator-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": namespace}}))
    _device_plugin_pod(core, namespace, node)
    env = {
        **os.environ,
        "KFOPS_STATE_DIR": str(tmp_path / "state"),
        "KFOPS_AUDIT_PATH": settings.audit_path,
        "KFOPS_NAMESPACE": settings.namespace,
        "KFOPS_MIN_SCHEDULABLE_GPU_NODES": "0",
        "KFOPS_MIN_SCHEDULABLE_GPU_FRACTION": "0",
        "COLUMNS": "200",
    }
    as_alice = ["--kubeconfig", str(control_plane.kubeconfig), "--context", "alice"]

    def kfops(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "kfops", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    diagnosed = kfops("diagnose", "gpu-node-down", "--node", node, "--propose", *as_alice)
    assert diagnosed.returncode == 1, diagnosed.stdout + diagnosed.stderr
    cordon = re.search(r"proposal ([0-9a-f]{12}): node\.cordon", diagnosed.stdout)
    assert cordon, diagnosed.stdout
    proposal_id = cordon.group(1)
    assert "gpu.restart-device-plugin" in diagnosed.stdout

    dry = kfops("remediate", proposal_id, "--dry-run", *as_alice)
    assert dry.returncode == 0, dry.stderr
    assert "dry-run OK: PATCH nodes/" in dry.stdout and "dry run: nothing was written" in dry.stdout
    assert not unschedulable(core, node)

    no_tty = kfops("remediate", proposal_id, *as_alice)
    assert no_tty.returncode == 4
    assert "not a terminal: refusing to execute without --yes (nothing was written)" in no_tty.stderr
    assert not unschedulable(core, node)

    done = kfops("remediate", proposal_id, "--yes", *as_alice)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"verified: node {node} is cordoned (spec.unschedulable=true)" in done.stdout
    assert f"rollback: kubectl uncordon {node}" in done.stdout
    assert unschedulable(core, node)

    again = kfops("remediate", proposal_id, "--yes", *as_alice)
    assert again.returncode == 4 and f"proposal {proposal_id} no longer applies" in again.stderr

    verified = kfops("audit", "verify")
    assert verified.returncode == 0 and "3 records, chain intact" in verified.stdout
