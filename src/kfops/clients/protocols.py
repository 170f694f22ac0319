"""What the layers above may ask of a source. Ladders see only these Protocols.

Kubernetes objects come back as plain JSON mappings in the API's own camelCase shape —
exactly what ``kubectl get -o json`` prints — from the live API and from snapshots alike, so
diagnostics cannot tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kfops.clients.galera.queries import Query
from kfops.clients.resources import ResourceRef

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class Fetched:
    """A read's answer and the exact request that produced it."""

    value: Any  # KubeObject for get, list[KubeObject] for list, str for logs
    query: str  # "GET /api/v1/nodes/gpu-1", with selectors unescaped so a human can re-run it
    observed_at: datetime
    nbytes: int = 0  # size of the answer on the wire (0 when unknown)


class KubeReader(Protocol):
    """Read-only access to one Kubernetes API (or a snapshot of one)."""

    def describe(self) -> str:
        """Where reads go, for humans: the server and context, or the snapshot directory."""

    def now(self) -> datetime:
        """The instant the ladders treat as now (a snapshot's capturedAt, else the clock)."""

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched: ...

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Fetched: ...

    def pod_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, tail_lines: int = 50
    ) -> Fetched: ...


def list_query(
    ref: ResourceRef,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
) -> str:
    params = []
    if label_selector:
        params.append(f"labelSelector={label_selector}")
    if field_selector:
        params.append(f"fieldSelector={field_selector}")
    return "GET " + ref.path(namespace) + ("?" + "&".join(params) if params else "")


def log_query(namespace: str, pod: str, container: str, previous: bool, tail_lines: int) -> str:
    q = f"GET /api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}"
    if previous:
        q += "&previous=true"
    return q + f"&tailLines={tail_lines}"


@dataclass(frozen=True)
class Identity:
    """Who the API server says we are (SelfSubjectReview)."""

    username: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccessCheck:
    verb: str
    resource: str  # qualified, with subresource: "nodes", "pods/eviction"
    namespace: str
    name: str
    allowed: bool
    reason: str = ""

    def describe(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else " (cluster scope)"
        return f"'{self.verb}' on '{self.resource}'{where}"


class KubeWriter(Protocol):
    """Writes to one Kubernetes API. Only the playbooks' gate may use it (import-linter contract).

    Every write takes `dry_run`: True sends `dryRun=All`, so the API server runs admission and
    validation and persists nothing.
    """

    def describe(self) -> str: ...

    def identity(self) -> Identity: ...

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        """Read back the gate's own state (its ConfigMaps and Leases) through the write channel."""

    def can_i(
        self, verb: str, ref: ResourceRef, namespace: str = "", name: str = "", subresource: str = ""
    ) -> AccessCheck: ...

    def create(
        self, ref: ResourceRef, namespace: str | None, body: dict[str, Any], *, dry_run: bool
    ) -> Fetched: ...

    def replace(
        self, ref: ResourceRef, name: str, namespace: str | None, body: dict[str, Any], *, dry_run: bool
    ) -> Fetched: ...

    def patch(
        self,
        ref: ResourceRef,
        name: str,
        namespace: str | None,
        patch: dict[str, Any],
        *,
        dry_run: bool,
        strategic: bool = False,
    ) -> Fetched: ...

    def delete(
        self,
        ref: ResourceRef,
        name: str,
        namespace: str | None,
        *,
        dry_run: bool,
        uid: str | None = None,
        grace_period_s: int | None = None,
        propagation: str | None = None,
    ) -> Fetched:
        """`uid`: delete only that object (precondition); `propagation`: the propagationPolicy
        (Background, Foreground, Orphan) for its dependents; None: the resource's default."""

    def evict(self, namespace: str, pod: str, *, dry_run: bool) -> Fetched: ...


@dataclass(frozen=True)
class Sample:
    """One series' value at one instant (an instant-vector element)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series over a range (a range-vector / matrix element)."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]  # (unix time, value)


class PromReader(Protocol):
    """Read-only PromQL against one Prometheus (or recorded answers in a snapshot).

    `Fetched.value` is a list of Sample for `query`, a list of Series for `query_range`. An empty
    list means the series is absent — NO_DATA, not zero.
    """

    def describe(self) -> str: ...

    def query(self, promql: str) -> Fetched: ...

    def query_range(self, promql: str, minutes: float, step_s: float) -> Fetched: ...


class KfpReader(Protocol):
    """Read-only calls to the Kubeflow Pipelines API server (REST v2beta1), or their recording.

    ``Fetched.value`` is the API's own JSON (snake_case, as ``kfp-server-api`` models it): a
    ``V2beta1Run`` mapping for ``get_run``. A failure raises a ReaderError with ``resource="kfp"``:
    Unreachable / ReadTimeout / ServerError (5xx), Unauthorized (401), Forbidden (403), NotFound.
    """

    def describe(self) -> str: ...

    def get_run(self, run_id: str) -> Fetched:
        """``GET /apis/v2beta1/runs/{run_id}``."""


class KfpWriter(Protocol):
    """The two run actions kfops may take through the KFP API. Playbooks only."""

    def describe(self) -> str: ...

    def terminate_run(self, run_id: str) -> Fetched:
        """``POST /apis/v2beta1/runs/{run_id}:terminate``."""

    def retry_run(self, run_id: str) -> Fetched:
        """``POST /apis/v2beta1/runs/{run_id}:retry``."""


class GaleraReader(Protocol):
    """Read-only SQL against the nodes of one MariaDB Galera cluster (or their recorded answers).

    Only the fixed statements of ``kfops.clients.galera.queries`` are sent. A node is addressed
    as ``host:port``; each node is read on its own, because during an incident they disagree.
    ``Fetched.value`` is a ``dict[str, str]`` for variable queries and a ``list[dict]`` of rows
    (JSON-safe values, times in UTC) for the others. A node that cannot be reached or refuses
    the credentials raises a ReaderError with ``resource="galera"``.
    """

    def describe(self) -> str: ...

    def nodes(self) -> tuple[str, ...]:
        """The node addresses, in the order given or discovered."""

    def expected_size(self) -> int:
        """How many nodes the cluster should have (settings, the MariaDB object, or the node count)."""

    def query(self, node: str, query: Query, schemas: tuple[str, ...] = ()) -> Fetched: ...

    def query_in(self, node: str, schema: str, query: Query) -> Fetched:
        """A bookkeeping query inside one schema (selected by the protocol, not by SQL text)."""


class GaleraWriter(Protocol):
    """The one write kfops makes to a database: ending a blocking session. Playbooks only."""

    def describe(self) -> str: ...

    def session(self, node: str, thread_id: int) -> dict[str, Any] | None:
        """The session's processlist row now, or None when it has ended."""

    def kill(self, node: str, thread_id: int, *, connection: bool) -> None:
        """``KILL QUERY id`` (the statement) or ``KILL CONNECTION id`` (the session, rolling back)."""
