"""What the layers above may ask of a source. Ladders see only these Protocols.

Kubernetes objects come back as plain JSON mappings in the API's own camelCase shape —
exactly what ``kubectl get -o json`` prints — from the live API and from snapshots alike, so
diagnostics cannot tell the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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
