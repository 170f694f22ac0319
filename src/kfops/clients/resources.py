"""The Kubernetes resources kfops reads, and how their REST paths are built."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceRef:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """kubectl's name for it, as RBAC messages print it: "pods", "leases.coordination.k8s.io"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


NODES = ResourceRef("", "v1", "nodes", "Node", namespaced=False)
PODS = ResourceRef("", "v1", "pods", "Pod", namespaced=True)
EVENTS = ResourceRef("", "v1", "events", "Event", namespaced=True)
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", "Lease", namespaced=True)
DAEMONSETS = ResourceRef("apps", "v1", "daemonsets", "DaemonSet", namespaced=True)

#: Kubeflow Profiles (cluster-scoped, named like their namespace): who owns what broke.
PROFILES = ResourceRef("kubeflow.org", "v1", "profiles", "Profile", namespaced=False)

# galera-migration-failure: the migration Jobs, the MLMD server's image, the database's backups
JOBS = ResourceRef("batch", "v1", "jobs", "Job", namespaced=True)
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", "Deployment", namespaced=True)
STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", "StatefulSet", namespaced=True)
MARIADBS = ResourceRef("k8s.mariadb.com", "v1alpha1", "mariadbs", "MariaDB", namespaced=True)
BACKUPS = ResourceRef("k8s.mariadb.com", "v1alpha1", "backups", "Backup", namespaced=True)
#: read one by name: settings.galera_backup_cronjob, a team's own backup tool
CRONJOBS = ResourceRef("batch", "v1", "cronjobs", "CronJob", namespaced=True)

# stuck-pipeline: the Argo Workflow of a KFP run, and what its step pods wait for
WORKFLOWS = ResourceRef("argoproj.io", "v1alpha1", "workflows", "Workflow", namespaced=True)
PVCS = ResourceRef("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", namespaced=True)
STORAGECLASSES = ResourceRef("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False)
RESOURCEQUOTAS = ResourceRef("", "v1", "resourcequotas", "ResourceQuota", namespaced=True)
ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", namespaced=True)

# kserve-flapping: the InferenceService, its Knative Revisions and autoscalers (domain.md §3)
INFERENCESERVICES = ResourceRef(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService", namespaced=True
)
REVISIONS = ResourceRef("serving.knative.dev", "v1", "revisions", "Revision", namespaced=True)
PODAUTOSCALERS = ResourceRef(
    "autoscaling.internal.knative.dev", "v1alpha1", "podautoscalers", "PodAutoscaler", namespaced=True
)
#: Standard (RawDeployment) mode scales the predictor with an HPA named `<isvc>-predictor`
HPAS = ResourceRef(
    "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", namespaced=True
)

# profile-controller-crashloop: the controller's rollout history and what it reconciles per Profile
REPLICASETS = ResourceRef("apps", "v1", "replicasets", "ReplicaSet", namespaced=True)
NAMESPACES = ResourceRef("", "v1", "namespaces", "Namespace", namespaced=False)
ROLEBINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", namespaced=True)
AUTHORIZATIONPOLICIES = ResourceRef(
    "security.istio.io", "v1beta1", "authorizationpolicies", "AuthorizationPolicy", namespaced=True
)
#: read only by name (profiles.kubeflow.org, authorizationpolicies.security.istio.io): which
#: versions the API serves; never listed, never captured wholesale
CRDS = ResourceRef(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)

#: read one by name (the workflow-controller's); never listed, never captured wholesale
CONFIGMAPS = ResourceRef("", "v1", "configmaps", "ConfigMap", namespaced=True)

ALL = (
    NODES,
    PODS,
    EVENTS,
    LEASES,
    DAEMONSETS,
    PROFILES,
    JOBS,
    DEPLOYMENTS,
    STATEFULSETS,
    MARIADBS,
    BACKUPS,
    CRONJOBS,
    WORKFLOWS,
    PVCS,
    STORAGECLASSES,
    RESOURCEQUOTAS,
    ENDPOINTSLICES,
    INFERENCESERVICES,
    REVISIONS,
    PODAUTOSCALERS,
    HPAS,
    REPLICASETS,
    NAMESPACES,
    ROLEBINDINGS,
    AUTHORIZATIONPOLICIES,
)


def by_plural(qualified: str) -> ResourceRef | None:
    """Look a resource up by kubectl's qualified plural name."""
    return next((r for r in ALL if r.qualified == qualified), None)


# Objects only the playbooks' gate writes (its own state, in kfops' namespace) or reads to plan.
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", namespaced=True)
#: read only to find the Galera credentials named by settings.galera_secret; never captured
SECRETS = ResourceRef("", "v1", "secrets", "Secret", namespaced=True)
