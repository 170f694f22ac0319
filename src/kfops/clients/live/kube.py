"""KubeReader over a real API server, through the official `kubernetes` client.

Reads are plain GETs built with the client's own auth and TLS handling, decoded to the API's
JSON shape (what `kubectl get -o json` prints) so that live and snapshot answers are alike.
Only the verbs get and list (and pods/log) are ever sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kfops.clients.live.transport import Transport, load_configuration
from kfops.clients.protocols import Fetched, list_query, log_query
from kfops.clients.resources import ResourceRef
from kfops.clients.timeouts import Timeouts


class LiveKubeReader:
    def __init__(
        self,
        configuration: Any,
        origin: str,
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._transport = Transport(configuration, origin, timeouts)
        # Injectable so a replayed scenario can be judged at its own "now" (tests/live parity).
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> LiveKubeReader:
        configuration, origin = load_configuration(kubeconfig, context)
        return cls(configuration, origin, timeouts, clock)

    def describe(self) -> str:
        return f"cluster {self._transport.host} ({self._transport.origin})"

    def now(self) -> datetime:
        return self._clock()

    def server_version(self) -> dict[str, Any]:
        """The API server's /version (`kfops doctor`: is it there, and which Kubernetes)."""
        body = self._transport.request(
            "GET", "/version", query="GET /version", verb="get", resource="version"
        )
        version: dict[str, Any] = json.loads(body)
        return version

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        path = ref.path(namespace, name)
        query = "GET " + path
        body = self._transport.request("GET", path, query=query, verb="get", resource=ref.qualified)
        return Fetched(json.loads(body), query, self.now(), nbytes=len(body))

    def list(
        self,
        ref: ResourceRef,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Fetched:
        path = ref.path(namespace)
        params = []
        if label_selector:
            params.append(("labelSelector", label_selector))
        if field_selector:
            params.append(("fieldSelector", field_selector))
        query = list_query(ref, namespace, label_selector, field_selector)
        body = self._transport.request("GET", path, params, query=query, verb="list", resource=ref.qualified)
        decoded = json.loads(body)
        items = decoded.get("items") or []
        # Typed lists omit kind/apiVersion on items; put them back so objects look like kubectl's.
        for item in items:
            item.setdefault("kind", ref.kind)
            item.setdefault("apiVersion", ref.api_version)
        return Fetched(items, query, self.now(), nbytes=len(body))

    def pod_log(
        self, namespace: str, pod: str, container: str, previous: bool = False, tail_lines: int = 50
    ) -> Fetched:
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        params = [("container", container), ("tailLines", str(tail_lines))]
        if previous:
            params.append(("previous", "true"))
        query = log_query(namespace, pod, container, previous, tail_lines)
        # The log endpoint answers text/plain whatever is asked, but refuses Accept: text/plain (406).
        body = self._transport.request("GET", path, params, query=query, verb="get", resource="pods/log")
        return Fetched(body.decode("utf-8", errors="replace"), query, self.now(), nbytes=len(body))
