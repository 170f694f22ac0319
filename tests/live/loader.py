"""Write a snapshot scenario into the live test API server, as the real controllers would have.

Why: ``test_parity.py`` diagnoses every scenario twice, offline (snapshot reader) and live
(``LiveKubeReader`` against the real kube-apiserver of ``controlplane.py``), and both must agree.
That only proves something if the live cluster holds exactly what the snapshot holds, written the
way a kubelet, a node lifecycle controller or a DaemonSet controller writes it.

What :func:`load_scenario` writes
---------------------------------
* The namespaces of the snapshot's objects: created, or reused when they exist (without
  controllers a deleted namespace never finishes terminating, so namespaces are never deleted).
* Nodes with their status (Nodes accept status on create), their kubelet endpoint pointed at the
  given :class:`FakeKubelet`; then ``spec.taints`` patched to exactly the snapshot's, because
  admission puts ``node.kubernetes.io/not-ready:NoSchedule`` on every new Node.
* Pods created already bound (``spec.nodeName``: there is no scheduler), then their status through
  the status subresource. Pods that are Terminating in the snapshot are then deleted gracefully
  (see *Time*); bound to a node whose kubelet never answers, they stay Terminating for ever.
* DaemonSets (status through the status subresource), Leases and Events, with their timestamps.
* Deployments and Jobs (status through the status subresource). A Job's selector and its
  controller-uid labels are stripped first, unless ``spec.manualSelector``: the API server
  generates them from the new Job's own uid, as it did for the original.
* mariadb-operator MariaDBs and Backups (status through the status subresource); their CRDs
  (tests/live/crds) must be installed, which :func:`load_scenario` checks only for a scenario
  that has such objects.
* Argo Workflows with their status in the object itself: Argo's CRD has no status subresource
  (the workflow-controller updates the whole object), so create keeps it. Kubeflow Profiles
  (status through the status subresource). Both need their CRDs, like the MariaDBs.
* KServe InferenceServices, Knative Revisions and PodAutoscalers (their CRDs, like the MariaDBs'),
  and autoscaling/v2 HorizontalPodAutoscalers, each with its status through the status
  subresource, as the KServe, Knative and HPA controllers write it. The CRDs validate what is
  written (tests/live/crds: a PodAutoscaler's status needs ``serviceName`` and
  ``metricsServiceName``, as upstream's schema requires). ``ownerReferences`` are kept: with the
  garbage collector off, their original uids dangle harmlessly.
* StorageClasses, ConfigMaps (e.g. knative-serving/config-autoscaler), EndpointSlices;
  PersistentVolumeClaims with their phase through the status subresource (no PV controller
  binds them). Admission gives every claim the
  ``kubernetes.io/pvc-protection`` finalizer, which the purge removes before deleting.
* ResourceQuotas last, their status (hard, used) through the status subresource: without the
  quota controller the status is exactly the snapshot's, and since nothing is created in the
  namespace after them, quota admission neither charges nor refuses any scenario object.
* Every container log of the snapshot (current and previous) registered on the FakeKubelet.

Server-owned metadata (uid, resourceVersion, creationTimestamp, managedFields, generation,
selfLink, deletionTimestamp, deletionGracePeriodSeconds) is stripped before create, and so are
finalizers: no controller would ever remove them, so the objects could not be purged.

Bodies are sent as raw JSON through the ApiClient's transport, not through the generated
``create_*`` methods: those coerce dict bodies into models and re-serialise timestamps, which
drops the fraction digits of a MicroTime (Lease ``renewTime``, Event ``eventTime``) and makes
the API server refuse it with 400 ``parsing time ... as "2006-01-02T15:04:05.000000Z07:00"``.

Time
----
The live reader's clock is frozen at ``now = capturedAt + delta`` (:meth:`Loaded.clock`) and
every timestamp the loader writes is shifted by the same whole number of seconds ``delta``, so
every age ("Ready=Unknown for 22m", events in the last 6 h) is the snapshot's. Any string
anywhere in an object that is an RFC 3339 timestamp is shifted (conditions, taints' timeAdded,
container states, Lease renewTime, event times...); the fraction digits are kept exactly, since
MicroTime fields must keep six.

Timestamps the API server sets cannot be shifted. kfops reads one of them: the
``deletionTimestamp`` of a stuck Terminating pod. The server sets it to ``T_delete + g`` when a
pod is deleted with grace period ``g``, truncated to whole seconds, so a snapshot pod with
deletionTimestamp ``D`` is deleted with ``g = round(D + delta - T_delete)``. ``g`` must be at
least 1 s (0 deletes at once), hence with Terminating pods ``delta = T_load + margin - min(D)``;
without them ``delta = T_load - capturedAt``, so "now" is about the real time. The result is
within 2 s of the snapshot, and kfops prints ages in minutes. Pods that are Terminating and
already Succeeded/Failed, or not bound to a node, are deleted at once by the server and cannot be
reproduced: :class:`LoadError`. ``creationTimestamp`` is always the real load time (the server
overwrites it on every create, custom resources included), so a ladder that measures an age from
it (a Revision "created N minutes ago") sees about 0 live: parity only holds when the age comes
from a timestamp the object carries (a condition's ``lastTransitionTime``).

Isolation
---------
The cluster holds one scenario at a time: scenarios reuse names (gpu-a100-1 ...), and the ladder
reads cluster-wide (every Node, operand pods and DaemonSets by label in every namespace, events
by field selector). So :func:`purge`, run first by :func:`load_scenario`, empties the whole
cluster of the kinds the ladders read: every Node and StorageClass, and in every namespace
every Pod (grace period 0, which removes Terminating pods too), Event, DaemonSet, Deployment,
Job, HorizontalPodAutoscaler, Lease (except the API server's own identity Leases),
PersistentVolumeClaim, ResourceQuota, EndpointSlice (except the API server's own), ConfigMap
(except in the kube-* namespaces) and, when their CRDs are installed, every MariaDB, Backup,
Workflow, Profile, InferenceService, Revision and PodAutoscaler. Objects that other
live tests left behind are removed too: those tests are function-scoped and nothing reads their
objects afterwards. A FakeKubelet cannot forget a registered log, so pass a fresh one
(``FakeKubelet(control_plane.pki)``) to every load.

Access
------
:func:`grant_reader` reproduces the snapshot's ``forbidden`` faults with real RBAC: user
``kfops-reader`` is bound to the read-only ClusterRole of ``deploy/rbac`` minus exactly the
refused verbs, and every other binding of that user is deleted, so only this role applies.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes import client

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
    STORAGECLASSES,
    WORKFLOWS,
    ResourceRef,
)
from kfops.clients.snapshot.store import Entry, Fault, SnapshotStore
from kfops.diagnostics.pipelines.workflows import decode_compressed_nodes

from .controlplane import REPO_ROOT, FakeKubelet, node_status_endpoint_fields
from .crds import CRD_DIR

SERVER_OWNED_METADATA: Final = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
)
#: Seconds between the start of a load and the earliest deletionTimestamp it must reproduce: the
#: loading before the first graceful delete must fit in it (it takes well under a second).
DELETION_MARGIN_S: Final = 15
#: The kinds a load writes, in the order it writes them: Nodes before the pods bound to them,
#: StorageClasses before the claims naming them, ResourceQuotas after everything they could charge.
LOAD_ORDER: Final = (
    NODES,
    STORAGECLASSES,
    PROFILES,
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    REPLICASETS,
    CRONJOBS,
    JOBS,
    PVCS,
    PODS,
    ENDPOINTSLICES,
    ROLEBINDINGS,
    AUTHORIZATIONPOLICIES,
    WORKFLOWS,
    INFERENCESERVICES,
    REVISIONS,
    PODAUTOSCALERS,
    HPAS,
    LEASES,
    EVENTS,
    MARIADBS,
    BACKUPS,
    RESOURCEQUOTAS,
)
#: Kinds written through their status subresource after create (create ignores status). Not
#: Workflows: Argo's CRD has no status subresource, so their status is created with them.
WITH_STATUS: Final = (
    PODS,
    DAEMONSETS,
    DEPLOYMENTS,
    REPLICASETS,
    CRONJOBS,
    JOBS,
    MARIADBS,
    BACKUPS,
    PROFILES,
    PVCS,
    INFERENCESERVICES,
    REVISIONS,
    PODAUTOSCALERS,
    HPAS,
    RESOURCEQUOTAS,
)
#: Kinds served only when their CRD is installed: a purge skips them when it is not.
CUSTOM: Final = (
    MARIADBS,
    BACKUPS,
    WORKFLOWS,
    PROFILES,
    INFERENCESERVICES,
    REVISIONS,
    PODAUTOSCALERS,
    AUTHORIZATIONPOLICIES,
)
#: CRDs a ladder reads by name (profile-controller-crashloop): in a scenario that holds any
#: CustomResourceDefinition the snapshot is the truth for these (replaced, or deleted when absent).
NAME_READ_CRDS: Final = {
    "profiles.kubeflow.org": CRD_DIR / "kubeflow.org_profiles.yaml",
    "authorizationpolicies.security.istio.io": CRD_DIR / "security.istio.io_authorizationpolicies.yaml",
}
#: CRDs a scenario may also leave out: a ``not-found`` fault on a list of the kind (recorded where
#: the CRD was not installed) is reproduced by deleting the CRD for that scenario.
UNSERVABLE_CRDS: Final = {"backups.k8s.mariadb.com": CRD_DIR / "k8s.mariadb.com_backups.yaml"}
#: every purge puts back the canonical tests/live/crds version of these
SCENARIO_CRDS: Final = {**NAME_READ_CRDS, **UNSERVABLE_CRDS}
CRD_TIMEOUT_S: Final = 30.0
#: Kinds a load writes outside LOAD_ORDER: Namespaces first (with their metadata), CRDs before all.
SPECIAL: Final = (NAMESPACES, CRDS)
#: Namespaces whose ConfigMaps the API server itself may own: the purge leaves them alone.
SYSTEM_NAMESPACES: Final = frozenset({"kube-system", "kube-public", "kube-node-lease"})
#: Label of an EndpointSlice's Service; the API server's own ("kubernetes") is kept.
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
#: Labels the API server puts on a Job's pod template from the Job's own uid (generated selector).
JOB_UID_LABELS: Final = ("controller-uid", "batch.kubernetes.io/controller-uid")
#: Label of the API server's own identity Lease in kube-system, which the purge keeps.
APISERVER_IDENTITY_LABEL: Final = "apiserver.kubernetes.io/identity"
REQUEST_TIMEOUT: Final = (5.0, 30.0)
PURGE_TIMEOUT_S: Final = 10.0

READER_USER: Final = "kfops-reader"
DEPLOY_READER_ROLE: Final = REPO_ROOT / "deploy" / "rbac" / "clusterrole-reader.yaml"
#: Name of the ClusterRole and ClusterRoleBinding of the parity reader (not the deploy name, so
#: nothing that applies the deploy manifests meets them).
PARITY_ACCESS_NAME: Final = "kfops-parity-reader"
RBAC_TIMEOUT_S: Final = 10.0

_TIMESTAMP: Final = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_SECONDS_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"


class LoadError(RuntimeError):
    """The scenario cannot be written as the snapshot has it; the message says why."""


class ApiError(LoadError):
    """The API server refused a request; keeps its status code and its own message."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        message = body.decode(errors="replace")
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict) and decoded.get("message"):
                message = str(decoded["message"])
        except ValueError:
            pass
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Loaded:
    """A loaded scenario: the instant its live reader must treat as now, and where it went."""

    now: datetime
    delta: timedelta
    namespaces: tuple[str, ...]
    faults: tuple[Fault, ...]  # the snapshot's, for grant_reader and the proxy

    def clock(self) -> datetime:
        """The frozen clock for ``LiveKubeReader(clock=...)``: the snapshot's now, shifted."""
        return self.now


# --------------------------------------------------------------------------- raw REST


class Rest:
    """Raw JSON requests with an ApiClient's credentials: bodies go out exactly as given."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        query: Sequence[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        verb, url, headers, serialized, _ = self._api.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(verb, url, headers, body=serialized, _request_timeout=REQUEST_TIMEOUT)
        data: bytes = response.read()  # type: ignore[no-untyped-call]  # the client ships no hints here
        if not 200 <= response.status < 300:
            raise ApiError(method, path, response.status, data)
        decoded: dict[str, Any] = json.loads(data) if data else {}
        return decoded

    def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """JSON merge patch: lists (taints, conditions) are replaced whole, ``None`` removes."""
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, query: Sequence[tuple[str, str]] = (), *, missing_ok: bool = False) -> None:
        try:
            self.request("DELETE", path, query=query)
        except ApiError as error:
            if not (missing_ok and error.status == 404):
                raise

    def items(self, path: str, query: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
        listed = self.request("GET", path, query=query)
        return list(listed.get("items") or [])


# --------------------------------------------------------------------------- time


def shift_time(value: str, delta: timedelta) -> str:
    """An RFC 3339 timestamp moved by ``delta`` (whole seconds), same format; other text unchanged."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return value
    moved = datetime.strptime(match[1], _SECONDS_FORMAT) + delta
    return moved.strftime(_SECONDS_FORMAT) + (match[2] or "") + match[3]


def shift_times(value: Any, delta: timedelta) -> Any:
    """A deep copy of a JSON value with every RFC 3339 timestamp in it moved by ``delta``."""
    if isinstance(value, dict):
        return {key: shift_times(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_times(item, delta) for item in value]
    if isinstance(value, str):
        return shift_time(value, delta)
    return value


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _deletion(entry: Entry) -> datetime | None:
    raw = (entry.obj.get("metadata") or {}).get("deletionTimestamp")
    return _parse(str(raw)) if raw else None


def plan_delta(store: SnapshotStore, load_start: datetime) -> timedelta:
    """Whole seconds to add to every snapshot timestamp; see the module docstring (Time)."""
    deletions = [d for entry in store.entries("", "Pod") if (d := _deletion(entry)) is not None]
    if deletions:
        wanted = load_start + timedelta(seconds=DELETION_MARGIN_S) - min(deletions)
    else:
        wanted = load_start - store.meta.captured_at
    return timedelta(seconds=math.ceil(wanted.total_seconds()))


# --------------------------------------------------------------------------- purge


def _namespaces_of(items: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(item["metadata"]["namespace"]) for item in items}


def _purged(ref: ResourceRef, item: Mapping[str, Any]) -> bool:
    """Whether the purge removes this object (ConfigMaps and RoleBindings of the kube-* namespaces
    stay: the API server's bootstrap owns them)."""
    return not (ref in (CONFIGMAPS, ROLEBINDINGS) and item["metadata"].get("namespace") in SYSTEM_NAMESPACES)


def _purge_kind(rest: Rest, ref: ResourceRef, query: Sequence[tuple[str, str]]) -> None:
    """Delete every object of a kind: one deletecollection per namespace that has any, or one for
    a cluster-scoped kind. Claims lose the finalizer admission gave them first (no controller
    would ever remove it)."""
    items = [item for item in rest.items(ref.path(), query) if _purged(ref, item)]
    if ref is PVCS:
        for item in items:
            if item["metadata"].get("finalizers"):
                metadata = item["metadata"]
                rest.merge_patch(
                    PVCS.path(metadata["namespace"], metadata["name"]), {"metadata": {"finalizers": None}}
                )
    if not ref.namespaced:
        if items:
            rest.delete(ref.path(), query)
        return
    for namespace in sorted(_namespaces_of(items)):
        rest.delete(ref.path(namespace), query)


def _ref(item: Mapping[str, Any]) -> str:
    metadata = item["metadata"]
    return (
        f"{metadata['namespace']}/{metadata['name']}" if metadata.get("namespace") else str(metadata["name"])
    )


def _leftovers(rest: Rest) -> list[str]:
    found = [f"Node {n['metadata']['name']}" for n in rest.items(NODES.path())]
    for ref, query in _purge_plan(rest):
        found += [f"{ref.kind} {_ref(item)}" for item in rest.items(ref.path(), query) if _purged(ref, item)]
    return found


def _served(rest: Rest, ref: ResourceRef) -> bool:
    """Whether the API server serves this kind (a custom resource needs its CRD installed)."""
    try:
        rest.items(ref.path(), (("limit", "1"),))
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def _purge_plan(rest: Rest) -> tuple[tuple[ResourceRef, tuple[tuple[str, str], ...]], ...]:
    keep_apiserver = (("labelSelector", f"!{APISERVER_IDENTITY_LABEL}"),)
    builtin: tuple[tuple[ResourceRef, tuple[tuple[str, str], ...]], ...] = (
        (RESOURCEQUOTAS, ()),  # first: nothing may charge or refuse what follows
        (PODS, (("gracePeriodSeconds", "0"),)),  # 0 also removes pods already Terminating
        (EVENTS, ()),
        (DAEMONSETS, ()),
        (DEPLOYMENTS, ()),
        (REPLICASETS, ()),
        (CRONJOBS, ()),
        (JOBS, ()),
        (HPAS, ()),
        (LEASES, keep_apiserver),
        (PVCS, ()),
        (STORAGECLASSES, ()),
        (ENDPOINTSLICES, (("labelSelector", f"{SERVICE_NAME_LABEL}!=kubernetes"),)),
        (CONFIGMAPS, ()),
        (ROLEBINDINGS, ()),
    )
    return builtin + tuple((ref, ()) for ref in CUSTOM if _served(rest, ref))


def purge(api: client.ApiClient) -> None:
    """Remove every object of the kinds a load writes (see the module docstring, Isolation): Nodes,
    Pods, Events, DaemonSets, Deployments, Jobs, HPAs, Leases (but the API server's), claims,
    quotas, StorageClasses, EndpointSlices and ConfigMaps (but the API server's), and every
    MariaDB, Backup, Workflow, Profile, InferenceService, Revision and PodAutoscaler when their
    CRDs are installed.

    Deletion is synchronous for all of them here (no finalizers, garbage collector off), but the
    emptiness is still checked, bounded, so a leftover fails the load rather than the verdict.
    """
    rest = Rest(api)
    rest.delete(NODES.path())
    for ref, query in _purge_plan(rest):
        _purge_kind(rest, ref, query)
    deadline = time.monotonic() + PURGE_TIMEOUT_S
    while leftovers := _leftovers(rest):
        if time.monotonic() > deadline:
            raise LoadError(f"purge left objects behind: {', '.join(leftovers[:10])}")
        time.sleep(0.1)
    restore_crds(rest)


# --------------------------------------------------------------------------- CRDs a scenario varies

CRD_PATH: Final = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


#: Annotation on a CRD the loader wrote from a snapshot: the next purge puts the canonical one back.
SCENARIO_CRD_MARK: Final = "kfops.test/from-scenario"


def _crd_body(crd: Mapping[str, Any], *, from_scenario: bool = False) -> dict[str, Any]:
    """A CRD as a client sends it: metadata name/labels/annotations and the spec, nothing server-owned."""
    metadata = crd.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "labels", "annotations") if metadata.get(k)}
    if from_scenario:
        kept["annotations"] = {**(kept.get("annotations") or {}), SCENARIO_CRD_MARK: "true"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": kept,
        "spec": crd["spec"],
    }


def _versions(crd: Mapping[str, Any]) -> list[tuple[str, bool, bool]]:
    return [(str(v["name"]), bool(v.get("served")), bool(v.get("storage"))) for v in crd["spec"]["versions"]]


def _installed(rest: Rest, name: str) -> dict[str, Any] | None:
    try:
        return rest.request("GET", f"{CRD_PATH}/{name}")
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def _delete_crd(rest: Rest, name: str) -> None:
    """Delete a CRD and wait until it is gone (the API server's own finalizer removes its objects)."""
    rest.delete(f"{CRD_PATH}/{name}", missing_ok=True)
    deadline = time.monotonic() + CRD_TIMEOUT_S
    while _installed(rest, name) is not None:
        if time.monotonic() > deadline:
            raise LoadError(f"CRD {name} still present {CRD_TIMEOUT_S:g} s after its deletion")
        time.sleep(0.1)


def _await_established(rest: Rest, name: str, versions: Sequence[str]) -> None:
    """Until the CRD is Established and discovery serves exactly its served versions."""
    deadline = time.monotonic() + CRD_TIMEOUT_S
    while True:
        crd = _installed(rest, name) or {}
        conditions = (crd.get("status") or {}).get("conditions") or []
        established = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
        group, plural = (
            crd.get("spec", {}).get("group", ""),
            crd.get("spec", {}).get("names", {}).get("plural", ""),
        )
        serving = established and all(_serves(rest, group, version, plural) for version in versions)
        if serving:
            return
        if time.monotonic() > deadline:
            raise LoadError(f"CRD {name} not Established/serving {list(versions)} after {CRD_TIMEOUT_S:g} s")
        time.sleep(0.1)


def _serves(rest: Rest, group: str, version: str, plural: str) -> bool:
    try:
        rest.request("GET", f"/apis/{group}/{version}/{plural}", query=(("limit", "1"),))
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def put_crd(rest: Rest, crd: Mapping[str, Any], *, from_scenario: bool = False) -> None:
    """Make the installed CRD exactly ``crd``: versions (served/storage), then ``status.storedVersions``.

    The CRD is recreated when its versions differ (the API server refuses to drop a version that
    ``status.storedVersions`` still lists, which is the very hazard a scenario may show), and
    storedVersions is then written through the status subresource.
    """
    name = str(crd["metadata"]["name"])
    body = _crd_body(crd, from_scenario=from_scenario)
    current = _installed(rest, name)
    if current is not None:
        _delete_crd(rest, name)
        current = None
    if current is None:
        rest.create(CRD_PATH, body)
    served = [version for version, serving, _ in _versions(body) if serving]
    _await_established(rest, name, served)
    stored = (crd.get("status") or {}).get("storedVersions")
    if stored:
        rest.merge_patch(f"{CRD_PATH}/{name}/status", {"status": {"storedVersions": list(stored)}})


def _canonical(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SCENARIO_CRDS[name].read_text(encoding="utf-8"))
    return loaded


def restore_crds(rest: Rest) -> None:
    """Put back the canonical tests/live/crds version of every CRD a scenario may vary; idempotent and
    cheap when nothing changed (only the profile-controller-crashloop scenarios change them)."""
    for name in SCENARIO_CRDS:
        canonical = _canonical(name)
        current = _installed(rest, name)
        stored = [v for v, _, storage in _versions(canonical) if storage]
        annotations = ((current or {}).get("metadata") or {}).get("annotations") or {}
        if (
            current is not None
            and SCENARIO_CRD_MARK not in annotations
            and _versions(current) == _versions(canonical)
            and (current.get("status") or {}).get("storedVersions") == stored
        ):
            continue
        put_crd(rest, {**canonical, "status": {"storedVersions": stored}})


def sync_crds(rest: Rest, store: SnapshotStore) -> None:
    """A scenario holding CustomResourceDefinitions: its version of each name-read CRD, or none."""
    snapshot = {entry.name: entry.obj for entry in store.entries(CRDS.group, CRDS.kind)}
    if not snapshot:
        return
    unknown = sorted(set(snapshot) - set(NAME_READ_CRDS))
    if unknown:
        raise LoadError(
            f"{store.root}: the loader varies only the CRDs {sorted(NAME_READ_CRDS)}, not {unknown}"
        )
    for name in NAME_READ_CRDS:
        if name in snapshot:
            put_crd(rest, snapshot[name], from_scenario=True)
        else:
            _delete_crd(rest, name)


def unserve_crds(rest: Rest, store: SnapshotStore) -> None:
    """Delete the CRD of every kind whose list the snapshot recorded as not served (``not-found``)."""
    for fault in store.meta.faults:
        if fault.error != "not-found":
            continue
        if fault.verb != "list" or fault.resource not in UNSERVABLE_CRDS:
            raise LoadError(
                f"{store.root}: a not-found fault is reproduced only for a list of "
                f"{sorted(UNSERVABLE_CRDS)}, not {fault.verb} {fault.resource}"
            )
        _delete_crd(rest, fault.resource)


# --------------------------------------------------------------------------- namespaces


def _namespace_exists(rest: Rest, name: str) -> dict[str, Any] | None:
    try:
        return rest.request("GET", NAMESPACES.path(name=name))
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def remove_namespace(rest: Rest, name: str) -> None:
    """Delete a namespace for good. Without the namespace controller it would stay Terminating: the
    loader empties its ``spec.finalizers`` through the finalize subresource, which lets the API
    server drop it (objects still stored in it would reappear with a namespace of the same name, so
    only namespaces the purge has emptied of every kind a ladder reads are removed)."""
    if _namespace_exists(rest, name) is None:
        return
    rest.delete(NAMESPACES.path(name=name), missing_ok=True)
    current = _namespace_exists(rest, name)
    if current is not None:
        rest.request("PUT", NAMESPACES.path(name=name) + "/finalize", {**current, "spec": {"finalizers": []}})
    deadline = time.monotonic() + PURGE_TIMEOUT_S
    while _namespace_exists(rest, name) is not None:
        if time.monotonic() > deadline:
            raise LoadError(f"namespace {name} is still there after its deletion and finalization")
        time.sleep(0.1)


def write_namespaces(rest: Rest, store: SnapshotStore, delta: timedelta) -> None:
    """The snapshot's Namespace objects with their labels, annotations and ownerReferences (created,
    or an existing one's metadata replaced); and the namespace of every Profile the snapshot has
    without one removed, since a ladder reads "this Profile has no namespace" from its absence."""
    declared = {entry.name for entry in store.entries(NAMESPACES.group, NAMESPACES.kind)}
    for entry in store.entries(NAMESPACES.group, NAMESPACES.kind):
        body = _prepared(entry.obj, delta)
        body.pop("status", None)
        metadata = body["metadata"]
        current = _namespace_exists(rest, entry.name)
        if current is None:
            rest.create(NAMESPACES.path(), body)
            continue
        old = current["metadata"]
        patch: dict[str, Any] = {}
        for key in ("labels", "annotations"):
            wanted = dict(metadata.get(key) or {})
            if key == "labels":  # the API server's own label
                wanted.setdefault("kubernetes.io/metadata.name", entry.name)
            patch[key] = {**{k: None for k in (old.get(key) or {}) if k not in wanted}, **wanted}
        patch["ownerReferences"] = metadata.get("ownerReferences")
        rest.merge_patch(NAMESPACES.path(name=entry.name), {"metadata": patch})
    for entry in store.entries(PROFILES.group, PROFILES.kind):
        if entry.name not in declared and store.entries(NAMESPACES.group, NAMESPACES.kind):
            remove_namespace(rest, entry.name)


# --------------------------------------------------------------------------- load


def _prepared(obj: Mapping[str, Any], delta: timedelta) -> dict[str, Any]:
    """The object as a client would send it: server-owned metadata gone, timestamps shifted."""
    body: dict[str, Any] = shift_times(dict(obj), delta)
    metadata = dict(body.get("metadata") or {})
    for key in SERVER_OWNED_METADATA:
        metadata.pop(key, None)
    body["metadata"] = metadata
    return body


def shift_compressed_nodes(body: dict[str, Any], delta: timedelta) -> dict[str, Any]:
    """A Workflow whose nodes Argo compressed (status.compressedNodes: base64 of gzip of JSON) with
    the timestamps inside moved like every other one; shift_times cannot see into the string."""
    status = body.get("status") or {}
    compressed = status.get("compressedNodes")
    if not compressed or status.get("nodes"):
        return body
    nodes = shift_times(decode_compressed_nodes(compressed), delta)
    packed = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    return {**body, "status": {**status, "compressedNodes": packed}}


def _ensure_namespaces(rest: Rest, namespaces: Iterable[str]) -> None:
    for namespace in sorted(namespaces):
        try:
            rest.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            )
        except ApiError as error:
            if error.status != 409:  # exists: reuse it
                raise


def _create_node(rest: Rest, body: dict[str, Any], kubelet: FakeKubelet) -> None:
    """Create a Node as its kubelet registers it, then set the taints the controller would have."""
    taints = (body.get("spec") or {}).get("taints") or None
    body["status"] = {**(body.get("status") or {}), **node_status_endpoint_fields(kubelet.port)}
    rest.create(NODES.path(), body)
    rest.merge_patch(NODES.path(name=body["metadata"]["name"]), {"spec": {"taints": taints}})


def _job_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Job as a client creates it: without the selector and labels the server generates from its uid.

    The snapshot's Job carries them from its original uid; sent back, the API server refuses the
    Job (``selector`` not auto-generated) unless ``spec.manualSelector`` says they are the user's.
    """
    spec = dict(body.get("spec") or {})
    if spec.get("manualSelector"):
        return body
    spec.pop("selector", None)
    template = dict(spec.get("template") or {})
    metadata = dict(template.get("metadata") or {})
    labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in JOB_UID_LABELS}
    template["metadata"] = {**metadata, "labels": labels}
    spec["template"] = template
    return {**body, "spec": spec}


def _create_with_status(rest: Rest, ref: ResourceRef, body: dict[str, Any], path: str | None = None) -> None:
    """Create, then write status through the status subresource (create ignores it)."""
    status = body.pop("status", None)
    namespace, name = body["metadata"].get("namespace"), body["metadata"]["name"]
    collection = path or ref.path(namespace)
    rest.create(collection, body)
    if status:
        rest.merge_patch(f"{collection}/{name}/status", {"status": status})


def _check_deletable(entry: Entry) -> None:
    """A Terminating pod can only be reproduced if the server will keep it Terminating."""
    spec, status = entry.obj.get("spec") or {}, entry.obj.get("status") or {}
    where = f"pod {entry.namespace}/{entry.name}"
    if not spec.get("nodeName"):
        raise LoadError(f"{where} is Terminating but unbound: the API server would delete it at once")
    if status.get("phase") in ("Succeeded", "Failed"):
        raise LoadError(f"{where} is Terminating in phase {status['phase']}: it would be deleted at once")


def _delete_gracefully(rest: Rest, entry: Entry, deletion: datetime, delta: timedelta) -> None:
    """Delete so that the server's deletionTimestamp (now + grace) is the snapshot's, shifted."""
    grace = round((deletion + delta - datetime.now(UTC)).total_seconds())
    if grace < 1:
        raise LoadError(
            f"pod {entry.namespace}/{entry.name}: loading outran DELETION_MARGIN_S "
            f"({DELETION_MARGIN_S} s); its grace period would be {grace} s"
        )
    rest.delete(PODS.path(entry.namespace, entry.name), (("gracePeriodSeconds", str(grace)),))


def _object_path(ref: ResourceRef, body: Mapping[str, Any]) -> str:
    """Where to create an object: at its own apiVersion for a custom resource (a Profile the CRD
    serves only as kubeflow.org/v1beta1 is written there), else at the ref's."""
    namespace = (body.get("metadata") or {}).get("namespace")
    api_version = str(body.get("apiVersion") or "")
    if ref not in CUSTOM or api_version == ref.api_version:
        return ref.path(namespace)
    base = f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{ref.plural}" if ref.namespaced else f"{base}/{ref.plural}"


def _write_managed_fields(rest: Rest, path: str, managed: Any) -> None:
    """Put the snapshot's managedFields back (times already shifted). The API server keeps a
    request's managedFields when they are non-empty and differ from the stored ones, and a patch
    that changes nothing else adds no entry of its own."""
    if managed:
        rest.merge_patch(path, {"metadata": {"managedFields": managed}})


def _write_objects(rest: Rest, store: SnapshotStore, kubelet: FakeKubelet, delta: timedelta) -> None:
    for ref in LOAD_ORDER:
        for entry in store.entries(ref.group, ref.kind):
            body = _prepared(entry.obj, delta)
            if ref is WORKFLOWS:
                body = shift_compressed_nodes(body, delta)
            if ref is NODES:
                _create_node(rest, body, kubelet)
            elif ref is JOBS:
                _create_with_status(rest, ref, _job_body(body))
            elif ref in WITH_STATUS:
                _create_with_status(rest, ref, body, _object_path(ref, body))
            else:
                rest.create(_object_path(ref, body), body)
            if ref is PROFILES:
                managed = shift_times((entry.obj.get("metadata") or {}).get("managedFields"), delta)
                _write_managed_fields(rest, _object_path(ref, body) + f"/{entry.name}", managed)
    for entry in store.entries(PODS.group, PODS.kind):
        deletion = _deletion(entry)
        if deletion is not None:
            _delete_gracefully(rest, entry, deletion, delta)


def _check_kinds(store: SnapshotStore) -> None:
    known = {(ref.group, ref.kind) for ref in (*LOAD_ORDER, *SPECIAL)}
    unknown = sorted(
        f"{group}/{kind}".lstrip("/") for group, kind in store.objects if (group, kind) not in known
    )
    if unknown:
        raise LoadError(f"{store.root}: the loader cannot write {', '.join(unknown)}")
    for group, kind in known:
        for entry in store.entries(group, kind):
            if kind == "Pod" and _deletion(entry) is not None:
                _check_deletable(entry)
            elif _deletion(entry) is not None:
                raise LoadError(f"{kind} {entry.namespace}/{entry.name} is being deleted: not reproducible")


def _container_names(store: SnapshotStore, namespace: str, pod: str) -> list[str]:
    for entry in store.entries("", "Pod"):
        if (entry.namespace, entry.name) == (namespace, pod):
            spec = entry.obj.get("spec") or {}
            return [str(c["name"]) for key in ("initContainers", "containers") for c in spec.get(key) or []]
    return []


def register_logs(store: SnapshotStore, kubelet: FakeKubelet) -> None:
    """Every snapshot log on the fake kubelet; a dump-style pod log (container "*") for each container."""
    specific = {key for key in store.logs if key[2] != "*"}
    for (namespace, pod, container, previous), path in sorted(store.logs.items()):
        text = path.read_text(encoding="utf-8", errors="replace")
        names = [container] if container != "*" else _container_names(store, namespace, pod)
        for name in names:
            if container == "*" and (namespace, pod, name, previous) in specific:
                continue
            kubelet.set_log(namespace, pod, name, text, previous=previous)


def load_scenario(api_client: client.ApiClient, kubelet: FakeKubelet, snapshot_dir: Path) -> Loaded:
    """Purge the cluster, then write the snapshot into it; see the module docstring.

    ``api_client`` must be allowed everything (the ``admin`` user); ``kubelet`` should be fresh.
    """
    store = SnapshotStore.load(snapshot_dir)
    _check_kinds(store)
    purge(api_client)
    rest = Rest(api_client)
    sync_crds(rest, store)
    unserve_crds(rest, store)
    for ref in CUSTOM:
        versions = {
            str(e.obj.get("apiVersion")).rpartition("/")[2] for e in store.entries(ref.group, ref.kind)
        }
        if any(not _serves(rest, ref.group, version, ref.plural) for version in versions):
            raise LoadError(
                f"{store.root} has {ref.kind} objects but the API server does not serve "
                f"{ref.qualified}: install tests/live/crds first (crds.install_crds)"
            )
    delta = plan_delta(store, datetime.now(UTC))
    namespaces = {
        entry.namespace for entries in store.objects.values() for entry in entries if entry.namespace
    }
    write_namespaces(rest, store, delta)
    _ensure_namespaces(rest, namespaces)
    _write_objects(rest, store, kubelet, delta)
    register_logs(store, kubelet)
    return Loaded(
        now=store.meta.captured_at + delta,
        delta=delta,
        namespaces=tuple(sorted(namespaces)),
        # Prometheus faults are replayed by the scenario's recorded Prometheus in both runs;
        # only Kubernetes faults need reproducing against the live API server.
        faults=tuple(f for f in store.meta.faults if f.resource != "prometheus"),
    )


# --------------------------------------------------------------------------- access (RBAC)

#: (API group, resource with optional "/subresource", verb): one thing RBAC may allow.
Permission = tuple[str, str, str]


def fault_permission(fault: Fault) -> Permission:
    """The RBAC permission a snapshot fault names: ``log`` of ``pods/log`` is ``get`` on it."""
    name, _, subresource = fault.resource.partition("/")
    plural, _, group = name.partition(".")
    resource = f"{plural}/{subresource}" if subresource else plural
    return group, resource, "get" if fault.verb == "log" else fault.verb


def forbidden_permissions(faults: Iterable[Fault]) -> frozenset[Permission]:
    """The permissions the snapshot's ``forbidden`` faults refuse (cluster-wide only)."""
    refused = []
    for fault in faults:
        if fault.error != "forbidden":
            continue
        if fault.namespace:
            raise LoadError(
                f"fault {fault.verb} {fault.resource} in namespace {fault.namespace}: a namespace-only "
                "refusal cannot be reproduced by removing a verb from one ClusterRole"
            )
        refused.append(fault_permission(fault))
    return frozenset(refused)


def _expand(rule: Mapping[str, Any]) -> set[Permission]:
    return {
        (group, resource, verb)
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _named_rules(rules: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rules restricted to named objects (``resourceNames``): granted as they are written."""
    return [dict(rule) for rule in rules if rule.get("resourceNames")]


def _permissions(rules: Iterable[Mapping[str, Any]]) -> set[Permission]:
    """What the rules grant on every object of a kind (rules for named objects are left out)."""
    found: set[Permission] = set()
    for rule in rules:
        if rule.get("nonResourceURLs"):
            raise LoadError(f"unsupported rule in {DEPLOY_READER_ROLE}: {dict(rule)}")
        if rule.get("resourceNames"):
            continue
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    if "*" in (group, resource, verb):
                        raise LoadError(f"wildcard rule in {DEPLOY_READER_ROLE}: {dict(rule)}")
                    found.add((group, resource, verb))
    return found


def _rules(permissions: Iterable[Permission]) -> list[dict[str, Any]]:
    """Permissions back to rules: one rule per (group, verbs) with all its resources."""
    verbs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for group, resource, verb in permissions:
        verbs[(group, resource)].add(verb)
    resources: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource), granted in sorted(verbs.items()):
        resources[(group, tuple(sorted(granted)))].append(resource)
    return [
        {"apiGroups": [group], "resources": names, "verbs": list(granted)}
        for (group, granted), names in sorted(resources.items())
    ]


def deploy_reader_role() -> dict[str, Any]:
    role: dict[str, Any] = yaml.safe_load(DEPLOY_READER_ROLE.read_text(encoding="utf-8"))
    return role


def reader_permissions(refused: frozenset[Permission]) -> frozenset[Permission]:
    """What the deploy role grants, minus what the faults refuse."""
    return frozenset(_permissions(deploy_reader_role()["rules"]) - refused)


def _unbind_reader(rest: Rest) -> None:
    """Delete every (Cluster)RoleBinding that names user kfops-reader, ours included."""
    for path in (
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    ):
        for binding in rest.items(path):
            subjects = binding.get("subjects") or []
            if any(s.get("kind") == "User" and s.get("name") == READER_USER for s in subjects):
                metadata = binding["metadata"]
                namespace = metadata.get("namespace")
                base = path if not namespace else path.replace("/v1/", f"/v1/namespaces/{namespace}/")
                rest.delete(f"{base}/{metadata['name']}", missing_ok=True)


def _allowed(rest: Rest, permission: Permission) -> bool:
    group, resource, verb = permission
    plural, _, subresource = resource.partition("/")
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": READER_USER,
            "groups": ["system:authenticated"],
            "resourceAttributes": {
                "group": group,
                "resource": plural,
                "subresource": subresource,
                "verb": verb,
            },
        },
    }
    answer = rest.create("/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
    return bool(answer.get("status", {}).get("allowed"))


def _await_access(rest: Rest, granted: frozenset[Permission], refused: frozenset[Permission]) -> None:
    """Wait (bounded) until the authorizer's cache says exactly what the role says."""
    deadline = time.monotonic() + RBAC_TIMEOUT_S
    while True:
        wrong = [p for p in sorted(granted) if not _allowed(rest, p)]
        wrong += [p for p in sorted(refused) if _allowed(rest, p)]
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise LoadError(f"RBAC did not settle in {RBAC_TIMEOUT_S:g} s for {READER_USER}: {wrong}")
        time.sleep(0.1)


def grant_reader(api_client: client.ApiClient, faults: Iterable[Fault]) -> frozenset[Permission]:
    """Bind user kfops-reader to the deploy read-only role minus the faults' refused verbs.

    Returns the refused permissions. Without ``forbidden`` faults the role is the deploy role
    itself, which proves the shipped role is enough for the ladders.
    """
    rest = Rest(api_client)
    refused = forbidden_permissions(faults)
    granted = reader_permissions(refused)
    role = deploy_reader_role()
    role["metadata"] = {"name": PARITY_ACCESS_NAME, "labels": role["metadata"].get("labels") or {}}
    if refused:  # else the rules stay exactly as shipped
        named = [rule for rule in _named_rules(role["rules"]) if not _expand(rule) & refused]
        role["rules"] = _rules(granted) + named
    _unbind_reader(rest)
    rest.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{PARITY_ACCESS_NAME}", missing_ok=True)
    rest.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
    rest.create(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": PARITY_ACCESS_NAME},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": PARITY_ACCESS_NAME,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": READER_USER}],
        },
    )
    _await_access(rest, granted, refused)
    return refused


def revoke_reader(api_client: client.ApiClient) -> None:
    """Leave kfops-reader unprivileged again, as other live tests expect."""
    rest = Rest(api_client)
    _unbind_reader(rest)
    rest.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{PARITY_ACCESS_NAME}", missing_ok=True)
