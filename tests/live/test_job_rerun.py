"""job.rerun through the real gate and API server: a failed migration Job is deleted (uid
precondition, propagationPolicy Background) and created again from its spec with a new uid.

No controllers run here (controlplane.py), so the tests write what the Job controller would:
the failed run's pod and the Job's Failed status. The garbage collector does not run either, so
the old run's pod stays; the tests check it still points at the deleted Job's uid (what the
collector acts on) and that the verification says it remains.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from kfops.playbooks.gate import Refused
from kfops.playbooks.jobs import GENERATED_LABELS
from tests.support.kube import metadata

from .test_gate import (  # noqa: F401 — fixtures
    People,
    audit_events,
    oncall_roles,
    people,
    proposal,
    run_low_risk,
    settings,
)

JOB = "kfp-db-migrate"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _job(batch: client.BatchV1Api, namespace: str) -> client.V1Job:
    return batch.create_namespaced_job(
        namespace,
        client.V1Job.model_validate(
            {
                "metadata": {"name": JOB, "labels": {"app": "kfp-db-migrate"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": {"app": "kfp-db-migrate"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {"name": "migrate", "image": "migrate/migrate:v4.17.0", "args": ["up"]}
                            ],
                        },
                    },
                },
            }
        ),
    )


def _failed_job(admin_api: client.ApiClient, namespace: str) -> tuple[str, str]:
    """A Job whose one pod failed, as the Job controller leaves it: (job uid, pod name)."""
    batch, core = client.BatchV1Api(admin_api), client.CoreV1Api(admin_api)
    job = _job(batch, namespace)
    uid = metadata(job).uid
    assert uid is not None and job.spec is not None and job.spec.template.metadata is not None
    pod = f"{JOB}-x7k2p"
    core.create_namespaced_pod(
        namespace,
        client.V1Pod.model_validate(
            {
                "metadata": {
                    "name": pod,
                    "labels": job.spec.template.metadata.labels,
                    "ownerReferences": [
                        {
                            "apiVersion": "batch/v1",
                            "kind": "Job",
                            "name": JOB,
                            "uid": uid,
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "migrate/migrate:v4.17.0", "args": ["up"]}],
                },
            }
        ),
    )
    core.patch_namespaced_pod_status(pod, namespace, {"status": {"phase": "Failed"}})
    _fail(batch, namespace, job)
    return uid, pod


def _fail(batch: client.BatchV1Api, namespace: str, job: client.V1Job) -> None:
    now = _now()
    failed = {"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
    batch.patch_namespaced_job_status(
        JOB,
        namespace,
        {
            "status": {
                "startTime": now,
                "failed": 1,
                "conditions": [
                    {
                        "type": kind,
                        "status": "True",
                        "lastProbeTime": now,
                        "lastTransitionTime": now,
                        **failed,
                    }
                    for kind in ("FailureTarget", "Failed")
                ],
            }
        },
    )


@pytest.fixture
def team(core: client.CoreV1Api, admin_api: client.ApiClient) -> str:
    """A fresh namespace where gpu-oncall may read Jobs.

    The plan reads the Job with the requester's credentials; reading Jobs belongs to the read-only
    role of the diagnosis that proposes re-runs (galera-migration-failure). This Role grants just
    that here, so these tests do not depend on when deploy/rbac/clusterrole-reader.yaml does.
    """
    name = f"kubeflow-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace.model_validate({"metadata": {"name": name}}))
    rbac = client.RbacAuthorizationV1Api(admin_api)
    rbac.create_namespaced_role(
        name,
        client.V1Role.model_validate(
            {
                "metadata": {"name": "read-jobs"},
                "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]}],
            }
        ),
    )
    rbac.create_namespaced_role_binding(
        name,
        client.V1RoleBinding.model_validate(
            {
                "metadata": {"name": "gpu-oncall-read-jobs"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-jobs"},
                "subjects": [
                    {"kind": "Group", "name": "gpu-oncall", "apiGroup": "rbac.authorization.k8s.io"}
                ],
            }
        ),
    )
    return name


def test_a_failed_migration_job_is_rerun_with_a_new_uid(
    people: People,  # noqa: F811 — fixture (test_gate.py)
    admin_api: client.ApiClient,
    team: str,
    settings: Any,  # noqa: F811 — fixture (test_gate.py)
) -> None:
    batch, core = client.BatchV1Api(admin_api), client.CoreV1Api(admin_api)
    old_uid, old_pod = _failed_job(admin_api, team)
    rerun = proposal("job.rerun", f"job/{team}/{JOB}", namespace=team, job=JOB, uid=old_uid)
    gate, alice = people.gate("alice"), people.who("alice")

    prepared = gate.prepare(rerun, alice)
    assert prepared.dry_run == (
        f"dry-run OK: DELETE jobs.batch/{JOB} -n {team} (uid precondition, propagationPolicy Background)",
        f"dry-run OK: CREATE jobs.batch/{JOB} -n {team} (validated under generateName {JOB}-: "
        "the name itself is free only once the delete has run)",
    )
    assert metadata(batch.read_namespaced_job(JOB, team)).uid == old_uid  # the dry run wrote nothing
    assert [c.resource for c in prepared.access] == ["jobs.batch", "jobs.batch"]
    delete, create = prepared.plan.steps
    assert delete.to_json()["propagation"] == "Background" and delete.uid == old_uid
    body = create.body
    assert "selector" not in body["spec"] and "uid" not in body["metadata"] and "status" not in body
    assert not GENERATED_LABELS & set(body["spec"]["template"]["metadata"]["labels"])
    assert prepared.plan.notes[0] == (
        "failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )

    executed = run_low_risk(gate, alice, rerun)
    assert executed.outcome.ok, executed.outcome.summary
    assert executed.verification.ok, executed.verification.summary
    new = batch.read_namespaced_job(JOB, team)
    assert new.spec is not None and new.spec.selector is not None and new.status is not None
    template = new.spec.template
    assert template.metadata is not None and template.metadata.labels is not None
    assert template.spec is not None
    assert metadata(new).uid != old_uid
    assert new.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": metadata(new).uid}
    assert template.metadata.labels["batch.kubernetes.io/controller-uid"] == metadata(new).uid
    assert template.spec.containers[0].image == "migrate/migrate:v4.17.0"
    assert new.status.conditions is None  # a fresh run
    # The old run's pod is the garbage collector's to delete (none runs here): it still points
    # at the deleted Job, and the new Job's selector cannot adopt it.
    pod = core.read_namespaced_pod(old_pod, team)
    owners = metadata(pod).owner_references
    assert owners is not None
    assert owners[0].uid == old_uid
    assert executed.verification.summary == (
        f"Job {team}/{JOB} runs again as a new Job (uid {metadata(new).uid}); "
        "1 pod(s) of the old run remain until the garbage collector deletes them"
    )
    events = core.list_namespaced_event(team, field_selector=f"involvedObject.name={JOB}").items
    assert [(e.reason, e.involved_object.kind) for e in events] == [("KfopsRemediation", "Job")]
    assert audit_events(settings) == ["requested", "approved", "executed"]


def test_a_job_that_has_not_failed_is_refused(
    people: People,  # noqa: F811 — fixture (test_gate.py)
    admin_api: client.ApiClient,
    team: str,
) -> None:
    job = _job(client.BatchV1Api(admin_api), team)
    rerun = proposal("job.rerun", f"job/{team}/{JOB}", namespace=team, job=JOB, uid=metadata(job).uid)
    with pytest.raises(Refused) as refused:
        people.gate("alice").prepare(rerun, people.who("alice"))
    assert str(refused.value) == (
        f"cannot plan job.rerun on job/{team}/{JOB}: Job {team}/{JOB} has not failed (yet): "
        "only a failed Job is re-run"
    )


def test_a_job_recreated_since_the_diagnosis_is_refused(
    people: People,  # noqa: F811 — fixture (test_gate.py)
    admin_api: client.ApiClient,
    team: str,
) -> None:
    old_uid, _ = _failed_job(admin_api, team)
    stale = str(uuid.uuid4())
    rerun = proposal("job.rerun", f"job/{team}/{JOB}", namespace=team, job=JOB, uid=stale)
    with pytest.raises(
        Refused, match=f"uid {old_uid}, not {stale}\\): it was re-created since; diagnose again"
    ):
        people.gate("alice").prepare(rerun, people.who("alice"))


def test_a_job_replaced_after_approval_is_not_touched(
    people: People,  # noqa: F811 — fixture (test_gate.py)
    admin_api: client.ApiClient,
    team: str,
    settings: Any,  # noqa: F811 — fixture (test_gate.py)
) -> None:
    batch = client.BatchV1Api(admin_api)
    old_uid, _ = _failed_job(admin_api, team)
    rerun = proposal("job.rerun", f"job/{team}/{JOB}", namespace=team, job=JOB, uid=old_uid)
    gate, alice = people.gate("alice"), people.who("alice")
    prepared = gate.prepare(rerun, alice)
    gate.request(prepared, alice)
    gate.approve(prepared.plan.id, alice, self_approval=True)
    batch.delete_namespaced_job(JOB, team)  # someone re-ran it by hand meanwhile
    replaced = metadata(_job(batch, team)).uid
    with pytest.raises(Refused, match=r"the cluster changed since approval: Job .* is not the one diagnosed"):
        gate.execute(prepared.plan.id, alice)
    assert metadata(batch.read_namespaced_job(JOB, team)).uid == replaced
    assert "executed" not in audit_events(settings)


def test_a_user_without_the_remediation_role_may_not_rerun(
    people: People,  # noqa: F811 — fixture (test_gate.py)
    admin_api: client.ApiClient,
    team: str,
) -> None:
    old_uid, _ = _failed_job(admin_api, team)
    rerun = proposal("job.rerun", f"job/{team}/{JOB}", namespace=team, job=JOB, uid=old_uid)
    with pytest.raises(
        Refused, match=f"dave may not do this: missing 'delete' on 'jobs.batch' in namespace {team}"
    ):
        people.gate("dave").prepare(rerun, people.who("dave"))
