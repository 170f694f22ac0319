"""The Profile-controller playbooks through the real gate and API server: profile.rollback (high risk,
a merge patch on a cluster-scoped Profile checked against the Profile CRD in tests/live/crds),
deployment.set-image (high) and deployment.set-resources (medium) on profiles-deployment.

No Profile controller and no Deployment controller run here. `Rollout` writes what the Deployment
controller would once it sees the new generation (as in test_deployment_restart.py), so the
set-image / set-resources verification has a rollout to read.

The kubernetes client's handles are typed ``Any`` here: these tests read objects they just wrote.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kfops.clients.live.kube import LiveKubeReader
from kfops.clients.live.writer import LiveKubeWriter
from kfops.clients.resources import PROFILES
from kfops.model import Proposal
from kfops.playbooks import deployments
from kfops.playbooks.base import Context
from kfops.playbooks.gate import Gate, Refused
from kfops.playbooks.profiles import LAST_APPLIED, RollbackProfile
from kfops.settings import Settings

from . import test_gate
from .controlplane import ControlPlane
from .crds import install_crds
from .test_deployment_restart import Controller, _roll
from .test_gate import People, audit_events, proposal, run_low_risk

# the gate's fixtures (on-call roles, a state namespace, a gate per user), shared with test_gate.py
oncall_roles, settings, people = test_gate.oncall_roles, test_gate.settings, test_gate.people

GROUP, VERSION, PLURAL = "kubeflow.org", "v1", "profiles"
DEPLOYMENT = "profiles-deployment"
OLD, NEW = (
    "ghcr.io/kubeflow/kubeflow/profile-controller:v1.9.0",
    "ghcr.io/kubeflow/kubeflow/profile-controller:v1.10.0",
)
KFAM = "ghcr.io/kubeflow/kubeflow/kfam:v1.10.0"
REPLICAS = 1
ROLE = Path(__file__).resolve().parents[2] / "deploy" / "rbac" / "clusterrole-remediate.yaml"

OWNER = {"kind": "User", "name": "alice@example.com"}
#: the spec `kubectl apply` last applied: what the controller decodes
APPLIED = {"owner": OWNER, "resourceQuotaSpec": {"hard": {"cpu": "4", "memory": "16Gi"}}}
#: the spec now: someone added a field the running controller does not know, and raised the quota
EDITED = {
    "owner": OWNER,
    "resourceQuotaSpec": {"hard": {"cpu": "8", "memory": "16Gi", "requests.nvidia.com/gpu": "2"}},
    "workspaceVolume": {"size": "10Gi", "storageClassName": "fast"},
}


@pytest.fixture(scope="module")
def crds(admin_api: client.ApiClient) -> None:
    install_crds(admin_api)  # idempotent


@pytest.fixture
def custom(admin_api: client.ApiClient, crds: None) -> Any:
    return client.CustomObjectsApi(admin_api)


@pytest.fixture
def apps(admin_api: client.ApiClient) -> Any:
    return client.AppsV1Api(admin_api)


# --------------------------------------------------------------------------- Profiles


def _profile(custom: Any, spec: dict[str, Any] | None = None, name: str = "") -> tuple[str, str, str]:
    """A Profile as the diagnosis saw it: (name, uid, resourceVersion)."""
    name = name or f"team-{uuid.uuid4().hex[:8]}"
    applied = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Profile",
        "metadata": {"name": name},
        "spec": APPLIED,
    }
    made = custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Profile",
            "metadata": {"name": name, "annotations": {LAST_APPLIED: json.dumps(applied)}},
            "spec": spec if spec is not None else EDITED,
        },
    )
    return name, str(made["metadata"]["uid"]), str(made["metadata"]["resourceVersion"])


def _read_profile(custom: Any, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    return found


def _rollback(name: str, uid: str, version: str, **overrides: Any) -> Proposal:
    params: dict[str, Any] = {
        "profile": name,
        "uid": uid,
        "resource_version": version,
        "fields": ["spec.workspaceVolume"],
        "restore_spec": APPLIED,
        "source": LAST_APPLIED,
        **overrides,
    }
    return proposal("profile.rollback", f"profile/{name}", **params)


def _approve_twice(people: People, gate: Gate, p: Proposal) -> str:
    """alice requests; bob and carol approve (high risk: two, neither the requester)."""
    prepared = gate.prepare(p, people.who("alice"))
    record = gate.request(prepared, people.who("alice"))
    assert record.required == 2
    plan_id = prepared.plan.id
    with pytest.raises(Refused, match=f"alice requested plan {plan_id} and cannot approve it"):
        gate.approve(plan_id, people.who("alice"), self_approval=True)
    assert not people.gate("bob").approve(plan_id, people.who("bob")).complete
    with pytest.raises(Refused, match="has 1 of 2 approvals"):
        gate.execute(plan_id, people.who("alice"))
    assert people.gate("carol").approve(plan_id, people.who("carol")).complete
    return plan_id


def test_profile_rollback_is_planned_dry_run_approved_twice_executed_and_verified(
    people: People, custom: Any, core: Any, settings: Settings
) -> None:
    name, uid, version = _profile(custom)
    gate = people.gate("alice")
    prepared = gate.prepare(_rollback(name, uid, version), people.who("alice"))
    body = {
        "metadata": {"uid": uid},
        "spec": {
            "workspaceVolume": None,
            "owner": OWNER,
            "resourceQuotaSpec": {"hard": {"requests.nvidia.com/gpu": None, "cpu": "4", "memory": "16Gi"}},
        },
    }
    plan = prepared.plan
    assert plan.steps[0].body == body
    assert prepared.dry_run == (
        f"dry-run OK: PATCH profiles.kubeflow.org/{name}: {json.dumps(body, sort_keys=True)}",
    )
    assert plan.diff == (
        '- spec.resourceQuotaSpec.hard.cpu: "8"',
        '+ spec.resourceQuotaSpec.hard.cpu: "4"',
        '- spec.resourceQuotaSpec.hard.requests.nvidia.com/gpu: "2"',
        "+ spec.resourceQuotaSpec.hard.requests.nvidia.com/gpu: (removed)",
        '- spec.workspaceVolume: {"size":"10Gi","storageClassName":"fast"}',
        "+ spec.workspaceVolume: (removed)",
    )
    undo = {
        "spec": {
            "owner": OWNER,
            "resourceQuotaSpec": {"hard": {"cpu": "8", "memory": "16Gi", "requests.nvidia.com/gpu": "2"}},
            "workspaceVolume": {"size": "10Gi", "storageClassName": "fast"},
        }
    }
    assert plan.notes[-1] == (
        f"to undo: kubectl patch profile {name} --type merge -p '{json.dumps(undo, sort_keys=True)}' "
        "(puts the offending fields back: the controller crashes again)"
    )
    assert f"resourceVersion {version}" in plan.notes[1]
    assert [(c.verb, c.resource, c.name, c.allowed) for c in prepared.access] == [
        ("patch", "profiles.kubeflow.org", name, True)
    ]
    assert _read_profile(custom, name)["spec"] == EDITED  # the dry run changed nothing

    plan_id = _approve_twice(people, gate, _rollback(name, uid, version))
    assert plan_id == plan.id
    executed = people.gate("carol").execute(plan_id, people.who("carol"))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.outcome.details == (f"{plan.steps[0].command()} (resourceVersion {version})",)
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"Profile {name}: spec.workspaceVolume gone; its spec is restore_spec (from {LAST_APPLIED})"
    )
    after = _read_profile(custom, name)
    assert after["spec"] == APPLIED
    assert "workspaceVolume" not in after["spec"]
    events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={name}").items
    assert [(e.reason, e.involved_object.api_version, e.involved_object.kind, e.type) for e in events] == [
        ("KfopsRemediation", "kubeflow.org/v1", "Profile", "Normal")
    ]
    assert audit_events(settings) == ["requested", "approved", "approved", "executed"]


def test_a_restore_spec_the_crd_schema_rejects_is_refused_in_the_dry_run(people: People, custom: Any) -> None:
    """spec.owner requires kind and name in the CRD: the API server refuses the dry run."""
    name, uid, version = _profile(custom)
    broken = {"owner": {"kind": "User"}, "resourceQuotaSpec": {"hard": {"cpu": "4"}}}
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_rollback(name, uid, version, restore_spec=broken), people.who("alice"))
    message = str(refused.value)
    assert message.startswith(f"the API server refused the dry-run of PATCH profiles.kubeflow.org/{name}: ")
    assert "spec.owner.name: Required value" in message
    assert _read_profile(custom, name)["spec"] == EDITED


def test_a_profile_changed_since_the_diagnosis_is_refused(people: People, custom: Any) -> None:
    name, uid, version = _profile(custom)
    custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, {"metadata": {"labels": {"team": "ml"}}})
    now = _read_profile(custom, name)["metadata"]["resourceVersion"]
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(_rollback(name, uid, version), people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan profile.rollback on profile/{name}: Profile {name} changed since the diagnosis "
        f"(resourceVersion {now}, not {version}): diagnose again"
    )


def test_a_profile_changed_after_approval_is_refused_and_nothing_written(
    people: People, custom: Any, settings: Settings
) -> None:
    name, uid, version = _profile(custom)
    gate = people.gate("alice")
    plan_id = _approve_twice(people, gate, _rollback(name, uid, version))
    changed = {**EDITED, "owner": {"kind": "User", "name": "bob@example.com"}}
    custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, name, {"spec": changed})
    with pytest.raises(Refused) as refused:
        people.gate("carol").execute(plan_id, people.who("carol"))
    assert str(refused.value).startswith(
        f"the cluster changed since approval: Profile {name} changed since the diagnosis (resourceVersion "
    )
    assert str(refused.value).endswith(f"not {version}): diagnose again; nothing was done")
    assert _read_profile(custom, name)["spec"] == changed
    assert "executed" not in audit_events(settings)


def test_a_profile_recreated_after_approval_is_refused(people: People, custom: Any) -> None:
    name, uid, version = _profile(custom)
    gate = people.gate("alice")
    plan_id = _approve_twice(people, gate, _rollback(name, uid, version))
    custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    _, new_uid, _ = _profile(custom, name=name)
    with pytest.raises(Refused) as refused:
        people.gate("carol").execute(plan_id, people.who("carol"))
    assert str(refused.value) == (
        f"the cluster changed since approval: Profile {name} is not the one diagnosed (uid {new_uid}, "
        f"not {uid}): it was re-created since; diagnose again; nothing was done"
    )
    assert _read_profile(custom, name)["spec"] == EDITED


class _SomeoneEditsAfterTheRead:
    """A reader after whose reads of the Profile someone edits it: the execution's re-check passed,
    the write must still not overwrite the edit."""

    def __init__(self, inner: LiveKubeReader, custom: Any, name: str) -> None:
        self.inner, self.custom, self.name = inner, custom, name
        self.reads = 0

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.inner, attr)

    def get(self, ref: Any, name: str, namespace: str | None = None) -> Any:
        read = self.inner.get(ref, name, namespace)
        self.reads += 1
        if ref == PROFILES and self.reads == 2:  # the plan's read, then the execution's re-check
            self.custom.patch_cluster_custom_object(
                GROUP, VERSION, PLURAL, self.name, {"metadata": {"labels": {"edited": "yes"}}}
            )
        return read


def test_a_write_after_the_re_check_is_refused_by_the_resource_version(
    custom: Any, control_plane: ControlPlane, settings: Settings
) -> None:
    name, uid, version = _profile(custom)
    kubeconfig = str(control_plane.kubeconfig)
    racing = _SomeoneEditsAfterTheRead(LiveKubeReader.connect(kubeconfig, "alice"), custom, name)
    ctx = Context(racing, settings, datetime.now(UTC))
    playbook = RollbackProfile()
    plan = playbook.plan(ctx, _rollback(name, uid, version))
    outcome = playbook.execute(ctx, LiveKubeWriter.connect(kubeconfig, "alice"), plan)
    assert not outcome.ok
    assert outcome.summary.startswith(
        f"stopped at {plan.steps[0].command()}: Profile {name} changed while executing ("
    )
    assert outcome.summary.endswith("); nothing was changed — request a new plan")
    assert _read_profile(custom, name)["spec"] == EDITED


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("gone", "Profile {name} no longer exists (deleted since the diagnosis)"),
        (
            "uid",
            "Profile {name} is not the one diagnosed (uid {uid}, not {stale}): it was re-created since; "
            "diagnose again",
        ),
        (
            "still-offending",
            f"restore_spec (from {LAST_APPLIED}) still has spec.workspaceVolume: restoring it would not "
            "remove what the controller cannot decode; fix the Profile by hand (kubectl apply -f <your "
            "previous profile.yaml>)",
        ),
        ("already-gone", "Profile {name} no longer has spec.workspaceVolume: nothing to roll back"),
    ],
)
def test_profile_rollback_refusals(people: People, custom: Any, case: str, expected: str) -> None:
    name, uid, version = _profile(custom, APPLIED if case == "already-gone" else EDITED)
    overrides: dict[str, Any] = {}
    stale = str(uuid.uuid4())
    if case == "gone":
        custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    elif case == "uid":
        overrides["diagnosed_uid"] = stale
    elif case == "still-offending":
        overrides["restore_spec"] = {**APPLIED, "workspaceVolume": {"size": "5Gi"}}
    with pytest.raises(Refused) as refused:
        diagnosed = overrides.pop("diagnosed_uid", uid)
        people.gate("alice").prepare(_rollback(name, diagnosed, version, **overrides), people.who("alice"))
    assert str(refused.value) == f"cannot plan profile.rollback on profile/{name}: " + expected.format(
        name=name, uid=uid, stale=stale
    )


def test_an_offending_plugin_kind_is_a_value_not_a_key(people: People, custom: Any) -> None:
    """fields naming spec.plugins[0].kind: a restore_spec with a known kind there is fine."""
    plugin = {"kind": "WorkloadIdentity", "spec": {"gcpServiceAccount": "sa@p.iam.gserviceaccount.com"}}
    applied = {**APPLIED, "plugins": [plugin]}
    edited = {**APPLIED, "plugins": [{"kind": "AzureWorkloadIdentity", "spec": {}}]}
    name, uid, version = _profile(custom, edited)
    fields = ["spec.plugins[0].kind"]
    prepared = people.gate("alice").prepare(
        _rollback(name, uid, version, fields=fields, restore_spec=applied), people.who("alice")
    )
    assert prepared.plan.steps[0].body["spec"]["plugins"] == [plugin]
    with pytest.raises(Refused, match=r"still has spec\.plugins\[0\]\.kind"):
        people.gate("alice").prepare(
            _rollback(name, uid, version, fields=fields, restore_spec=edited), people.who("alice")
        )


def test_missing_or_malformed_rollback_parameters_are_named(people: People, custom: Any) -> None:
    name, uid, version = _profile(custom)
    target = f"profile/{name}"
    cases = [
        (
            proposal("profile.rollback", target, profile=name, uid=uid),
            "profile.rollback needs resource_version, fields, restore_spec in its parameters",
        ),
        (
            _rollback(name, uid, version, fields="spec.workspaceVolume"),
            "profile.rollback needs fields as a list of dotted paths, not 'spec.workspaceVolume'",
        ),
        (
            _rollback(name, uid, version, fields=["spec..x"]),
            "profile.rollback: 'spec..x' in fields is not a dotted path under spec",
        ),
        (
            _rollback(name, uid, version, restore_spec={**APPLIED, "x": None}),
            "profile.rollback: restore_spec holds a null, which a merge patch cannot restore (it removes the "
            "key); restore the Profile by hand",
        ),
    ]
    for p, reason in cases:
        with pytest.raises(Refused) as refused:
            people.gate("alice").prepare(p, people.who("alice"))
        assert str(refused.value) == f"cannot plan profile.rollback on {target}: {reason}"


def test_a_user_without_the_remediation_role_may_not_roll_back(people: People, custom: Any) -> None:
    name, uid, version = _profile(custom)
    with pytest.raises(
        Refused,
        match=rf"dave may not do this: missing 'patch' on 'profiles\.kubeflow\.org' \(cluster scope\) "
        rf"for {name}",
    ):
        people.gate("dave").prepare(_rollback(name, uid, version), people.who("dave"))
    assert _read_profile(custom, name)["spec"] == EDITED


# --------------------------------------------------------------------------- profiles-deployment


def _controller(apps: Any, namespace: str, name: str = DEPLOYMENT, image: str = NEW) -> str:
    """The Profile controller Deployment (manager + kfam) after its last rollout; its uid."""
    labels = {"kustomize.component": "profiles"}
    made = apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": REPLICAS,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "manager",
                                "image": image,
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"cpu": "1", "memory": "256Mi"},
                                },
                            },
                            {"name": "kfam", "image": KFAM},
                        ]
                    },
                },
            },
        },
    )
    _roll(apps, namespace, name, available=REPLICAS, replicas=REPLICAS)
    return str(made.metadata.uid)


def _gate(people: People, user: str, namespace: str) -> Gate:
    """A gate whose Profile controller namespace is this test's namespace."""
    return people.gate(user, profile_controller_namespace=namespace)


def _set_image(namespace: str, uid: str, name: str = DEPLOYMENT, **overrides: Any) -> Proposal:
    params: dict[str, Any] = {
        "namespace": namespace,
        "deployment": name,
        "uid": uid,
        "container": "manager",
        "from_image": NEW,
        "to_image": OLD,
        "from_version": "v1.10.0",
        "to_version": "v1.9.0",
        "reason": "the CRD serves only kubeflow.org/v1beta1; v1.9.0 is the last release that watches it",
        **overrides,
    }
    return proposal("deployment.set-image", f"deployment/{namespace}/{name}", **params)


def _set_resources(namespace: str, uid: str, **overrides: Any) -> Proposal:
    params: dict[str, Any] = {
        "namespace": namespace,
        "deployment": DEPLOYMENT,
        "uid": uid,
        "container": "manager",
        "memory_limit": "384Mi",
        "memory_request": "128Mi",
        "current_limit": "256Mi",
        "current_request": "128Mi",
        "arithmetic": "OOMKilled at the 256Mi limit: 256Mi × 1.5 = 384Mi (a multiple of 64Mi); "
        "request min(128Mi, 384Mi) = 128Mi",
        **overrides,
    }
    return proposal("deployment.set-resources", f"deployment/{namespace}/{DEPLOYMENT}", **params)


def _containers(apps: Any, namespace: str) -> dict[str, Any]:
    found = apps.read_namespaced_deployment(DEPLOYMENT, namespace).spec.template.spec.containers
    return {c.name: c for c in found}


def test_set_image_is_planned_dry_run_approved_twice_executed_and_verified(
    people: People, apps: Any, core: Any, namespace: str, settings: Settings
) -> None:
    uid = _controller(apps, namespace)
    gate = _gate(people, "alice", namespace)
    prepared = gate.prepare(_set_image(namespace, uid), people.who("alice"))
    body = {
        "metadata": {"uid": uid},
        "spec": {"template": {"spec": {"containers": [{"name": "manager", "image": OLD}]}}},
    }
    plan = prepared.plan
    assert plan.steps[0].body == body and plan.steps[0].strategic
    assert prepared.dry_run == (
        f"dry-run OK: PATCH deployments.apps/{DEPLOYMENT} -n {namespace}: {json.dumps(body, sort_keys=True)}",
    )
    field = "spec.template.spec.containers[manager].image"
    assert plan.diff == (f"- {field}: {NEW} (v1.10.0)", f"+ {field}: {OLD} (v1.9.0)")
    assert plan.notes[1].startswith("manager: v1.10.0 → v1.9.0: the CRD serves only kubeflow.org/v1beta1")
    undo = {"spec": {"template": {"spec": {"containers": [{"image": NEW, "name": "manager"}]}}}}
    assert plan.notes[-1] == (
        f"to undo: kubectl patch deployment {DEPLOYMENT} -n {namespace} --type strategic "
        f"-p '{json.dumps(undo, sort_keys=True)}'"
    )
    assert [(c.verb, c.resource, c.name, c.allowed) for c in prepared.access] == [
        ("patch", "deployments.apps", DEPLOYMENT, True)
    ]
    assert _containers(apps, namespace)["manager"].image == NEW  # the dry run changed nothing

    plan_id = _approve_twice(people, gate, _set_image(namespace, uid))
    with Controller(apps, namespace, available=REPLICAS, name=DEPLOYMENT, replicas=REPLICAS):
        executed = _gate(people, "carol", namespace).execute(plan_id, people.who("carol"))
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary == (
        f"Deployment {namespace}/{DEPLOYMENT}: {field} is {OLD}; the rollout of Deployment "
        f"{namespace}/{DEPLOYMENT} finished: observedGeneration 2 of generation 2, 1 updated, 1 available, "
        "1 in all, of 1 desired"
    )
    containers = _containers(apps, namespace)
    assert containers["manager"].image == OLD
    assert containers["manager"].resources.limits == {"cpu": "1", "memory": "256Mi"}
    assert containers["kfam"].image == KFAM  # the other container untouched
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={DEPLOYMENT}").items
    assert [(e.reason, e.involved_object.kind, e.type) for e in events] == [
        ("KfopsRemediation", "Deployment", "Normal")
    ]
    assert audit_events(settings) == ["requested", "approved", "approved", "executed"]


def test_set_image_whose_rollout_does_not_finish_fails_verification(
    people: People, apps: Any, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deployments, "ROLLOUT_WAIT_S", 1.0)
    monkeypatch.setattr(deployments, "POLL_S", 0.1)
    uid = _controller(apps, namespace)
    gate = _gate(people, "alice", namespace)
    plan_id = _approve_twice(people, gate, _set_image(namespace, uid))
    # the old image never becomes ready either
    with Controller(apps, namespace, available=0, name=DEPLOYMENT, replicas=REPLICAS):
        executed = _gate(people, "carol", namespace).execute(plan_id, people.who("carol"))
    assert executed.outcome.ok
    assert not executed.verification.ok
    assert executed.verification.summary.endswith(
        f"the rollout of Deployment {namespace}/{DEPLOYMENT} has not finished after 1 s: "
        "observedGeneration 2 of generation 2, 1 updated, 0 available, 1 in all, of 1 desired"
    )


def test_an_image_with_whitespace_is_refused_by_the_playbook(
    people: People, apps: Any, namespace: str
) -> None:
    """The API server checks image whitespace only on pods, not on a Deployment's pod template: the
    dry run would pass and the rollout fail to pull, so the playbook refuses it."""
    uid = _controller(apps, namespace)
    with pytest.raises(Refused) as refused:
        _gate(people, "alice", namespace).prepare(
            _set_image(namespace, uid, to_image=f"{OLD} "), people.who("alice")
        )
    assert str(refused.value) == (
        f"cannot plan deployment.set-image on deployment/{namespace}/{DEPLOYMENT}: deployment.set-image "
        f"needs to_image as an image reference, not '{OLD} '"
    )
    assert _containers(apps, namespace)["manager"].image == NEW


def test_set_image_changed_after_approval_is_refused_and_nothing_written(
    people: People, apps: Any, namespace: str, settings: Settings
) -> None:
    uid = _controller(apps, namespace)
    gate = _gate(people, "alice", namespace)
    plan_id = _approve_twice(people, gate, _set_image(namespace, uid))
    other = "ghcr.io/kubeflow/kubeflow/profile-controller:v1.10.1"
    apps.patch_namespaced_deployment(
        DEPLOYMENT,
        namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "manager", "image": other}]}}}},
    )
    with pytest.raises(Refused) as refused:
        _gate(people, "carol", namespace).execute(plan_id, people.who("carol"))
    assert str(refused.value) == (
        f"the cluster changed since approval: Deployment {namespace}/{DEPLOYMENT} changed since the "
        f"diagnosis: spec.template.spec.containers[manager].image went from {NEW} to {other}; "
        "diagnose again; nothing was done"
    )
    assert _containers(apps, namespace)["manager"].image == other
    assert "executed" not in audit_events(settings)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "no-such-container",
            "Deployment {ns}/" + DEPLOYMENT + " has no container manger (it has manager, kfam)",
        ),
        (
            "from-image-differs",
            "Deployment {ns}/" + DEPLOYMENT + " changed since the diagnosis: spec.template.spec.containers"
            f"[manager].image went from {OLD} to {NEW}; diagnose again",
        ),
        ("already", "Deployment {ns}/" + DEPLOYMENT + f" already runs {NEW} in manager: nothing to change"),
        ("gone", "Deployment {ns}/" + DEPLOYMENT + " no longer exists (deleted since the diagnosis)"),
        (
            "recreated",
            "Deployment {ns}/" + DEPLOYMENT + " is not the one diagnosed (uid {uid}, not {stale}): "
            "it was re-created since; diagnose again",
        ),
        (
            "other-deployment",
            "deployment.set-image changes only the Profile controller Deployment profiles-deployment "
            "(settings.profile_controller_deployment), not ml-pipeline",
        ),
        (
            "other-namespace",
            "deployment.set-image changes profiles-deployment only in the Profile controller's namespace "
            "kubeflow (settings.profile_controller_namespace), not in {ns}",
        ),
        (
            "same-images",
            "deployment.set-image: from_image and to_image are both " + NEW + ": nothing to change",
        ),
    ],
)
def test_set_image_refusals(people: People, apps: Any, namespace: str, case: str, expected: str) -> None:
    stale = str(uuid.uuid4())
    uid = stale if case == "gone" else _controller(apps, namespace)
    gate, name = _gate(people, "alice", namespace), DEPLOYMENT
    overrides: dict[str, Any] = {}
    if case == "no-such-container":
        overrides["container"] = "manger"
    elif case == "from-image-differs":
        overrides = {"from_image": OLD, "to_image": "ghcr.io/kubeflow/kubeflow/profile-controller:v1.8.0"}
    elif case == "already":
        overrides = {"from_image": OLD, "to_image": NEW}
    elif case == "recreated":
        overrides["diagnosed_uid"] = stale
    elif case == "other-deployment":  # the role lets alice patch ml-pipeline (deployment.restart): the
        name = "ml-pipeline"  # playbook must refuse it
        _controller(apps, namespace, name)
    elif case == "other-namespace":
        gate = people.gate("alice")  # the Profile controller lives in kubeflow, not in this namespace
    elif case == "same-images":
        overrides["to_image"] = NEW
    with pytest.raises(Refused) as refused:
        diagnosed = overrides.pop("diagnosed_uid", uid)
        gate.prepare(_set_image(namespace, diagnosed, name, **overrides), people.who("alice"))
    reason = expected.format(ns=namespace, uid=uid, stale=stale)
    assert (
        str(refused.value) == f"cannot plan deployment.set-image on deployment/{namespace}/{name}: {reason}"
    )
    if case != "gone":
        assert _containers(apps, namespace)["manager"].image == NEW


def test_set_resources_patches_only_the_memory_of_that_container_and_verifies(
    people: People, apps: Any, namespace: str, settings: Settings
) -> None:
    uid = _controller(apps, namespace)
    with Controller(apps, namespace, available=REPLICAS, name=DEPLOYMENT, replicas=REPLICAS):
        executed = run_low_risk(
            _gate(people, "alice", namespace), people.who("alice"), _set_resources(namespace, uid)
        )
    assert executed.outcome.ok, executed.outcome.summary
    plan = executed.plan
    assert plan.steps[0].body == {
        "metadata": {"uid": uid},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "manager",
                            "resources": {"limits": {"memory": "384Mi"}, "requests": {"memory": "128Mi"}},
                        }
                    ]
                }
            }
        },
    }
    field = "spec.template.spec.containers[manager].resources"
    assert plan.diff == (
        f"- {field}.requests.memory: 128Mi",
        f"+ {field}.requests.memory: 128Mi",
        f"- {field}.limits.memory: 256Mi",
        f"+ {field}.limits.memory: 384Mi",
    )
    assert plan.notes[1] == (
        "arithmetic: OOMKilled at the 256Mi limit: 256Mi × 1.5 = 384Mi (a multiple of 64Mi); "
        "request min(128Mi, 384Mi) = 128Mi"
    )
    assert executed.verification.ok, executed.verification.summary
    assert executed.verification.summary.startswith(
        f"Deployment {namespace}/{DEPLOYMENT}: {field} requests 128Mi and limits 384Mi of memory; "
        "the rollout "
    )
    manager = _containers(apps, namespace)["manager"]
    assert manager.resources.limits == {"cpu": "1", "memory": "384Mi"}  # CPU kept
    assert manager.resources.requests == {"cpu": "100m", "memory": "128Mi"}
    assert manager.image == NEW
    assert audit_events(settings) == ["requested", "approved", "executed"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"current_limit": "512Mi"},
            "cannot plan deployment.set-resources on deployment/{ns}/"
            + DEPLOYMENT
            + ": Deployment {ns}/"
            + DEPLOYMENT
            + " changed since the diagnosis: spec.template.spec.containers[manager].resources"
            ".limits.memory went from 512Mi to 256Mi; diagnose again",
        ),
        (
            {"container": "kfam", "current_limit": None, "current_request": None, "memory_limit": "lots"},
            "cannot plan deployment.set-resources on deployment/{ns}/"
            + DEPLOYMENT
            + ": deployment.set-resources "
            "needs memory_limit as a Kubernetes quantity (e.g. 512Mi), not 'lots'",
        ),
        (
            {"memory_request": "1Gi"},
            "cannot plan deployment.set-resources on deployment/{ns}/"
            + DEPLOYMENT
            + ": deployment.set-resources: "
            "memory_request 1Gi is above memory_limit 384Mi; Kubernetes refuses such a container",
        ),
        (
            {"memory_limit": "0.25Gi", "memory_request": "128Mi"},
            "cannot plan deployment.set-resources on deployment/{ns}/"
            + DEPLOYMENT
            + ": Deployment {ns}/"
            + DEPLOYMENT
            + " already requests 128Mi and limits 0.25Gi of memory in manager: nothing to change",
        ),
    ],
)
def test_set_resources_refusals(
    people: People, apps: Any, namespace: str, overrides: dict[str, Any], expected: str
) -> None:
    uid = _controller(apps, namespace)
    with pytest.raises(Refused) as refused:
        _gate(people, "alice", namespace).prepare(
            _set_resources(namespace, uid, **overrides), people.who("alice")
        )
    assert str(refused.value) == expected.format(ns=namespace)
    assert _containers(apps, namespace)["manager"].resources.limits["memory"] == "256Mi"


def test_set_resources_on_a_container_without_memory_names_unset_values(
    people: People, apps: Any, namespace: str
) -> None:
    uid = _controller(apps, namespace)
    prepared = _gate(people, "alice", namespace).prepare(
        _set_resources(namespace, uid, container="kfam", current_limit=None, current_request=None),
        people.who("alice"),
    )
    assert prepared.plan.diff[0] == "- spec.template.spec.containers[kfam].resources.requests.memory: (unset)"
    undo = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "kfam",
                            "resources": {"limits": {"memory": None}, "requests": {"memory": None}},
                        }
                    ]
                }
            }
        }
    }
    assert prepared.plan.notes[-1].endswith(f"-p '{json.dumps(undo, sort_keys=True)}'")


def test_the_role_names_only_the_profile_controller_for_its_playbooks(
    people: People, apps: Any, namespace: str
) -> None:
    """The shipped role adds profiles-deployment (and nothing else) to the Deployments kfops patches."""
    rules = [r for r in yaml.safe_load(ROLE.read_text())["rules"] if r["resources"] == ["deployments"]]
    assert [tuple(r["resourceNames"]) for r in rules] == [deployments.RESTARTABLE, (DEPLOYMENT,)]
    assert Settings().profile_controller_deployment == DEPLOYMENT
    uid = _controller(apps, namespace, "kserve-controller-manager")
    with pytest.raises(Refused, match=r"alice may not do this: missing 'patch' on 'deployments\.apps'"):
        _gate(people, "alice", namespace).prepare(
            _set_image(namespace, uid, "kserve-controller-manager"), people.who("alice")
        )
