"""The CRDs in tests/live/crds against the real API server.

There are no controllers, so each test writes the status a real controller would,
*the way* that controller writes it: KServe, Knative, the training operator, the
notebook controller, mariadb-operator and the GPU operator use the status
subresource; Argo's workflow-controller updates the whole Workflow (its CRD has no
status subresource) and argoexec writes WorkflowTaskResults as whole objects.
Every test reads the object back and checks the fields survived exactly, because
a field the schema prunes or drops would silently vanish from a scenario.

Namespaces and cluster-scoped objects get unique names and are never deleted:
without controllers a namespace never finishes deleting.
"""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .crds import install_crds, load_crds

Obj = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rfc3339(minutes_ago: int = 0) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def api_message(error: ApiException) -> str:
    """The ``message`` of the Status object the API server sent with an error."""
    message: str = json.loads(error.body or "{}").get("message", "")
    return message


@dataclass(frozen=True)
class Kind:
    """One served resource, with CustomObjectsApi calls that hide the scope split."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def manifest(self, name: str, spec: Obj | None = None, **top_level: Any) -> Obj:
        body: Obj = {"apiVersion": self.api_version, "kind": self.kind, "metadata": {"name": name}}
        if spec is not None:
            body["spec"] = spec
        return {**body, **top_level}

    # CustomObjectsApi is typed ``-> object``; the API server answers with the JSON object.
    def create(self, api: client.CustomObjectsApi, namespace: str, body: Obj, **kwargs: Any) -> Obj:
        if self.namespaced:
            result = api.create_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, body, **kwargs
            )
        else:
            result = api.create_cluster_custom_object(*self._cluster, body, **kwargs)
        return cast(Obj, result)

    def get(self, api: client.CustomObjectsApi, namespace: str, name: str) -> Obj:
        if self.namespaced:
            result = api.get_namespaced_custom_object(self.group, self.version, namespace, self.plural, name)
        else:
            result = api.get_cluster_custom_object(*self._cluster, name)
        return cast(Obj, result)

    def replace(self, api: client.CustomObjectsApi, namespace: str, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        if self.namespaced:
            result = api.replace_namespaced_custom_object(
                self.group, self.version, namespace, self.plural, name, body
            )
        else:
            result = api.replace_cluster_custom_object(*self._cluster, name, body)
        return cast(Obj, result)

    def patch_status(self, api: client.CustomObjectsApi, namespace: str, name: str, status: Obj) -> Obj:
        """JSON merge patch of ``/status``, as a controller's ``Status().Patch`` would send."""
        if self.namespaced:
            result = api.patch_namespaced_custom_object_status(
                self.group, self.version, namespace, self.plural, name, {"status": status}
            )
        else:
            result = api.patch_cluster_custom_object_status(*self._cluster, name, {"status": status})
        return cast(Obj, result)

    @property
    def _cluster(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)


ISVC = Kind("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService")
KSVC = Kind("serving.knative.dev", "v1", "services", "Service")
CONFIGURATION = Kind("serving.knative.dev", "v1", "configurations", "Configuration")
ROUTE = Kind("serving.knative.dev", "v1", "routes", "Route")
REVISION = Kind("serving.knative.dev", "v1", "revisions", "Revision")
KPA = Kind("autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers", "PodAutoscaler")
WORKFLOW = Kind("argoproj.io", "v1alpha1", "workflows", "Workflow")
TASK_RESULT = Kind("argoproj.io", "v1alpha1", "workflowtaskresults", "WorkflowTaskResult")
PROFILE = Kind("kubeflow.org", "v1", "profiles", "Profile", namespaced=False)
PROFILE_V1BETA1 = Kind("kubeflow.org", "v1beta1", "profiles", "Profile", namespaced=False)
PYTORCHJOB = Kind("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob")
TFJOB = Kind("kubeflow.org", "v1", "tfjobs", "TFJob")
NOTEBOOK = Kind("kubeflow.org", "v1", "notebooks", "Notebook")
MARIADB = Kind("k8s.mariadb.com", "v1alpha1", "mariadbs", "MariaDB")
BACKUP = Kind("k8s.mariadb.com", "v1alpha1", "backups", "Backup")
RESTORE = Kind("k8s.mariadb.com", "v1alpha1", "restores", "Restore")
CLUSTER_POLICY = Kind("nvidia.com", "v1", "clusterpolicies", "ClusterPolicy", namespaced=False)


@pytest.fixture(scope="module")
def crd_names(admin_api: client.ApiClient) -> list[str]:
    return install_crds(admin_api)


@pytest.fixture
def custom(admin_api: client.ApiClient, crd_names: list[str]) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(admin_api)


@pytest.fixture
def namespace(admin_api: client.ApiClient) -> str:
    name = unique("crds")
    client.CoreV1Api(admin_api).create_namespace(
        client.V1Namespace.model_validate({"metadata": {"name": name}})
    )
    return name


# ------------------------------------------------------------------ the CRDs themselves

#: CRD name -> (scope, served versions, storage version, short names, categories), as upstream.
EXPECTED: dict[str, tuple[str, set[str], str, list[str] | None, list[str] | None]] = {
    "inferenceservices.serving.kserve.io": ("Namespaced", {"v1beta1"}, "v1beta1", ["isvc"], None),
    "services.serving.knative.dev": (
        "Namespaced",
        {"v1"},
        "v1",
        ["kservice", "ksvc"],
        ["all", "knative", "serving"],
    ),
    "configurations.serving.knative.dev": (
        "Namespaced",
        {"v1"},
        "v1",
        ["config", "cfg"],
        ["all", "knative", "serving"],
    ),
    "routes.serving.knative.dev": ("Namespaced", {"v1"}, "v1", ["rt"], ["all", "knative", "serving"]),
    "revisions.serving.knative.dev": ("Namespaced", {"v1"}, "v1", ["rev"], ["all", "knative", "serving"]),
    "podautoscalers.autoscaling.internal.knative.dev": (
        "Namespaced",
        {"v1alpha1"},
        "v1alpha1",
        ["kpa", "pa"],
        ["knative-internal", "autoscaling"],
    ),
    "workflows.argoproj.io": ("Namespaced", {"v1alpha1"}, "v1alpha1", ["wf"], None),
    "workflowtaskresults.argoproj.io": ("Namespaced", {"v1alpha1"}, "v1alpha1", None, None),
    "profiles.kubeflow.org": ("Cluster", {"v1", "v1beta1"}, "v1", None, None),
    "authorizationpolicies.security.istio.io": (
        "Namespaced",
        {"v1", "v1beta1"},
        "v1",
        ["ap"],
        ["istio-io", "security-istio-io"],
    ),
    "pytorchjobs.kubeflow.org": ("Namespaced", {"v1"}, "v1", None, None),
    "tfjobs.kubeflow.org": ("Namespaced", {"v1"}, "v1", None, None),
    "notebooks.kubeflow.org": ("Namespaced", {"v1", "v1beta1"}, "v1", None, None),
    "mariadbs.k8s.mariadb.com": ("Namespaced", {"v1alpha1"}, "v1alpha1", ["mdb"], None),
    "backups.k8s.mariadb.com": ("Namespaced", {"v1alpha1"}, "v1alpha1", ["bmdb"], None),
    "restores.k8s.mariadb.com": ("Namespaced", {"v1alpha1"}, "v1alpha1", ["rmdb"], None),
    "clusterpolicies.nvidia.com": ("Cluster", {"v1"}, "v1", None, None),
    # prometheus-operator: only deploy/'s ServiceMonitor and PrometheusRule (test_deploy_manifests)
    "servicemonitors.monitoring.coreos.com": (
        "Namespaced",
        {"v1"},
        "v1",
        ["smon"],
        ["prometheus-operator"],
    ),
    "prometheusrules.monitoring.coreos.com": (
        "Namespaced",
        {"v1"},
        "v1",
        ["promrule"],
        ["prometheus-operator"],
    ),
}

#: Kinds whose upstream CRD has no status subresource (see the comments in their YAML).
NO_STATUS_SUBRESOURCE = {
    "workflows.argoproj.io",
    "workflowtaskresults.argoproj.io",
    "prometheusrules.monitoring.coreos.com",
}


def test_every_crd_is_established_and_serves_the_upstream_versions(
    admin_api: client.ApiClient, crd_names: list[str]
) -> None:
    assert sorted(crd_names) == sorted(EXPECTED)
    assert sorted(crd_names) == sorted(body["metadata"]["name"] for body in load_crds())
    extensions = client.ApiextensionsV1Api(admin_api)
    for name, (scope, served, storage, short_names, categories) in EXPECTED.items():
        crd = extensions.read_custom_resource_definition(name)
        assert crd.status is not None and crd.status.conditions is not None, name
        conditions = {c.type: c.status for c in crd.status.conditions}
        assert conditions == {"NamesAccepted": "True", "Established": "True"}, name
        assert crd.spec.scope == scope, name
        assert {v.name for v in crd.spec.versions if v.served} == served, name
        assert [v.name for v in crd.spec.versions if v.storage] == [storage], name
        assert crd.status.stored_versions == [storage], name
        accepted = crd.status.accepted_names
        assert accepted is not None, name
        assert (accepted.short_names, accepted.categories) == (short_names, categories), name
        assert accepted.list_kind == f"{accepted.kind}List", name


def test_discovery_lists_the_status_subresource_only_where_upstream_has_one(
    custom: client.CustomObjectsApi,
) -> None:
    """What kubectl and RBAC see: ``<plural>/status`` exists unless upstream omits it."""
    for name, (_, served, _, short_names, _) in EXPECTED.items():
        plural, group = name.split(".", 1)
        for version in served:
            resources = {r.name: r for r in custom.get_api_resources(group, version).resources}
            assert resources[plural].short_names == short_names, name
            assert (f"{plural}/status" in resources) == (name not in NO_STATUS_SUBRESOURCE), name


# --------------------------------------------------------------- status via /status

STARTED = rfc3339(minutes_ago=30)
CHANGED = rfc3339(minutes_ago=5)


def knative_condition(type_: str, status: str = "True", reason: str = "", message: str = "") -> Obj:
    condition: Obj = {"type": type_, "status": status, "lastTransitionTime": CHANGED}
    if reason:
        condition |= {"reason": reason, "message": message}
    return condition


def meta_condition(type_: str, status: str, reason: str, message: str) -> Obj:
    """A metav1.Condition: all five fields are required by the upstream schema."""
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": CHANGED,
    }


def job_condition(type_: str, reason: str, message: str, status: str = "True") -> Obj:
    """A training-operator JobCondition."""
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": CHANGED,
        "lastTransitionTime": CHANGED,
    }


def replica_spec(replicas: int, image: str) -> Obj:
    container = {"name": "pytorch", "image": image, "resources": {"limits": {"nvidia.com/gpu": 1}}}
    return {
        "replicas": replicas,
        "restartPolicy": "OnFailure",
        "template": {"spec": {"containers": [container]}},
    }


def predictor_traffic() -> list[Obj]:
    """KServe canary rollout: 80 % to the previous revision, 20 % to the latest."""
    return [
        {
            "revisionName": "sklearn-iris-predictor-00001",
            "percent": 80,
            "latestRevision": False,
            "tag": "prev",
        },
        {"revisionName": "sklearn-iris-predictor-00002", "percent": 20, "latestRevision": True},
    ]


@dataclass(frozen=True)
class StatusCase:
    kind: Kind
    spec: Obj
    status: Obj
    labels: dict[str, str] | None = None

    @property
    def id(self) -> str:
        return self.kind.kind


STATUS_CASES = [
    StatusCase(
        ISVC,
        spec={
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 3,
                "scaleMetric": "concurrency",
                "scaleTarget": 5,
                "containerConcurrency": 10,
                "canaryTrafficPercent": 20,
                "model": {
                    "modelFormat": {"name": "sklearn"},
                    "protocolVersion": "v2",
                    "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
                },
            }
        },
        status={
            "url": "http://sklearn-iris.team-a.example.com",
            "address": {"url": "http://sklearn-iris.team-a.svc.cluster.local"},
            "observedGeneration": 2,
            "conditions": [
                knative_condition("IngressReady"),
                knative_condition("LatestDeploymentReady"),
                knative_condition("PredictorConfigurationReady"),
                knative_condition("PredictorReady"),
                knative_condition("PredictorRouteReady"),
                knative_condition("Ready"),
                knative_condition("RoutesReady"),
            ],
            "components": {
                "predictor": {
                    "latestCreatedRevision": "sklearn-iris-predictor-00002",
                    "latestReadyRevision": "sklearn-iris-predictor-00002",
                    "latestRolledoutRevision": "sklearn-iris-predictor-00001",
                    "previousRolledoutRevision": "sklearn-iris-predictor-00001",
                    "url": "http://sklearn-iris-predictor.team-a.example.com",
                    "traffic": predictor_traffic(),
                }
            },
            "modelStatus": {
                "transitionStatus": "UpToDate",
                "states": {"activeModelState": "Loaded", "targetModelState": "Loaded"},
                "copies": {"failedCopies": 0, "totalCopies": 1},
            },
        },
    ),
    StatusCase(
        KSVC,
        spec={
            "template": {
                "spec": {"containerConcurrency": 10, "containers": [{"image": "kserve/sklearnserver"}]}
            }
        },
        status={
            "observedGeneration": 2,
            "conditions": [
                knative_condition("ConfigurationsReady"),
                knative_condition(
                    "Ready", "False", "RevisionFailed", 'Revision "sklearn-iris-predictor-00002" failed'
                ),
                knative_condition("RoutesReady"),
            ],
            "url": "http://sklearn-iris-predictor.team-a.example.com",
            "address": {"url": "http://sklearn-iris-predictor.team-a.svc.cluster.local"},
            "latestCreatedRevisionName": "sklearn-iris-predictor-00002",
            "latestReadyRevisionName": "sklearn-iris-predictor-00001",
            "traffic": predictor_traffic(),
        },
    ),
    StatusCase(
        CONFIGURATION,
        spec={"template": {"spec": {"containers": [{"image": "kserve/sklearnserver"}]}}},
        status={
            "observedGeneration": 2,
            "conditions": [
                knative_condition(
                    "Ready", "False", "RevisionFailed", 'Revision "sklearn-iris-predictor-00002" failed'
                )
            ],
            "latestCreatedRevisionName": "sklearn-iris-predictor-00002",
            "latestReadyRevisionName": "sklearn-iris-predictor-00001",
        },
    ),
    StatusCase(
        ROUTE,
        spec={
            "traffic": [
                {"configurationName": "sklearn-iris-predictor", "latestRevision": True, "percent": 100}
            ]
        },
        status={
            "observedGeneration": 1,
            "conditions": [
                knative_condition("AllTrafficAssigned"),
                knative_condition(
                    "CertificateProvisioned", "True", "TLSNotEnabled", "autoTLS is not enabled"
                ),
                knative_condition("IngressReady"),
                knative_condition("Ready"),
            ],
            "url": "http://sklearn-iris-predictor.team-a.example.com",
            "address": {"url": "http://sklearn-iris-predictor.team-a.svc.cluster.local"},
            "traffic": predictor_traffic(),
        },
    ),
    StatusCase(
        REVISION,
        labels={
            "serving.knative.dev/configuration": "sklearn-iris-predictor",
            "serving.knative.dev/configurationGeneration": "2",
            "serving.kserve.io/inferenceservice": "sklearn-iris",
        },
        spec={
            "containerConcurrency": 10,
            "timeoutSeconds": 300,
            "containers": [{"name": "kserve-container", "image": "kserve/sklearnserver:v0.16.0"}],
        },
        status={
            "observedGeneration": 1,
            "conditions": [
                knative_condition("Active", "False", "NoTraffic", "The target is not receiving traffic."),
                knative_condition(
                    "ContainerHealthy",
                    "False",
                    "ExitCode137",
                    "Container failed with: OOMKilled",
                ),
                knative_condition("Ready", "False", "ExitCode137", "Container failed with: OOMKilled"),
                knative_condition(
                    "ResourcesAvailable",
                    "False",
                    "ProgressDeadlineExceeded",
                    "Initial scale was never achieved",
                ),
            ],
            "actualReplicas": 0,
            "desiredReplicas": 1,
            "containerStatuses": [
                {
                    "name": "kserve-container",
                    "imageDigest": "index.docker.io/kserve/sklearnserver@sha256:0f1e",
                }
            ],
        },
    ),
    StatusCase(
        KPA,
        spec={
            "containerConcurrency": 10,
            "protocolType": "http1",
            "reachability": "Reachable",
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "sklearn-iris-predictor-00001-deployment",
            },
        },
        status={
            "observedGeneration": 1,
            "conditions": [
                knative_condition("Active"),
                knative_condition("Ready"),
                knative_condition("SKSReady"),
                knative_condition("ScaleTargetInitialized"),
            ],
            "desiredScale": 3,
            "actualScale": 1,
            "serviceName": "sklearn-iris-predictor-00001",
            "metricsServiceName": "sklearn-iris-predictor-00001-private",
        },
    ),
    StatusCase(
        PYTORCHJOB,
        spec={
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3},
            "pytorchReplicaSpecs": {
                "Master": replica_spec(1, "docker.io/kubeflowkatib/pytorch-mnist:v1beta1"),
                "Worker": replica_spec(2, "docker.io/kubeflowkatib/pytorch-mnist:v1beta1"),
            },
        },
        status={
            "conditions": [
                job_condition("Created", "PyTorchJobCreated", "PyTorchJob team-a/mnist is created."),
                job_condition("Running", "PyTorchJobRunning", "PyTorchJob team-a/mnist is running."),
            ],
            "replicaStatuses": {
                "Master": {"active": 1, "selector": "training.kubeflow.org/replica-type=master"},
                "Worker": {"active": 1, "failed": 1, "selector": "training.kubeflow.org/replica-type=worker"},
            },
            "startTime": STARTED,
            "lastReconcileTime": CHANGED,
        },
    ),
    StatusCase(
        TFJOB,
        spec={
            "runPolicy": {"cleanPodPolicy": "Running"},
            "tfReplicaSpecs": {
                "PS": replica_spec(1, "kubeflow/tf-dist-mnist-test:latest"),
                "Worker": replica_spec(2, "kubeflow/tf-dist-mnist-test:latest"),
            },
        },
        status={
            "conditions": [
                job_condition("Created", "TFJobCreated", "TFJob team-a/dist-mnist is created."),
                job_condition("Running", "TFJobRunning", "TFJob team-a/dist-mnist is running.", "False"),
                job_condition(
                    "Failed",
                    "TFJobFailed",
                    "TFJob team-a/dist-mnist has failed because 1 Worker replica(s) failed.",
                ),
            ],
            "replicaStatuses": {"PS": {"active": 1}, "Worker": {"succeeded": 1, "failed": 1}},
            "startTime": STARTED,
            "completionTime": CHANGED,
        },
    ),
    StatusCase(
        NOTEBOOK,
        spec={
            "template": {
                "spec": {
                    "containers": [{"name": "notebook", "image": "kubeflownotebookswg/jupyter-scipy:v1.10.0"}]
                }
            }
        },
        status={
            "conditions": [
                {"type": "Ready", "status": "True", "lastProbeTime": CHANGED, "lastTransitionTime": CHANGED},
                {"type": "ContainersReady", "status": "True", "lastProbeTime": CHANGED},
            ],
            "readyReplicas": 1,
            "containerState": {"running": {"startedAt": STARTED}},
        },
    ),
    StatusCase(
        MARIADB,
        spec={
            "replicas": 3,
            "image": "docker-registry1.mariadb.com/library/mariadb:11.8.2",
            "storage": {"size": "10Gi"},
            "updateStrategy": {"type": "ReplicasFirstPrimaryLast"},
            "galera": {
                "enabled": True,
                "primary": {"podIndex": 0, "autoFailover": True},
                "recovery": {"enabled": True, "clusterHealthyTimeout": "30s", "podSyncTimeout": "5m"},
            },
        },
        status={
            "conditions": [
                meta_condition("Ready", "False", "GaleraNotReady", "Galera not ready"),
                meta_condition("GaleraReady", "False", "GaleraNotReady", "Galera not ready"),
                meta_condition("GaleraConfigured", "True", "GaleraConfigured", "Galera configured"),
            ],
            "replicas": 3,
            "currentPrimary": "mariadb-galera-0",
            "currentPrimaryPodIndex": 0,
            "currentPrimaryFailingSince": CHANGED,
            "galeraRecovery": {
                "state": {
                    "mariadb-galera-0": {
                        "version": "2.1",
                        "uuid": "8a1e6e5c-0c31-11ef-b1f3-6f4e1b1e3a21",
                        "seqno": -1,
                        "safeToBootstrap": False,
                    },
                    "mariadb-galera-1": {
                        "version": "2.1",
                        "uuid": "8a1e6e5c-0c31-11ef-b1f3-6f4e1b1e3a21",
                        "seqno": 1842,
                        "safeToBootstrap": False,
                    },
                },
                "recovered": {
                    "mariadb-galera-1": {"uuid": "8a1e6e5c-0c31-11ef-b1f3-6f4e1b1e3a21", "seqno": 1842}
                },
            },
        },
    ),
    StatusCase(
        BACKUP,
        spec={
            "mariaDbRef": {"name": "mariadb-galera"},
            "schedule": {"cron": "*/30 * * * *", "suspend": False},
            "maxRetention": "720h",
            "storage": {"s3": {"bucket": "backups", "endpoint": "minio.minio.svc:9000"}},
        },
        status={"conditions": [meta_condition("Complete", "False", "JobFailed", "Failed")]},
    ),
    StatusCase(
        RESTORE,
        spec={"mariaDbRef": {"name": "mariadb-galera"}, "backupRef": {"name": "backup"}},
        status={"conditions": [meta_condition("Complete", "True", "JobComplete", "Success")]},
    ),
    StatusCase(
        PROFILE,
        spec={
            "owner": {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"},
            "resourceQuotaSpec": {"hard": {"cpu": "8", "memory": "32Gi", "requests.nvidia.com/gpu": "2"}},
        },
        # What the v1.10.0 controller would write if it used /status (it does not: see below).
        status={
            "conditions": [
                {
                    "type": "Failed",
                    "message": "namespace already exist, but not owned by profile creator alice@example.com",
                }
            ]
        },
    ),
    StatusCase(
        CLUSTER_POLICY,
        spec={
            "operator": {"defaultRuntime": "containerd"},
            "daemonsets": {"priorityClassName": "system-node-critical"},
            "driver": {"enabled": True},
            "toolkit": {"enabled": True},
            "devicePlugin": {"enabled": True},
            "dcgm": {"enabled": False},
            "dcgmExporter": {"enabled": True},
            "gfd": {"enabled": True},
            "nodeStatusExporter": {"enabled": False},
        },
        status={
            "state": "ready",
            "namespace": "gpu-operator",
            "conditions": [
                meta_condition("Error", "False", "Ready", ""),
                meta_condition("Ready", "True", "Reconciled", "ClusterPolicy is ready."),
            ],
        },
    ),
]


@pytest.mark.parametrize("case", STATUS_CASES, ids=lambda case: case.id)
def test_status_written_through_the_subresource_survives_exactly(
    custom: client.CustomObjectsApi, namespace: str, case: StatusCase
) -> None:
    kind, name = case.kind, unique(case.kind.plural)
    body = kind.manifest(name, case.spec, status=case.status)
    if case.labels:
        body["metadata"]["labels"] = case.labels

    created = kind.create(custom, namespace, body)
    # With a status subresource, status in a create (or update) body is silently dropped.
    assert "status" not in created
    assert created["spec"] == case.spec

    patched = kind.patch_status(custom, namespace, name, case.status)
    stored = kind.get(custom, namespace, name)

    assert patched["status"] == case.status
    assert stored["status"] == case.status
    assert stored["spec"] == case.spec
    # Status writes never bump the generation; observedGeneration logic relies on that.
    assert stored["metadata"]["generation"] == 1


# ----------------------------------------------------------------- controller quirks


def test_profile_controller_update_cannot_set_status_but_v1beta1_reads_it(
    custom: client.CustomObjectsApi,
) -> None:
    """The v1.10.0 profile controller appends its Failed condition with ``r.Update``.

    The API server ignores ``status`` in a main-resource update when the status
    subresource is on, and as nothing else changed it does not even write: the
    update "succeeds" with the same resourceVersion. So on a real cluster a Profile
    whose namespace is owned by someone else shows no condition at all; kfops must
    find that failure in the controller log, not in ``status``.
    """
    name = unique("profile")
    spec = {"owner": {"kind": "User", "name": "alice@example.com"}}
    created = PROFILE.create(custom, "", PROFILE.manifest(name, spec))

    message = "namespace already exist, but not owned by profile creator alice@example.com"
    updated = PROFILE.replace(
        custom, "", {**created, "status": {"conditions": [{"type": "Failed", "message": message}]}}
    )
    assert "status" not in updated
    assert updated["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    status = {"conditions": [{"type": "Failed", "message": message}]}
    PROFILE.patch_status(custom, "", name, status)
    old = PROFILE_V1BETA1.get(custom, "", name)
    # conversion: None only rewrites apiVersion; v1beta1 readers see the same object.
    assert (old["apiVersion"], old["spec"], old["status"]) == ("kubeflow.org/v1beta1", spec, status)


def argo_workflow_status(name: str) -> Obj:
    """A KFP run stuck on an unschedulable GPU step after its first step OOM-killed."""
    train, evaluate = f"{name}-1861513374", f"{name}-3096245210"
    return {
        "phase": "Running",
        "startedAt": STARTED,
        "finishedAt": None,
        "progress": "1/3",
        "estimatedDuration": 900,
        "conditions": [{"type": "PodRunning", "status": "False"}],
        "taskResultsCompletionStatus": {train: True},
        "nodes": {
            name: {
                "id": name,
                "name": name,
                "displayName": name,
                "type": "DAG",
                "templateName": "pipeline",
                "phase": "Running",
                "startedAt": STARTED,
                "finishedAt": None,
                "progress": "1/3",
                "children": [train, evaluate],
            },
            train: {
                "id": train,
                "name": f"{name}.train",
                "displayName": "train",
                "type": "Pod",
                "templateName": "system-container-impl",
                "boundaryID": name,
                "phase": "Failed",
                "message": "OOMKilled (exit code 137)",
                "startedAt": STARTED,
                "finishedAt": CHANGED,
                "hostNodeName": "gpu-node-1",
                "podIP": "10.0.3.17",
                "outputs": {"exitCode": "137"},
            },
            evaluate: {
                "id": evaluate,
                "name": f"{name}.evaluate",
                "displayName": "evaluate",
                "type": "Pod",
                "templateName": "system-container-impl",
                "boundaryID": name,
                "phase": "Pending",
                "message": "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                "startedAt": CHANGED,
                "finishedAt": None,
            },
        },
    }


def test_workflow_status_is_written_with_the_whole_object(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Argo's workflow-controller updates the whole Workflow; ``/status`` does not exist.

    A controller-less test must therefore write status the same way. ``finishedAt: null``
    (Go's zero metav1.Time) must survive: the schema marks it nullable, because a
    non-nullable null is dropped by the server and probes could not tell "running"
    from "field missing".
    """
    name = unique("kfp-run")
    spec = {"entrypoint": "entrypoint", "serviceAccountName": "pipeline-runner", "templates": []}
    created = WORKFLOW.create(custom, namespace, WORKFLOW.manifest(name, spec))
    assert created["metadata"]["generation"] == 1

    status = argo_workflow_status(name)
    labels = {"workflows.argoproj.io/phase": "Running", "workflows.argoproj.io/completed": "false"}
    WORKFLOW.replace(
        custom,
        namespace,
        {**created, "metadata": {**created["metadata"], "labels": labels}, "status": status},
    )
    stored = WORKFLOW.get(custom, namespace, name)

    assert stored["status"] == status
    assert stored["status"]["finishedAt"] is None
    assert stored["metadata"]["labels"] == labels
    # Without a status subresource every status write bumps metadata.generation.
    assert stored["metadata"]["generation"] == 2
    with pytest.raises(ApiException) as missing:
        WORKFLOW.patch_status(custom, namespace, name, {"phase": "Failed"})
    # Misleading but real: the 404 for a missing subresource says the *object* is not found.
    assert missing.value.status == 404
    assert api_message(missing.value) == f'workflows.argoproj.io "{name}" not found'


def test_workflow_task_result_is_a_whole_object_with_a_string_exit_code(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    """argoexec reports a step's outcome as a WorkflowTaskResult named after the node ID."""
    workflow = unique("kfp-run")
    node_id = f"{workflow}-1861513374"
    labels = {
        "workflows.argoproj.io/workflow": workflow,
        "workflows.argoproj.io/report-outputs-completed": "false",
    }
    fields: Obj = {
        "phase": "Failed",
        "message": "OOMKilled (exit code 137)",
        "progress": "0/1",
        "outputs": {
            "exitCode": "137",
            "parameters": [{"name": "accuracy", "value": "0.0"}],
            "artifacts": [{"name": "main-logs", "s3": {"key": f"artifacts/{workflow}/main.log"}}],
        },
    }
    body = TASK_RESULT.manifest(node_id, **fields)
    body["metadata"]["labels"] = labels
    TASK_RESULT.create(custom, namespace, body)
    # Then it marks the report complete, as argoexec does once outputs are saved.
    custom.patch_namespaced_custom_object(
        TASK_RESULT.group,
        TASK_RESULT.version,
        namespace,
        TASK_RESULT.plural,
        node_id,
        {"metadata": {"labels": {"workflows.argoproj.io/report-outputs-completed": "true"}}},
    )
    stored = TASK_RESULT.get(custom, namespace, node_id)

    assert {key: stored[key] for key in fields} == fields
    assert stored["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"

    wrong = TASK_RESULT.manifest(unique("node"), outputs={"exitCode": 137})
    with pytest.raises(ApiException) as rejected:
        TASK_RESULT.create(custom, namespace, wrong, dry_run="All")
    assert rejected.value.status == 422
    assert "outputs.exitCode in body must be of type string" in api_message(rejected.value)


# --------------------------------------------------------------------- schema checks


def test_dry_run_rejects_a_string_min_replicas_and_does_not_persist_a_good_one(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    spec = {"predictor": {"minReplicas": 1, "model": {"modelFormat": {"name": "sklearn"}}}}

    bad = ISVC.manifest("bad-isvc", {"predictor": {**spec["predictor"], "minReplicas": "1"}})
    with pytest.raises(ApiException) as rejected:
        ISVC.create(custom, namespace, bad, dry_run="All")
    assert rejected.value.status == 422
    assert "spec.predictor.minReplicas in body must be of type integer" in api_message(rejected.value)

    accepted = ISVC.create(custom, namespace, ISVC.manifest("good-isvc", spec), dry_run="All")
    assert accepted["spec"] == spec
    with pytest.raises(ApiException) as absent:
        ISVC.get(custom, namespace, "good-isvc")
    assert absent.value.status == 404


#: Status writes a real API server rejects (the upstream schema), with the error text.
REJECTED_STATUS = [
    pytest.param(
        CLUSTER_POLICY,
        {"state": "disabled"},
        'status.state: Unsupported value: "disabled"',
        id="clusterpolicy-state-disabled-is-a-code-constant-not-in-the-enum",
    ),
    pytest.param(
        KPA,
        {"desiredScale": 2, "actualScale": 1},
        "status.serviceName: Required value",
        id="podautoscaler-status-needs-service-names",
    ),
    pytest.param(
        MARIADB,
        {"conditions": [meta_condition("Ready", "False", "", "Galera not ready")]},
        "status.conditions[0].reason",
        id="mariadb-condition-reason-may-not-be-empty",
    ),
    pytest.param(
        KPA,
        {"desiredScale": "3", "serviceName": "s", "metricsServiceName": "m"},
        "status.desiredScale",
        id="podautoscaler-desiredscale-is-an-integer",
    ),
]


@pytest.fixture
def bare_objects(custom: client.CustomObjectsApi, namespace: str) -> dict[Kind, str]:
    """One status-less object (the STATUS_CASES spec) per kind used by REJECTED_STATUS."""
    names = {kind: unique(kind.plural) for kind in (CLUSTER_POLICY, KPA, MARIADB)}
    for case in STATUS_CASES:
        if case.kind in names:
            case.kind.create(custom, namespace, case.kind.manifest(names[case.kind], case.spec))
    return names


@pytest.mark.parametrize(("kind", "status", "error"), REJECTED_STATUS)
def test_status_the_upstream_schema_rejects(
    custom: client.CustomObjectsApi,
    namespace: str,
    bare_objects: dict[Kind, str],
    kind: Kind,
    status: Obj,
    error: str,
) -> None:
    with pytest.raises(ApiException) as rejected:
        kind.patch_status(custom, namespace, bare_objects[kind], status)
    assert rejected.value.status == 422
    assert error in api_message(rejected.value)
