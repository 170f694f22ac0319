"""pod.delete through the real gate and API server: one stuck Argo step pod is deleted (uid
precondition) so Argo retries the step.

No kubelet runs here (controlplane.py): a pod bound to a node stays Terminating after a delete
until its kubelet confirms with a zero-grace delete. `Kubelet` does that for the tests that need a
finished delete; without it the delete never completes, which is how a dead node behaves.

The kubernetes client's handles are typed ``Any`` here: its models make every field Optional,
and these tests read objects they just wrote.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfops.playbooks import pods
from kfops.playbooks.gate import Refused

from . import test_gate
from .test_gate import People, audit_events, proposal, run_low_risk

# the gate's fixtures (on-call roles, a state namespace, a gate per user), shared with test_gate.py
oncall_roles, settings, people = test_gate.oncall_roles, test_gate.settings, test_gate.people

WORKFLOW = "train-pipeline-x7k2p"
POD = f"{WORKFLOW}-system-container-impl-1234567890"


def _step_pod(core: Any, namespace: str, *, workflow: str = WORKFLOW, name: str = POD) -> str:
    """A Running step pod of `workflow` on a node, as Argo and the kubelet leave it; its uid."""
    pod = core.create_namespaced_pod(
        namespace,
        {
            "metadata": {
                "name": name,
                "labels": {pods.WORKFLOW_LABEL: workflow, "pipeline/runid": str(uuid.uuid4())},
                "annotations": {"workflows.argoproj.io/node-name": f"{workflow}.train"},
            },
            "spec": {
                "nodeName": "gpu-1",
                "restartPolicy": "Never",
                "containers": [
                    {"name": "main", "image": "trainer:1"},
                    {"name": "wait", "image": "argoexec:v3.7.3"},
                ],
            },
        },
    )
    core.patch_namespaced_pod_status(name, namespace, {"status": {"phase": "Running"}})
    return str(pod.metadata.uid)


def _delete_pod(core: Any, namespace: str, uid: str) -> Any:
    return proposal(
        "pod.delete", f"pod/{namespace}/{POD}", namespace=namespace, pod=POD, uid=uid, workflow=WORKFLOW
    )


class Kubelet:
    """What the node's kubelet does once a pod is marked for deletion: stop it, then confirm with a
    zero-grace delete (and, for `replace`, what a controller would do next: a new pod, same name)."""

    def __init__(self, core: Any, namespace: str, *, replace: bool = False) -> None:
        self.core, self.namespace, self.replace = core, namespace, replace
        self.confirmed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pod = self.core.read_namespaced_pod(POD, self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    return
                pod = None  # not created yet
            if pod is not None and pod.metadata.deletion_timestamp is not None:
                self.core.delete_namespaced_pod(
                    POD, self.namespace, body=client.V1DeleteOptions(grace_period_seconds=0)
                )
                if self.replace:
                    _step_pod(self.core, self.namespace)
                self.confirmed.set()
                return
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def kubelet(core: Any, namespace: str) -> Iterator[Kubelet]:
    running = Kubelet(core, namespace)
    yield running
    running.stop()


def test_dry_run_shows_the_delete_and_changes_nothing(
    people: People,
    core: Any,
    namespace: str,
) -> None:
    uid = _step_pod(core, namespace)
    prepared = people.gate("alice").prepare(_delete_pod(core, namespace, uid), people.who("alice"))
    assert prepared.dry_run == (f"dry-run OK: DELETE pods/{POD} -n {namespace}",)
    assert prepared.plan.steps[0].uid == uid
    assert prepared.plan.diff[0] == f"- pod {namespace}/{POD} (uid {uid})"
    assert prepared.plan.notes[0] == "when planned: phase Running on gpu-1"
    assert [(c.verb, c.resource, c.allowed) for c in prepared.access] == [("delete", "pods", True)]
    pod = core.read_namespaced_pod(POD, namespace)
    assert pod.metadata.uid == uid and pod.metadata.deletion_timestamp is None


def test_the_approved_delete_removes_exactly_that_pod(
    people: People,
    core: Any,
    namespace: str,
    settings: Any,
    kubelet: Kubelet,
) -> None:
    uid = _step_pod(core, namespace)
    other = f"{WORKFLOW}-system-container-impl-999"
    other_uid = _step_pod(core, namespace, name=other)
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _delete_pod(core, namespace, uid))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    assert kubelet.confirmed.is_set()
    assert executed.verification.summary == (
        f"pod {namespace}/{POD} (uid {uid}) is gone; Argo takes the step from here"
    )
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod(POD, namespace)
    assert gone.value.status == 404
    assert core.read_namespaced_pod(other, namespace).metadata.uid == other_uid  # untouched
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={POD}").items
    assert [(e.reason, e.involved_object.kind, e.type) for e in events] == [
        ("KfopsRemediation", "Pod", "Normal")
    ]
    assert audit_events(settings) == ["requested", "approved", "executed"]


def test_a_new_pod_under_the_same_name_counts_as_done(people: People, core: Any, namespace: str) -> None:
    uid = _step_pod(core, namespace)
    replacing = Kubelet(core, namespace, replace=True)
    try:
        executed = run_low_risk(people.gate("alice"), people.who("alice"), _delete_pod(core, namespace, uid))
    finally:
        replacing.stop()
    new_uid = core.read_namespaced_pod(POD, namespace).metadata.uid
    assert new_uid != uid
    assert executed.verification.ok
    assert executed.verification.summary == (
        f"pod {namespace}/{POD} (uid {uid}) is gone; a new pod {namespace}/{POD} (uid {new_uid}) runs"
    )


def test_a_pod_that_never_finishes_terminating_fails_verification(
    people: People,
    core: Any,
    namespace: str,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pods, "GONE_S", 0.5)
    uid = _step_pod(core, namespace)  # no kubelet confirms the delete: its node is gone
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _delete_pod(core, namespace, uid))
    assert executed.outcome.ok
    assert not executed.verification.ok
    pod = core.read_namespaced_pod(POD, namespace)
    assert pod.metadata.deletion_timestamp is not None
    assert executed.verification.summary.startswith(
        f"pod {namespace}/{POD} (uid {uid}) still exists after 0.5 s (terminating since "
    )
    assert executed.verification.summary.endswith("if the node is gone, force-delete it by hand")
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={POD}").items
    assert [e.type for e in events if e.reason == "KfopsRemediation"] == ["Warning"]


def test_a_pod_recreated_after_approval_is_not_touched(
    people: People,
    core: Any,
    namespace: str,
    settings: Any,
) -> None:
    uid = _step_pod(core, namespace)
    gate, alice = people.gate("alice"), people.who("alice")
    prepared = gate.prepare(_delete_pod(core, namespace, uid), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    core.delete_namespaced_pod(POD, namespace, body=client.V1DeleteOptions(grace_period_seconds=0))
    replaced = _step_pod(core, namespace)  # Argo (or a human) made a new pod under the same name
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        f"the cluster changed since approval: pod {namespace}/{POD} is not the one diagnosed "
        f"(uid {replaced}, not {uid}): it was re-created since; nothing was done"
    )
    pod = core.read_namespaced_pod(POD, namespace)
    assert pod.metadata.uid == replaced and pod.metadata.deletion_timestamp is None
    assert "executed" not in audit_events(settings)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            "gone",
            "pod {ns}/{pod} no longer exists (Argo or someone deleted it already)",
        ),
        (
            "other-workflow",
            "pod {ns}/{pod} is not a step pod of Workflow {wf} but of Workflow other-run: "
            "kfops deletes only that",
        ),
        (
            "unlabelled",
            "pod {ns}/{pod} is not a step pod of Workflow {wf} but of any Workflow "
            "(no workflows.argoproj.io/workflow label): kfops deletes only that",
        ),
        ("finished", "pod {ns}/{pod} has already finished (Succeeded): deleting it retries nothing"),
    ],
)
def test_a_pod_that_is_not_the_stuck_step_is_refused(
    people: People, core: Any, namespace: str, setup: str, expected: str
) -> None:
    uid = str(uuid.uuid4())
    if setup == "other-workflow":
        uid = _step_pod(core, namespace, workflow="other-run")
    elif setup == "unlabelled":
        uid = _step_pod(core, namespace)
        core.patch_namespaced_pod(POD, namespace, {"metadata": {"labels": {pods.WORKFLOW_LABEL: None}}})
    elif setup == "finished":
        uid = _step_pod(core, namespace)
        core.patch_namespaced_pod_status(POD, namespace, {"status": {"phase": "Succeeded"}})
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_delete_pod(core, namespace, uid), people.who("alice"))
    reason = expected.format(ns=namespace, pod=POD, wf=WORKFLOW)
    assert str(refused.value) == f"cannot plan pod.delete on pod/{namespace}/{POD}: {reason}"


def test_a_user_without_the_remediation_role_may_not_delete(
    people: People, core: Any, namespace: str
) -> None:
    uid = _step_pod(core, namespace)
    with pytest.raises(
        Refused, match=f"dave may not do this: missing 'delete' on 'pods' in namespace {namespace}"
    ):
        people.gate("dave").prepare(_delete_pod(core, namespace, uid), people.who("dave"))
    assert core.read_namespaced_pod(POD, namespace).metadata.deletion_timestamp is None


# --------------------------------------------------------------------------- KServe predictor replicas

ISVC = "sklearn-iris"


def _predictor_pod(
    core: Any,
    namespace: str,
    *,
    isvc: str = ISVC,
    component: str = "predictor",
    ready: bool = False,
    name: str = POD,
) -> str:
    """A Running predictor replica of InferenceService `isvc`, Ready or not; its uid."""
    pod = core.create_namespaced_pod(
        namespace,
        {
            "metadata": {
                "name": name,
                "labels": {
                    pods.ISVC_LABEL: isvc,
                    pods.COMPONENT_LABEL: component,
                    "serving.knative.dev/revision": f"{isvc}-{component}-00001",
                },
            },
            "spec": {
                "nodeName": "gpu-1",
                "containers": [
                    {"name": "kserve-container", "image": "kserve/sklearnserver:v0.16.0"},
                    {"name": "queue-proxy", "image": "knative/queue:v1.19"},
                ],
            },
        },
    )
    core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            }
        },
    )
    return str(pod.metadata.uid)


def _delete_replica(namespace: str, uid: str) -> Any:
    return proposal(
        "pod.delete", f"pod/{namespace}/{POD}", namespace=namespace, pod=POD, uid=uid, inferenceservice=ISVC
    )


def test_the_approved_delete_removes_exactly_that_predictor_replica(
    people: People,
    core: Any,
    namespace: str,
    settings: Any,
    kubelet: Kubelet,
) -> None:
    uid = _predictor_pod(core, namespace)
    other = f"{ISVC}-predictor-00001-deployment-7d9f8-abcde"
    other_uid = _predictor_pod(core, namespace, name=other, ready=True)  # the replica that serves
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _delete_replica(namespace, uid))
    plan = executed.plan
    assert plan.steps[0].description == (
        f"delete pod {namespace}/{POD} (uid {uid}), "
        f"a predictor replica of InferenceService {namespace}/{ISVC}"
    )
    assert plan.diff == (
        f"- pod {namespace}/{POD} (uid {uid})",
        "+ its ReplicaSet starts a new predictor replica in its place",
    )
    assert plan.notes[0] == "when planned: phase Running on gpu-1, not Ready"
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    assert kubelet.confirmed.is_set()
    assert executed.verification.summary == (
        f"pod {namespace}/{POD} (uid {uid}) is gone; its ReplicaSet starts a new replica"
    )
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod(POD, namespace)
    assert gone.value.status == 404
    assert core.read_namespaced_pod(other, namespace).metadata.uid == other_uid  # untouched
    assert audit_events(settings) == ["requested", "approved", "executed"]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            "gone",
            "pod {ns}/{pod} no longer exists (its ReplicaSet or someone deleted it already)",
        ),
        (
            "other-isvc",
            "pod {ns}/{pod} is not a predictor replica of InferenceService {ns}/{isvc} but of "
            "InferenceService {ns}/flowers: kfops deletes only that",
        ),
        (
            "unlabelled",
            "pod {ns}/{pod} is not a predictor replica of InferenceService {ns}/{isvc} but of no "
            "InferenceService (no serving.kserve.io/inferenceservice label): kfops deletes only that",
        ),
        (
            "transformer",
            "pod {ns}/{pod} is a transformer replica of InferenceService {ns}/{isvc}, not a predictor "
            "replica: kfops deletes only that",
        ),
        (
            "ready",
            "pod {ns}/{pod} is Ready now: the predictor replica of InferenceService {ns}/{isvc} recovered "
            "since the diagnosis; nothing to delete",
        ),
        (
            "argo-step",
            "pod {ns}/{pod} is not a predictor replica of InferenceService {ns}/{isvc} but of no "
            "InferenceService (no serving.kserve.io/inferenceservice label): kfops deletes only that",
        ),
    ],
)
def test_a_pod_that_is_not_the_wedged_replica_is_refused(
    people: People, core: Any, namespace: str, setup: str, expected: str
) -> None:
    uid = str(uuid.uuid4())
    if setup == "other-isvc":
        uid = _predictor_pod(core, namespace, isvc="flowers")
    elif setup == "unlabelled":
        uid = _predictor_pod(core, namespace)
        core.patch_namespaced_pod(POD, namespace, {"metadata": {"labels": {pods.ISVC_LABEL: None}}})
    elif setup == "transformer":
        uid = _predictor_pod(core, namespace, component="transformer")
    elif setup == "ready":
        uid = _predictor_pod(core, namespace, ready=True)
    elif setup == "argo-step":
        uid = _step_pod(core, namespace)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_delete_replica(namespace, uid), people.who("alice"))
    reason = expected.format(ns=namespace, pod=POD, isvc=ISVC)
    assert str(refused.value) == f"cannot plan pod.delete on pod/{namespace}/{POD}: {reason}"
    if setup != "gone":
        assert core.read_namespaced_pod(POD, namespace).metadata.deletion_timestamp is None


def test_a_delete_naming_both_owners_or_none_is_refused(people: People, core: Any, namespace: str) -> None:
    uid = _predictor_pod(core, namespace)
    target = f"pod/{namespace}/{POD}"
    both = proposal(
        "pod.delete", target, namespace=namespace, pod=POD, uid=uid, workflow=WORKFLOW, inferenceservice=ISVC
    )
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(both, people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan pod.delete on {target}: pod.delete names both a workflow and an inferenceservice "
        "in its parameters: a pod has one owner"
    )
    neither = proposal("pod.delete", target, namespace=namespace, pod=POD, uid=uid)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(neither, people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan pod.delete on {target}: pod.delete needs the pod's namespace, name, uid and workflow "
        "(or inferenceservice) in its parameters"
    )
