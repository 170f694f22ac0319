"""What each ladder needs from its sources: the Kubernetes reads (RBAC) and the Prometheus metrics.

The one table `kfops doctor` checks a deployment against and tests/live/test_rbac.py checks the
shipped deploy/rbac/clusterrole-reader.yaml against, so the three cannot drift apart. A read is
(verb, resource[/subresource], name?, namespace?) as RBAC sees it; a namespaced read without a
namespace is asked cluster-wide, because the ladders read across namespaces (a node's pods, every
Workflow of a run's namespace …). Kept in step with the probes by hand: a probe that starts
reading something new adds its line here, and test_rbac fails until the ClusterRole grants it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kfops.clients.resources import (
    AUTHORIZATIONPOLICIES,
    BACKUPS,
    CONFIGMAPS,
    CRDS,
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINTSLICES,
    EVENTS,
    HPAS,
    INFERENCESERVICES,
    JOBS,
    LEASES,
    MARIADBS,
    NAMESPACES,
    NODES,
    PODAUTOSCALERS,
    PODS,
    PROFILES,
    PVCS,
    REPLICASETS,
    RESOURCEQUOTAS,
    REVISIONS,
    ROLEBINDINGS,
    SECRETS,
    STATEFULSETS,
    STORAGECLASSES,
    WORKFLOWS,
    ResourceRef,
)
from kfops.diagnostics.kserve.isvc import normalise_mode
from kfops.diagnostics.kserve.knative import CONFIG_AUTOSCALER
from kfops.diagnostics.kube.nodes import NODE_LEASE_NAMESPACE
from kfops.diagnostics.pipelines.backend import CONTROLLER_CONFIGMAP
from kfops.diagnostics.profiles.versions import ISTIO_CRD, PROFILE_CRD
from kfops.diagnostics.prometheus import kserve_queries
from kfops.settings import Settings


def _always(_: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Read:
    """One permission a ladder needs, and why (shown next to a refusal)."""

    verb: str
    ref: ResourceRef
    why: str
    subresource: str = ""
    name: str = ""  # read only by this name (a resourceNames rule)
    namespace: str = ""  # a fixed namespace ("" = any: asked cluster-wide)
    namespace_setting: str = ""  # or the Settings field holding it
    when: Callable[[Settings], bool] = field(default=_always, compare=False)

    @property
    def resource(self) -> str:
        """RBAC's resource name: "pods/log", "workflows" (the group is separate)."""
        return self.ref.plural + (f"/{self.subresource}" if self.subresource else "")

    def namespace_in(self, settings: Settings) -> str:
        if not self.ref.namespaced:
            return ""
        return str(getattr(settings, self.namespace_setting)) if self.namespace_setting else self.namespace

    def rule(self) -> str:
        return rbac_rule(self.verb, self.ref, self.subresource, self.name)


def rbac_rule(verb: str, ref: ResourceRef, subresource: str = "", name: str = "") -> str:
    """The RBAC rule that grants one permission, as one YAML flow mapping (what a fix names)."""
    resource = ref.plural + (f"/{subresource}" if subresource else "")
    names = f', resourceNames: ["{name}"]' if name else ""
    return f'{{apiGroups: ["{ref.group}"], resources: ["{resource}"]{names}, verbs: ["{verb}"]}}'


@dataclass(frozen=True)
class Metric:
    """A metric name a ladder's Prometheus rungs read, and what exports it."""

    name: str
    exporter: str  # what to enable when it is missing
    when: Callable[[Settings], bool] = field(default=_always, compare=False)


_POD_LOG = Read("get", PODS, "crashed containers' last log lines", subresource="log")
_PODS = Read("list", PODS, "the pods involved, by label or field selector")
_EVENTS = Read("list", EVENTS, "the events of the objects involved")


def _knative(settings: Settings) -> bool:
    return normalise_mode(settings.kserve_default_deployment_mode) == "Knative"


def _standard(settings: Settings) -> bool:
    return not _knative(settings)


def _galera_operator(settings: Settings) -> bool:
    return bool(settings.galera_mariadb) and not settings.galera_nodes and not _galera_sts(settings)


def _galera_sts(settings: Settings) -> bool:
    return settings.galera_mariadb.startswith("statefulset/") and not settings.galera_nodes


#: ladder id → the Kubernetes reads it makes (settings decide a few: `when`)
READS: dict[str, tuple[Read, ...]] = {
    "gpu-node-down": (
        Read("get", NODES, "the node's conditions, taints and GPU capacity"),
        Read("list", NODES, "schedulable GPU capacity elsewhere"),
        Read("get", LEASES, "the node's heartbeat", namespace=NODE_LEASE_NAMESPACE),
        _PODS,
        _EVENTS,
        _POD_LOG,
        Read("list", DAEMONSETS, "which GPU operator operands should run on the node"),
    ),
    "stuck-pipeline": (
        Read("get", WORKFLOWS, "the run's Argo Workflow"),
        Read("list", WORKFLOWS, "a run's Workflow by run id; the sweep of stuck runs"),
        Read("list", PROFILES, "the sweep's namespaces (one per Profile)"),
        _PODS,
        _EVENTS,
        _POD_LOG,
        Read("get", DEPLOYMENTS, "the KFP backend Deployments", namespace_setting="kfp_namespace"),
        Read(
            "get",
            CONFIGMAPS,
            "the workflow-controller's configuration (read by name only)",
            name=CONTROLLER_CONFIGMAP,
            namespace_setting="kfp_namespace",
        ),
        Read("list", ENDPOINTSLICES, "the object store's ready endpoints", namespace_setting="kfp_namespace"),
        Read("list", RESOURCEQUOTAS, "quotas a pending step pod may hit"),
        Read("list", PVCS, "claims a pending step pod waits for"),
        Read("list", STORAGECLASSES, "whether a claim's class exists / the default class"),
    ),
    "kserve-flapping": (
        Read("get", INFERENCESERVICES, "the InferenceService and its Ready condition"),
        Read("list", INFERENCESERVICES, "the sweep of not-Ready or flapping InferenceServices"),
        Read("list", REVISIONS, "its Knative Revisions", when=_knative),
        Read("get", PODAUTOSCALERS, "the Knative autoscaler of the latest Revision", when=_knative),
        Read("get", HPAS, "the predictor's HPA in Standard mode", when=_standard),
        Read(
            "get",
            CONFIGMAPS,
            "Knative's concurrency defaults (read by name only)",
            name=CONFIG_AUTOSCALER,
            namespace_setting="knative_namespace",
            when=_knative,
        ),
        _PODS,
        _EVENTS,
        _POD_LOG,
        Read("get", NODES, "the node of a wedged predictor replica"),
    ),
    "galera-migration-failure": (
        Read("list", JOBS, "the schema-migration Jobs"),
        _PODS,
        _POD_LOG,
        Read(
            "get",
            DEPLOYMENTS,
            "the MLMD server's image (schema version)",
            namespace_setting="galera_app_namespace",
        ),
        Read("list", BACKUPS, "the last good backup before a migration"),
        Read(
            "get",
            CRONJOBS,
            "your own backup CronJob's runs (settings.galera_backup_cronjob)",
            when=lambda settings: bool(settings.galera_backup_cronjob),
        ),
        Read(
            "get", MARIADBS, "discovering the Galera nodes (settings.galera_mariadb)", when=_galera_operator
        ),
        Read("get", STATEFULSETS, "discovering the Galera nodes (statefulset/…)", when=_galera_sts),
    ),
    "profile-controller-crashloop": (
        Read(
            "get",
            DEPLOYMENTS,
            "the Profile controller's Deployment",
            namespace_setting="profile_controller_namespace",
        ),
        Read(
            "list",
            REPLICASETS,
            "its rollout history",
            namespace_setting="profile_controller_namespace",
        ),
        _PODS,
        _EVENTS,
        _POD_LOG,
        Read("get", CRDS, "which Profile versions the API serves", name=PROFILE_CRD),
        Read("get", CRDS, "whether Istio's AuthorizationPolicy is installed", name=ISTIO_CRD),
        Read("list", PROFILES, "recently changed Profiles"),
        Read("get", NAMESPACES, "what the controller reconciles per Profile"),
        Read("get", ROLEBINDINGS, "the Profile's namespaceAdmin RoleBinding"),
        Read("get", AUTHORIZATIONPOLICIES, "the Profile's ns-owner-access-istio policy"),
    ),
}

_DCGM = "dcgm-exporter (NVIDIA GPU operator: dcgmExporter.enabled, with a ServiceMonitor)"
_KSM = "kube-state-metrics (scraped by this Prometheus)"
_KSM_CR = (
    "the kube-state-metrics custom-resource config deploy/prometheus/ksm-inferenceservice.yaml "
    "(--custom-resource-state-config-file)"
)
_KNATIVE = (
    "Knative's request metrics: ConfigMap config-observability in knative-serving, "
    "request-metrics-protocol: prometheus, and a scrape of the queue-proxy"
)
_ISTIO = "Istio's standard metrics (telemetry v2) from the predictor's sidecar, scraped"
_CADVISOR = "the kubelets' cAdvisor metrics (job kubelet, /metrics/cadvisor)"

#: ladder id → the metric names its Prometheus rungs read
METRICS: dict[str, tuple[Metric, ...]] = {
    "gpu-node-down": (
        Metric("DCGM_FI_DEV_XID_ERRORS", _DCGM),
        Metric("DCGM_FI_DEV_GPU_TEMP", _DCGM),
        Metric("DCGM_FI_DEV_GPU_UTIL", _DCGM),
        Metric("kube_node_status_condition", _KSM),
    ),
    "kserve-flapping": (
        Metric(kserve_queries.READY_METRIC, _KSM_CR),
        Metric("kube_deployment_spec_replicas", _KSM),
        Metric("container_memory_working_set_bytes", _CADVISOR),
        Metric(f"{kserve_queries.KNATIVE_HISTOGRAM}_bucket", _KNATIVE, when=_knative),
        Metric(f"{kserve_queries.ISTIO_HISTOGRAM}_bucket", _ISTIO, when=_standard),
        Metric(kserve_queries.ISTIO_REQUESTS, _ISTIO, when=_standard),
    ),
}


def reads(ladder: str, settings: Settings) -> tuple[Read, ...]:
    """The reads `ladder` makes with these settings (the Galera credentials Secret included)."""
    needed = tuple(r for r in READS.get(ladder, ()) if r.when(settings))
    if ladder == "galera-migration-failure" and settings.galera_secret and not settings.galera_user:
        namespace, _, name = settings.galera_secret.partition("/")
        if name:
            needed += (
                Read(
                    "get",
                    SECRETS,
                    "the read-only Galera user's credentials (settings.galera_secret)",
                    name=name,
                    namespace=namespace,
                ),
            )
    return needed


def metrics(ladder: str, settings: Settings) -> tuple[Metric, ...]:
    return tuple(m for m in METRICS.get(ladder, ()) if m.when(settings))


def cluster_role_reads() -> tuple[Read, ...]:
    """Every read the shipped reader ClusterRole must grant, whatever the settings (no Secrets:
    the Galera credentials Secret is granted by a Role in its own namespace)."""
    return tuple(r for table in READS.values() for r in table)
