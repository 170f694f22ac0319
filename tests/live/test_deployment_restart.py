"""deployment.restart through the real gate and API server: a restartedAt patch (what
``kubectl rollout restart`` sends) on one KFP backend Deployment, verified by its rollout.

No controller-manager runs here (controlplane.py): nothing rolls pods over. `Controller` writes
what the Deployment controller would once it sees the new generation — a finished rollout, or one
that stalls with a replica short — so verification has something real to read.

The kubernetes client's handles are typed ``Any`` here: its models make every field Optional,
and these tests read objects they just wrote.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfops.clients.errors import ReaderError
from kfops.clients.live.writer import LiveKubeWriter
from kfops.clients.resources import DEPLOYMENTS
from kfops.playbooks import deployments
from kfops.playbooks.deployments import RESTARTED_AT, STAMP
from kfops.playbooks.gate import Gate, Refused

from . import test_gate
from .controlplane import ControlPlane
from .test_gate import People, audit_events, proposal, run_low_risk

# the gate's fixtures (on-call roles, a state namespace, a gate per user), shared with test_gate.py
oncall_roles, settings, people = test_gate.oncall_roles, test_gate.settings, test_gate.people

NAME = "ml-pipeline-persistenceagent"
REPLICAS = 2
ROLE = Path(__file__).resolve().parents[2] / "deploy" / "rbac" / "clusterrole-remediate.yaml"


def _deployment(apps: Any, namespace: str, name: str = NAME, **spec: Any) -> str:
    """A Deployment whose last rollout finished, as the controller leaves it; its uid."""
    labels = {"app": name}
    made = apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": f"kfp/{name}:2.16.0"}]},
                },
                **spec,
            },
        },
    )
    _roll(apps, namespace, name, available=REPLICAS)
    return str(made.metadata.uid)


def _roll(apps: Any, namespace: str, name: str, *, available: int, replicas: int = REPLICAS) -> None:
    """The Deployment controller's status for the current generation: `available` of `replicas`
    new pods ready (the test control plane runs no controllers)."""
    generation = apps.read_namespaced_deployment(name, namespace).metadata.generation
    apps.patch_namespaced_deployment_status(
        name,
        namespace,
        {
            "status": {
                "observedGeneration": generation,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": available,
                "availableReplicas": available,
                "unavailableReplicas": replicas - available,
            }
        },
    )


class Controller:
    """Once a patch bumps the generation, write the rollout's status (as the controller would)."""

    def __init__(
        self, apps: Any, namespace: str, *, available: int, name: str = NAME, replicas: int = REPLICAS
    ) -> None:
        self.apps, self.namespace, self.available = apps, namespace, available
        self.name, self.replicas = name, replicas
        self.generation = apps.read_namespaced_deployment(name, namespace).metadata.generation
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if (
                self.apps.read_namespaced_deployment(self.name, self.namespace).metadata.generation
                > self.generation
            ):
                _roll(self.apps, self.namespace, self.name, available=self.available, replicas=self.replicas)
                return
            time.sleep(0.05)

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _restart(namespace: str, uid: str, name: str = NAME) -> Any:
    return proposal(
        "deployment.restart", f"deployment/{namespace}/{name}", namespace=namespace, deployment=name, uid=uid
    )


def _gate(people: People, user: str, namespace: str) -> Gate:
    """A gate whose KFP namespace is this test's namespace."""
    return people.gate(user, kfp_namespace=namespace)


def _template_annotations(apps: Any, namespace: str, name: str = NAME) -> dict[str, str]:
    return apps.read_namespaced_deployment(name, namespace).spec.template.metadata.annotations or {}


@pytest.fixture
def apps(admin_api: client.ApiClient) -> Any:
    return client.AppsV1Api(admin_api)


def test_dry_run_shows_the_patch_and_changes_nothing(people: People, apps: Any, namespace: str) -> None:
    uid = _deployment(apps, namespace)
    generation = apps.read_namespaced_deployment(NAME, namespace).metadata.generation
    prepared = _gate(people, "alice", namespace).prepare(_restart(namespace, uid), people.who("alice"))
    patch = (
        f'{{"metadata": {{"uid": "{uid}"}}, "spec": {{"template": {{"metadata": {{"annotations": '
        f'{{"{RESTARTED_AT}": "{STAMP}"}}}}}}}}}}'
    )
    assert prepared.dry_run == (
        f"dry-run OK: PATCH deployments.apps/{NAME} -n {namespace}: {patch} "
        "(stamped with the time when it is sent)",
    )
    assert prepared.plan.diff == (
        f"- spec.template.metadata.annotations[{RESTARTED_AT}]: (none)",
        f"+ spec.template.metadata.annotations[{RESTARTED_AT}]: {STAMP}",
    )
    assert prepared.plan.notes[0] == (
        "when planned: observedGeneration 1 of generation 1, 2 updated, 2 available, 2 in all, of 2 desired"
    )
    assert [(c.verb, c.resource, c.name, c.allowed) for c in prepared.access] == [
        ("patch", "deployments.apps", NAME, True)
    ]
    assert apps.read_namespaced_deployment(NAME, namespace).metadata.generation == generation
    assert RESTARTED_AT not in _template_annotations(apps, namespace)


def test_the_approved_restart_rolls_exactly_that_deployment(
    people: People,
    apps: Any,
    core: Any,
    namespace: str,
    settings: Any,
) -> None:
    uid = _deployment(apps, namespace)
    _deployment(apps, namespace, "ml-pipeline")
    before = datetime.now(UTC).replace(microsecond=0)
    with Controller(apps, namespace, available=REPLICAS):
        executed = run_low_risk(
            _gate(people, "alice", namespace), people.who("alice"), _restart(namespace, uid)
        )
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    stamp = _template_annotations(apps, namespace)[RESTARTED_AT]
    assert before <= datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= datetime.now(UTC)
    assert executed.outcome.summary == f"Deployment {namespace}/{NAME} restarted ({RESTARTED_AT}={stamp})"
    assert executed.verification.summary == (
        f"the rollout of Deployment {namespace}/{NAME} finished: observedGeneration 2 of generation 2, "
        "2 updated, 2 available, 2 in all, of 2 desired"
    )
    other = apps.read_namespaced_deployment("ml-pipeline", namespace)
    assert other.metadata.generation == 1 and not other.spec.template.metadata.annotations
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={NAME}").items
    assert [(e.reason, e.involved_object.kind, e.type) for e in events] == [
        ("KfopsRemediation", "Deployment", "Normal")
    ]
    assert audit_events(settings) == ["requested", "approved", "executed"]


def test_a_rollout_that_does_not_finish_fails_verification_and_says_what_it_saw(
    people: People,
    apps: Any,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deployments, "ROLLOUT_WAIT_S", 1.0)
    monkeypatch.setattr(deployments, "POLL_S", 0.1)
    uid = _deployment(apps, namespace)
    with Controller(apps, namespace, available=1):  # one new pod never becomes ready
        executed = run_low_risk(
            _gate(people, "alice", namespace), people.who("alice"), _restart(namespace, uid)
        )
    assert executed.outcome.ok
    assert not executed.verification.ok
    assert executed.verification.summary == (
        f"the rollout of Deployment {namespace}/{NAME} has not finished after 1 s: observedGeneration 2 "
        "of generation 2, 2 updated, 1 available, 2 in all, of 2 desired"
    )


def test_a_rollout_the_controller_never_saw_fails_verification(
    people: People,
    apps: Any,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(deployments, "ROLLOUT_WAIT_S", 0.5)
    monkeypatch.setattr(deployments, "POLL_S", 0.1)
    uid = _deployment(apps, namespace)
    executed = run_low_risk(_gate(people, "alice", namespace), people.who("alice"), _restart(namespace, uid))
    assert executed.outcome.ok
    assert not executed.verification.ok
    assert "observedGeneration 1 of generation 2" in executed.verification.summary


def test_a_deployment_recreated_after_approval_is_not_touched(
    people: People,
    apps: Any,
    namespace: str,
    settings: Any,
) -> None:
    uid = _deployment(apps, namespace)
    gate, alice = _gate(people, "alice", namespace), people.who("alice")
    prepared = gate.prepare(_restart(namespace, uid), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    apps.delete_namespaced_deployment(NAME, namespace)
    replaced = _deployment(apps, namespace)  # re-installed meanwhile
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        f"the cluster changed since approval: Deployment {namespace}/{NAME} is not the one diagnosed "
        f"(uid {replaced}, not {uid}): it was re-created since; diagnose again; nothing was done"
    )
    assert RESTARTED_AT not in _template_annotations(apps, namespace)
    assert "executed" not in audit_events(settings)


def test_the_patch_itself_refuses_a_recreated_deployment(
    control_plane: ControlPlane, apps: Any, namespace: str
) -> None:
    """The uid in the patch is a precondition of its own: even a patch sent without a fresh plan
    cannot restart a Deployment re-created since."""
    _deployment(apps, namespace)
    stale = str(uuid.uuid4())
    writer = LiveKubeWriter.connect(str(control_plane.kubeconfig), "admin")
    body = deployments._restart_patch(stale, "2026-01-01T00:00:00Z")
    with pytest.raises(ReaderError) as refused:
        writer.patch(DEPLOYMENTS, NAME, namespace, body, dry_run=False, strategic=True)
    assert refused.value.status == 422, refused.value.message
    assert f'metadata.uid: Invalid value: "{stale}": field is immutable' in refused.value.message
    assert RESTARTED_AT not in _template_annotations(apps, namespace)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("gone", "Deployment {ns}/{name} no longer exists (deleted since the diagnosis)"),
        ("paused", "Deployment {ns}/{name} is paused: resume it first (kubectl rollout resume)"),
        ("scaled-to-zero", "Deployment {ns}/{name} is scaled to 0 replicas: a restart starts nothing"),
        (
            "not-kfp",
            "kfops restarts only the KFP backend Deployments (workflow-controller, ml-pipeline, "
            "ml-pipeline-persistenceagent, metadata-grpc-deployment, seaweedfs, minio), not {name}",
        ),
        (
            "other-namespace",
            "kfops restarts {name} only in the KFP namespace kubeflow (settings.kfp_namespace), not in {ns}",
        ),
    ],
)
def test_a_deployment_kfops_must_not_restart_is_refused(
    people: People, apps: Any, namespace: str, case: str, expected: str
) -> None:
    name, uid, user = NAME, str(uuid.uuid4()), "alice"
    gate = _gate(people, user, namespace)
    if case == "paused":
        uid = _deployment(apps, namespace, paused=True)
    elif case == "scaled-to-zero":
        uid = _deployment(apps, namespace)
        apps.patch_namespaced_deployment(NAME, namespace, {"spec": {"replicas": 0}})
    elif case == "not-kfp":  # RBAC refuses alice first; the playbook refuses even a cluster admin
        name, user = "kserve-controller-manager", "admin"
        gate = _gate(people, user, namespace)
        uid = _deployment(apps, namespace, name)
    elif case == "other-namespace":
        uid = _deployment(apps, namespace)
        gate = people.gate("alice")  # KFP lives in kubeflow, not in this namespace
    with pytest.raises(Refused) as refused:
        gate.prepare(_restart(namespace, uid, name), people.who(user))
    reason = expected.format(ns=namespace, name=name)
    assert str(refused.value) == f"cannot plan deployment.restart on deployment/{namespace}/{name}: {reason}"
    if case != "gone":
        assert RESTARTED_AT not in _template_annotations(apps, namespace, name)


def test_rbac_lets_the_role_patch_only_the_named_deployments(
    people: People,
    api_client_for: Callable[[str], client.ApiClient],
    apps: Any,
    namespace: str,
) -> None:
    """The shipped role names exactly the Deployments the playbook restarts (resourceNames), so even
    a user who bypasses kfops cannot patch any other Deployment with it."""
    rule = next(r for r in yaml.safe_load(ROLE.read_text())["rules"] if r["resources"] == ["deployments"])
    assert tuple(rule["resourceNames"]) == deployments.RESTARTABLE
    _deployment(apps, namespace, "kserve-controller-manager")
    alice = client.AppsV1Api(api_client_for("alice"))
    with pytest.raises(ApiException) as forbidden:
        alice.patch_namespaced_deployment(
            "kserve-controller-manager", namespace, {"metadata": {"labels": {"x": "y"}}}
        )
    assert forbidden.value.status == 403
    with pytest.raises(Refused, match=r"alice may not do this: missing 'patch' on 'deployments\.apps'"):
        _gate(people, "alice", namespace).prepare(
            _restart(namespace, str(uuid.uuid4()), "kserve-controller-manager"), people.who("alice")
        )


def test_a_user_without_the_remediation_role_may_not_restart(
    people: People, apps: Any, namespace: str
) -> None:
    uid = _deployment(apps, namespace)
    with pytest.raises(
        Refused,
        match=rf"dave may not do this: missing 'patch' on 'deployments\.apps' in namespace {namespace} "
        f"for {NAME}",
    ):
        _gate(people, "dave", namespace).prepare(_restart(namespace, uid), people.who("dave"))
    assert RESTARTED_AT not in _template_annotations(apps, namespace)
