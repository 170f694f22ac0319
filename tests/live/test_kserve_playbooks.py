"""The KServe playbooks through the real gate and API server, against the InferenceService CRD in
tests/live/crds (whose schema the server-side dry run checks): kserve.set-min-replicas,
kserve.set-resources, kserve.set-scale-target and kserve.rollback-canary (high risk).

No KServe controller runs here: nothing rolls a revision out. The tests write the status the
controller would have written, and verification reads back the patched field.

The kubernetes client's handles are typed ``Any`` here: these tests read objects they just wrote.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kfops.clients.errors import ReaderError
from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.live.writer import LiveKubeWriter
from kfops.clients.resources import INFERENCESERVICES
from kfops.model import Proposal
from kfops.playbooks.base import Context
from kfops.playbooks.gate import Refused
from kfops.playbooks.kserve import TARGET_ANNOTATION, SetResources
from kfops.settings import Settings

from . import test_gate
from .controlplane import ControlPlane
from .crds import install_crds
from .test_gate import People, audit_events, proposal, run_low_risk

# the gate's fixtures (on-call roles, a state namespace, a gate per user), shared with test_gate.py
oncall_roles, settings, people = test_gate.oncall_roles, test_gate.settings, test_gate.people

NAME = "sklearn-iris"
GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
FAILING, SERVING = f"{NAME}-predictor-00002", f"{NAME}-predictor-00001"


@pytest.fixture(scope="module")
def crds(admin_api: client.ApiClient) -> None:
    install_crds(admin_api)  # idempotent


@pytest.fixture
def custom(admin_api: client.ApiClient, crds: None) -> Any:
    return client.CustomObjectsApi(admin_api)


def _model(memory_request: str = "2Gi", memory_limit: str = "4Gi") -> dict[str, Any]:
    return {
        "modelFormat": {"name": "sklearn"},
        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
        "resources": {
            "requests": {"cpu": "1", "memory": memory_request},
            "limits": {"cpu": "1", "memory": memory_limit},
        },
    }


def _isvc(
    custom: Any,
    namespace: str,
    predictor: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    name: str = NAME,
) -> str:
    """An InferenceService as the KServe controller leaves it after reconciling; its uid."""
    made = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "InferenceService",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"predictor": predictor if predictor is not None else {"model": _model()}},
        },
    )
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        name,
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T10:00:00Z"}
                ],
                "components": {
                    "predictor": {
                        "latestCreatedRevision": FAILING,
                        "latestReadyRevision": SERVING,
                        "previousRolledoutRevision": SERVING,
                    }
                },
            }
        },
    )
    return str(made["metadata"]["uid"])


def _read(custom: Any, namespace: str, name: str = NAME) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return found


def _patch(custom: Any, namespace: str, body: dict[str, Any]) -> None:
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, NAME, body)


def _proposal(action: str, namespace: str, uid: str, **params: Any) -> Proposal:
    return proposal(
        action,
        f"inferenceservice/{namespace}/{NAME}",
        namespace=namespace,
        name=NAME,
        uid=uid,
        component="predictor",
        **params,
    )


def _min_replicas(namespace: str, uid: str, current: int | None = 0) -> Proposal:
    return _proposal("kserve.set-min-replicas", namespace, uid, min_replicas=1, current=current)


def _resources(namespace: str, uid: str, **overrides: Any) -> Proposal:
    params = {
        "container": "kserve-container",
        "memory_request": "6Gi",
        "memory_limit": "6Gi",
        "current_request": "2Gi",
        "current_limit": "4Gi",
        "arithmetic": "OOMKilled at the 4Gi limit: 4Gi × 1.5 = 6Gi, rounded up to 256Mi",
        **overrides,
    }
    return _proposal("kserve.set-resources", namespace, uid, **params)


def _scale_target(namespace: str, uid: str, **overrides: Any) -> Proposal:
    params = {
        "scale_target": 4,
        "scale_metric": "concurrency",
        "current": 100,
        "arithmetic": (
            "c = 12 req/s × 0.5 s / 2 pods = 3 in flight per pod; R = floor(3 × (0.5 / 0.6) / 0.7) = 3"
        ),
        **overrides,
    }
    return _proposal("kserve.set-scale-target", namespace, uid, **params)


def _rollback(namespace: str, uid: str, canary_percent: int = 10) -> Proposal:
    return _proposal(
        "kserve.rollback-canary",
        namespace,
        uid,
        canary_percent=canary_percent,
        failing_revision=FAILING,
        serving_revision=SERVING,
    )


def _command(namespace: str, body: dict[str, Any]) -> str:
    return f"PATCH {PLURAL}.{GROUP}/{NAME} -n {namespace}: {json.dumps(body, sort_keys=True)}"


# --------------------------------------------------------------------------- kserve.set-min-replicas


def test_min_replicas_dry_run_shows_the_patch_and_changes_nothing(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"minReplicas": 0, "model": _model()})
    prepared = people.gate("alice").prepare(_min_replicas(namespace, uid), people.who("alice"))
    body = {"metadata": {"uid": uid}, "spec": {"predictor": {"minReplicas": 1}}}
    assert prepared.dry_run == (f"dry-run OK: {_command(namespace, body)}",)
    assert prepared.plan.steps[0].body == body
    assert prepared.plan.diff == ("- spec.predictor.minReplicas: 0", "+ spec.predictor.minReplicas: 1")
    assert prepared.plan.notes[0] == "when planned: Ready True"
    assert prepared.plan.notes[-1] == (
        f"to undo: kubectl patch inferenceservice {NAME} -n {namespace} --type merge "
        """-p '{"spec": {"predictor": {"minReplicas": 0}}}'"""
    )
    assert [(c.verb, c.resource, c.allowed) for c in prepared.access] == [
        ("patch", "inferenceservices.serving.kserve.io", True)
    ]
    assert _read(custom, namespace)["spec"]["predictor"]["minReplicas"] == 0


def test_an_approved_min_replicas_patch_is_applied_and_verified(
    people: People, custom: Any, core: Any, namespace: str, settings: Settings
) -> None:
    uid = _isvc(custom, namespace)  # minReplicas unset: KServe's default
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _min_replicas(namespace, uid, None))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.plan.diff == ("- spec.predictor.minReplicas: (unset)", "+ spec.predictor.minReplicas: 1")
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"InferenceService {namespace}/{NAME}: spec.predictor.minReplicas is 1"
    )
    isvc = _read(custom, namespace)
    assert isvc["spec"]["predictor"]["minReplicas"] == 1
    assert isvc["spec"]["predictor"]["model"] == _model()  # the rest of the predictor untouched
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={NAME}").items
    assert [(e.reason, e.involved_object.api_version, e.involved_object.kind, e.type) for e in events] == [
        ("KfopsRemediation", "serving.kserve.io/v1beta1", "InferenceService", "Normal")
    ]
    assert audit_events(settings) == ["requested", "approved", "executed"]


def test_min_replicas_changed_since_the_diagnosis_is_refused(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"minReplicas": 3, "model": _model()})
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_min_replicas(namespace, uid, 0), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kserve.set-min-replicas on inferenceservice/{namespace}/{NAME}: "
        f"InferenceService {namespace}/{NAME} changed since the diagnosis: spec.predictor.minReplicas "
        "went from 0 to 3; diagnose again"
    )


def test_min_replicas_changed_after_approval_is_refused_and_nothing_written(
    people: People, custom: Any, namespace: str, settings: Settings
) -> None:
    uid = _isvc(custom, namespace, {"minReplicas": 0, "model": _model()})
    gate, alice = people.gate("alice"), people.who("alice")
    prepared = gate.prepare(_min_replicas(namespace, uid), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    _patch(custom, namespace, {"spec": {"predictor": {"minReplicas": 2}}})  # someone scaled it meanwhile
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        f"the cluster changed since approval: InferenceService {namespace}/{NAME} changed since the "
        "diagnosis: spec.predictor.minReplicas went from 0 to 2; diagnose again; nothing was done"
    )
    assert _read(custom, namespace)["spec"]["predictor"]["minReplicas"] == 2
    assert "executed" not in audit_events(settings)


def test_a_recreated_inferenceservice_is_refused(
    people: People, custom: Any, namespace: str, settings: Settings
) -> None:
    uid = _isvc(custom, namespace, {"minReplicas": 0, "model": _model()})
    gate, alice = people.gate("alice"), people.who("alice")
    prepared = gate.prepare(_min_replicas(namespace, uid), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, NAME)
    new_uid = _isvc(custom, namespace, {"minReplicas": 0, "model": _model()})
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        f"the cluster changed since approval: InferenceService {namespace}/{NAME} is not the one "
        f"diagnosed (uid {new_uid}, not {uid}): it was re-created since; diagnose again; nothing was done"
    )
    assert _read(custom, namespace)["spec"]["predictor"]["minReplicas"] == 0
    assert "executed" not in audit_events(settings)


def test_the_patch_carries_the_uid_so_the_api_server_refuses_another_object(
    custom: Any, namespace: str, control_plane: ControlPlane
) -> None:
    """Even a plan that skipped the re-check could not patch a re-created object: uid is immutable."""
    _isvc(custom, namespace)
    writer = LiveKubeWriter.connect(str(control_plane.kubeconfig), "admin")
    with pytest.raises(ReaderError) as refused:
        writer.patch(
            INFERENCESERVICES,
            NAME,
            namespace,
            {"metadata": {"uid": str(uuid.uuid4())}, "spec": {"predictor": {"minReplicas": 1}}},
            dry_run=True,
        )
    assert "metadata.uid: Invalid value" in refused.value.message
    assert "field is immutable" in refused.value.message
    assert "minReplicas" not in _read(custom, namespace)["spec"]["predictor"]


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("gone", "InferenceService {ns}/" + NAME + " no longer exists (deleted since the diagnosis)"),
        (
            "already",
            "InferenceService {ns}/" + NAME + " already has spec.predictor.minReplicas 1: nothing to change",
        ),
        (
            "max",
            "InferenceService {ns}/"
            + NAME
            + " has spec.predictor.maxReplicas 1: minReplicas 2 would exceed it",
        ),
    ],
)
def test_min_replicas_refusals(people: People, custom: Any, namespace: str, make: str, expected: str) -> None:
    uid = str(uuid.uuid4())
    params: dict[str, Any] = {"min_replicas": 1, "current": 1}
    if make == "already":
        uid = _isvc(custom, namespace, {"minReplicas": 1, "model": _model()})
    elif make == "max":
        uid = _isvc(custom, namespace, {"maxReplicas": 1, "model": _model()})
        params = {"min_replicas": 2, "current": None}
    p = _proposal("kserve.set-min-replicas", namespace, uid, **params)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(p, people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kserve.set-min-replicas on inferenceservice/{namespace}/{NAME}: "
        + expected.format(ns=namespace)
    )


def test_missing_or_malformed_parameters_are_named(people: People, custom: Any, namespace: str) -> None:
    uid = _isvc(custom, namespace)
    alice, gate = people.who("alice"), people.gate("alice")
    target = f"inferenceservice/{namespace}/{NAME}"
    cases = [
        (
            proposal("kserve.set-min-replicas", target, namespace=namespace, name=NAME, min_replicas=1),
            "kserve.set-min-replicas needs uid, current in its parameters",
        ),
        (
            _proposal("kserve.set-min-replicas", namespace, uid, min_replicas="one", current=None),
            "kserve.set-min-replicas needs min_replicas as a whole number of at least 1, not 'one'",
        ),
        (
            _proposal("kserve.set-resources", namespace, uid, memory_request="6Gi"),
            "kserve.set-resources needs memory_limit, current_request, current_limit in its parameters",
        ),
        (
            _resources(namespace, uid, memory_limit="lots"),
            "kserve.set-resources needs memory_limit as a Kubernetes quantity (e.g. 512Mi), not 'lots'",
        ),
        (
            _resources(namespace, uid, memory_request="8Gi"),
            "kserve.set-resources: memory_request 8Gi is above memory_limit 6Gi; "
            "Kubernetes refuses such a container",
        ),
        (
            _proposal("kserve.rollback-canary", namespace, uid, canary_percent=10),
            "kserve.rollback-canary needs failing_revision, serving_revision in its parameters",
        ),
        (
            _proposal(
                "kserve.set-scale-target",
                namespace,
                uid,
                scale_target=0,
                scale_metric="concurrency",
                current=None,
            ),
            "kserve.set-scale-target needs scale_target as a whole number of at least 1, not 0",
        ),
    ]
    for p, reason in cases:
        with pytest.raises(Refused) as refused:
            gate.prepare(p, alice)
        assert str(refused.value) == f"cannot plan {p.action} on {target}: {reason}"


def test_a_user_without_the_remediation_role_may_not_patch(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"minReplicas": 0, "model": _model()})
    with pytest.raises(
        Refused,
        match=f"dave may not do this: missing 'patch' on 'inferenceservices.serving.kserve.io' "
        f"in namespace {namespace} for {NAME}",
    ):
        people.gate("dave").prepare(_min_replicas(namespace, uid), people.who("dave"))
    assert _read(custom, namespace)["spec"]["predictor"]["minReplicas"] == 0


# --------------------------------------------------------------------------- kserve.set-resources


def test_resources_of_the_model_are_patched_and_verified(people: People, custom: Any, namespace: str) -> None:
    uid = _isvc(custom, namespace)
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _resources(namespace, uid))
    assert executed.outcome.ok, executed.outcome.summary
    step = executed.plan.steps[0]
    assert step.body == {
        "metadata": {"uid": uid},
        "spec": {
            "predictor": {
                "model": {
                    "resources": {
                        "requests": {"cpu": "1", "memory": "6Gi"},
                        "limits": {"cpu": "1", "memory": "6Gi"},
                    }
                }
            }
        },
    }
    field = "spec.predictor.model.resources"
    assert executed.plan.diff == (
        f"- {field}.requests.memory: 2Gi",
        f"+ {field}.requests.memory: 6Gi",
        f"- {field}.limits.memory: 4Gi",
        f"+ {field}.limits.memory: 6Gi",
    )
    assert (
        "arithmetic: OOMKilled at the 4Gi limit: 4Gi × 1.5 = 6Gi, rounded up to 256Mi" in executed.plan.notes
    )
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"InferenceService {namespace}/{NAME}: {field} requests 6Gi and limits 6Gi of memory"
    )
    model = _read(custom, namespace)["spec"]["predictor"]["model"]
    assert model["resources"] == {
        "requests": {"cpu": "1", "memory": "6Gi"},
        "limits": {"cpu": "1", "memory": "6Gi"},
    }
    assert model["storageUri"] == _model()["storageUri"]


def _containers(memory_limit: str = "4Gi") -> list[dict[str, Any]]:
    return [
        {
            "name": "kserve-container",
            "image": "kserve/sklearnserver:v0.16.0",
            "args": ["--model_name=sklearn-iris"],
            "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": memory_limit}},
        },
        {"name": "log-shipper", "image": "fluent-bit:3.2", "resources": {"limits": {"memory": "128Mi"}}},
    ]


def test_resources_of_a_named_container_keep_the_rest_of_the_list(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"containers": _containers()})
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _resources(namespace, uid))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    expected = _containers()
    expected[0]["resources"] = {"requests": {"memory": "6Gi"}, "limits": {"memory": "6Gi"}}
    assert executed.plan.steps[0].body["spec"]["predictor"]["containers"] == expected
    assert (
        executed.plan.diff[0]
        == "- spec.predictor.containers[kserve-container].resources.requests.memory: 2Gi"
    )
    assert _read(custom, namespace)["spec"]["predictor"]["containers"] == expected
    assert executed.outcome.details[0].endswith(")") and "resourceVersion" in executed.outcome.details[0]


def test_a_container_list_changed_after_approval_is_refused(
    people: People, custom: Any, namespace: str, settings: Settings
) -> None:
    uid = _isvc(custom, namespace, {"containers": _containers()})
    gate, alice = people.gate("alice"), people.who("alice")
    prepared = gate.prepare(_resources(namespace, uid), alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    changed = _containers()
    changed[1]["image"] = "fluent-bit:3.3"  # someone upgraded the sidecar meanwhile
    _patch(custom, namespace, {"spec": {"predictor": {"containers": changed}}})
    with pytest.raises(Refused) as refused:
        gate.execute(prepared.plan.id, alice)
    assert str(refused.value) == (
        "the cluster changed since approval, so the approved plan is not the plan that would run "
        "(same changes, different details); nothing was done — request a new plan"
    )
    assert _read(custom, namespace)["spec"]["predictor"]["containers"] == changed  # not overwritten
    assert "executed" not in audit_events(settings)


def test_execute_refuses_a_list_changed_after_the_re_check(
    custom: Any, namespace: str, control_plane: ControlPlane, settings: Settings
) -> None:
    """Between the gate's re-check and the write: the playbook re-reads and compares the patch."""
    uid = _isvc(custom, namespace, {"containers": _containers()})
    kubeconfig = str(control_plane.kubeconfig)
    ctx = Context(LiveKubeReader.connect(kubeconfig, "alice"), settings, datetime.now(UTC))
    playbook = SetResources()
    plan = playbook.plan(ctx, _resources(namespace, uid))
    changed = _containers()
    changed[1]["image"] = "fluent-bit:3.3"
    _patch(custom, namespace, {"spec": {"predictor": {"containers": changed}}})
    outcome = playbook.execute(ctx, LiveKubeWriter.connect(kubeconfig, "alice"), plan)
    assert not outcome.ok
    assert outcome.summary.startswith(
        f"stopped before {plan.steps[0].command()}: "
        f"InferenceService {namespace}/{NAME} changed since the plan"
    )
    assert outcome.summary.endswith("nothing was changed — request a new plan")
    assert _read(custom, namespace)["spec"]["predictor"]["containers"] == changed


class _ControllerWritesAfterTheRead:
    """A reader after whose reads of the InferenceService the KServe controller updates its status
    (as it does on every reconcile): the object the execution re-checked is stale when it writes."""

    def __init__(self, inner: LiveKubeReader, custom: Any, namespace: str) -> None:
        self.inner, self.custom, self.namespace = inner, custom, namespace
        self.generation = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, ref: Any, name: str, namespace: str | None = None) -> Any:
        read = self.inner.get(ref, name, namespace)
        if ref == INFERENCESERVICES:
            self.generation += 1
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                NAME,
                {"status": {"observedGeneration": self.generation}},
            )
        return read


def test_a_write_after_the_re_check_read_is_refused_by_its_resource_version(
    custom: Any, namespace: str, control_plane: ControlPlane, settings: Settings
) -> None:
    """The patch is sent with the resourceVersion the execution re-checked: a change after that read
    (here only the status) makes the API server answer 409, and nothing is overwritten."""
    uid = _isvc(custom, namespace, {"containers": _containers()})
    kubeconfig = str(control_plane.kubeconfig)
    racing = _ControllerWritesAfterTheRead(LiveKubeReader.connect(kubeconfig, "alice"), custom, namespace)
    ctx = Context(racing, settings, datetime.now(UTC))
    playbook = SetResources()
    plan = playbook.plan(ctx, _resources(namespace, uid))
    outcome = playbook.execute(ctx, LiveKubeWriter.connect(kubeconfig, "alice"), plan)
    assert not outcome.ok
    assert outcome.summary.startswith(
        f"stopped at {plan.steps[0].command()}: InferenceService {namespace}/{NAME} changed while executing ("
    )
    assert outcome.summary.endswith("); nothing was changed — request a new plan")
    assert _read(custom, namespace)["spec"]["predictor"]["containers"] == _containers()


@pytest.mark.parametrize(
    ("predictor", "params", "expected"),
    [
        (
            {"model": _model(memory_limit="8Gi")},
            {},
            "InferenceService {ns}/" + NAME + " changed since the diagnosis: spec.predictor.model.resources"
            ".limits.memory went from 4Gi to 8Gi; diagnose again",
        ),
        (
            {"containers": _containers()},
            {"container": "model-server"},
            "InferenceService {ns}/" + NAME + " has no container model-server in spec.predictor.containers "
            "(it has kserve-container, log-shipper)",
        ),
        (
            {"sklearn": {"storageUri": "gs://models/iris"}},
            {},
            "InferenceService {ns}/"
            + NAME
            + " sets neither spec.predictor.model nor spec.predictor.containers "
            "(its predictor has sklearn): kfops patches only those; set the resources by hand",
        ),
        (
            {"model": _model(memory_request="6Gi", memory_limit="6Gi")},
            {"current_request": "6Gi", "current_limit": "6144Mi"},
            "InferenceService {ns}/"
            + NAME
            + " already requests 6Gi and limits 6Gi of memory: nothing to change",
        ),
    ],
)
def test_resources_refusals(
    people: People,
    custom: Any,
    namespace: str,
    predictor: dict[str, Any],
    params: dict[str, Any],
    expected: str,
) -> None:
    uid = _isvc(custom, namespace, predictor)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_resources(namespace, uid, **params), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kserve.set-resources on inferenceservice/{namespace}/{NAME}: "
        + expected.format(ns=namespace)
    )


# --------------------------------------------------------------------------- kserve.set-scale-target


def test_scale_target_also_sets_the_annotation_the_isvc_sets(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(
        custom,
        namespace,
        {"model": _model(), "annotations": {TARGET_ANNOTATION: "100"}},
        annotations={TARGET_ANNOTATION: "100"},
    )
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _scale_target(namespace, uid))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.plan.steps[0].body == {
        "metadata": {"uid": uid, "annotations": {TARGET_ANNOTATION: "4"}},
        "spec": {
            "predictor": {
                "scaleTarget": 4,
                "scaleMetric": "concurrency",
                "annotations": {TARGET_ANNOTATION: "4"},
            }
        },
    }
    assert executed.plan.diff == (
        "- spec.predictor.scaleTarget: (unset)",
        "+ spec.predictor.scaleTarget: 4",
        "- spec.predictor.scaleMetric: (unset)",
        "+ spec.predictor.scaleMetric: concurrency",
        f"- metadata.annotations[{TARGET_ANNOTATION}]: 100",
        f"+ metadata.annotations[{TARGET_ANNOTATION}]: 4",
        f"- spec.predictor.annotations[{TARGET_ANNOTATION}]: 100",
        f"+ spec.predictor.annotations[{TARGET_ANNOTATION}]: 4",
    )
    assert executed.plan.notes[1].startswith("arithmetic: c = 12 req/s")
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"InferenceService {namespace}/{NAME}: spec.predictor.scaleTarget is 4 (concurrency)"
    )
    isvc = _read(custom, namespace)
    assert isvc["metadata"]["annotations"][TARGET_ANNOTATION] == "4"
    assert isvc["spec"]["predictor"]["annotations"][TARGET_ANNOTATION] == "4"
    assert (isvc["spec"]["predictor"]["scaleTarget"], isvc["spec"]["predictor"]["scaleMetric"]) == (
        4,
        "concurrency",
    )


def test_scale_target_without_annotations_patches_only_the_spec(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"model": _model(), "scaleTarget": 100, "scaleMetric": "concurrency"})
    executed = run_low_risk(people.gate("alice"), people.who("alice"), _scale_target(namespace, uid))
    assert executed.outcome.ok and executed.verification.ok, executed.verification.summary
    assert executed.plan.steps[0].body == {
        "metadata": {"uid": uid},
        "spec": {"predictor": {"scaleTarget": 4, "scaleMetric": "concurrency"}},
    }
    assert executed.plan.diff == ("- spec.predictor.scaleTarget: 100", "+ spec.predictor.scaleTarget: 4")


def test_a_dry_run_the_crd_schema_rejects_is_refused_with_the_servers_words(
    people: People, custom: Any, namespace: str
) -> None:
    """scaleMetric is an enum in the CRD: the API server refuses the dry run, nothing is requested."""
    uid = _isvc(custom, namespace)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_scale_target(namespace, uid, scale_metric="qps"), people.who("alice"))
    message = str(refused.value)
    assert message.startswith(
        f"the API server refused the dry-run of PATCH {PLURAL}.{GROUP}/{NAME} -n {namespace}: "
    )
    assert 'spec.predictor.scaleMetric: Unsupported value: "qps"' in message
    assert '"concurrency"' in message
    assert "scaleTarget" not in _read(custom, namespace)["spec"]["predictor"]


def test_scale_target_changed_since_the_diagnosis_is_refused(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _isvc(custom, namespace, {"model": _model(), "scaleTarget": 10})
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_scale_target(namespace, uid), people.who("alice"))
    assert str(refused.value).endswith(
        f"InferenceService {namespace}/{NAME} changed since the diagnosis: the autoscaling target went "
        "from 100 to 10; diagnose again"
    )
    uid = _isvc(custom, namespace, {"model": _model(), "scaleMetric": "cpu"}, name="other")
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(
            proposal(
                "kserve.set-scale-target",
                f"inferenceservice/{namespace}/other",
                namespace=namespace,
                name="other",
                uid=uid,
                scale_target=4,
                scale_metric="concurrency",
                current=None,
            ),
            people.who("alice"),
        )
    assert str(refused.value).endswith(
        f"InferenceService {namespace}/other changed since the diagnosis: spec.predictor.scaleMetric went "
        "from concurrency (or unset) to cpu; diagnose again"
    )


# --------------------------------------------------------------------------- kserve.rollback-canary


def _canary(custom: Any, namespace: str, percent: int | None = 10) -> str:
    predictor: dict[str, Any] = {"model": _model()}
    if percent is not None:
        predictor["canaryTrafficPercent"] = percent
    return _isvc(custom, namespace, predictor)


def test_rollback_canary_is_high_risk_and_needs_two_approvers(
    people: People, custom: Any, namespace: str, settings: Settings
) -> None:
    uid = _canary(custom, namespace)
    alice, bob, carol = people.who("alice"), people.who("bob"), people.who("carol")
    gate = people.gate("alice")
    prepared = gate.prepare(_rollback(namespace, uid), alice)
    body = {"metadata": {"uid": uid}, "spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert prepared.dry_run == (f"dry-run OK: {_command(namespace, body)}",)
    assert prepared.plan.diff == (
        f"- spec.predictor.canaryTrafficPercent: 10 (10 % to {FAILING}, 90 % to {SERVING})",
        f"+ spec.predictor.canaryTrafficPercent: 0 (100 % to {SERVING})",
    )
    record = gate.request(prepared, alice)
    assert record.required == 2
    plan_id = prepared.plan.id
    with pytest.raises(Refused, match=f"alice requested plan {plan_id} and cannot approve it"):
        gate.approve(plan_id, alice, self_approval=True)
    assert not people.gate("bob").approve(plan_id, bob).complete
    with pytest.raises(Refused, match="has 1 of 2 approvals"):
        gate.execute(plan_id, alice)
    assert _read(custom, namespace)["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert people.gate("carol").approve(plan_id, carol).complete
    executed = people.gate("carol").execute(plan_id, carol)
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"InferenceService {namespace}/{NAME}: spec.predictor.canaryTrafficPercent is 0; KServe routes all "
        "traffic to the previously rolled-out revision"
    )
    assert _read(custom, namespace)["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert audit_events(settings) == ["requested", "approved", "approved", "executed"]


@pytest.mark.parametrize(
    ("percent", "diagnosed", "expected"),
    [
        (
            None,
            10,
            "InferenceService {ns}/" + NAME + " has no canary (spec.predictor.canaryTrafficPercent is "
            "(unset)): there is nothing to roll back",
        ),
        (
            0,
            10,
            "InferenceService {ns}/" + NAME + " has no canary (spec.predictor.canaryTrafficPercent is 0): "
            "there is nothing to roll back",
        ),
        (
            50,
            10,
            "InferenceService {ns}/" + NAME + " changed since the diagnosis: "
            "spec.predictor.canaryTrafficPercent went from 10 to 50; diagnose again",
        ),
    ],
)
def test_rollback_canary_refusals(
    people: People, custom: Any, namespace: str, percent: int | None, diagnosed: int, expected: str
) -> None:
    uid = _canary(custom, namespace, percent)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_rollback(namespace, uid, diagnosed), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan kserve.rollback-canary on inferenceservice/{namespace}/{NAME}: "
        + expected.format(ns=namespace)
    )


def test_rollback_canary_refuses_when_a_newer_revision_replaced_the_failing_one(
    people: People, custom: Any, namespace: str
) -> None:
    uid = _canary(custom, namespace)
    custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        NAME,
        {"status": {"components": {"predictor": {"latestCreatedRevision": f"{NAME}-predictor-00003"}}}},
    )
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_rollback(namespace, uid), people.who("alice"))
    assert str(refused.value).endswith(
        f"its latest revision is now {NAME}-predictor-00003, not the failing {FAILING}; diagnose again"
    )


def test_the_isvc_crd_is_installed(custom: Any) -> None:
    """Guard: a missing CRD would make every test above fail with a 404, not a refusal."""
    try:
        custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    except ApiException as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"the InferenceService CRD is not served: {exc.reason}")
