"""KubeReader over a real API server, through the official `kubernetes` client.

Reads are plain GETs built with the client's own auth and TLS handling, decoded to the API's
JSON shape (what `kubectl get -o json` prints) so that live and snapshot answers are alike.
Only the verbs get and list (and pods/log) are ever sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from kfops.clients.errors import (
    BadRequest,
    ConfigurationError,
    Forbidden,
    NotFound,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.protocols import Fetched, list_query, log_query
from kfops.clients.resources import ResourceRef
from kfops.clients.retry import with_retries
from kfops.clients.timeouts import Timeouts

_STATUS_ERRORS: dict[int, type[ReaderError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    422: BadRequest,
}


def load_configuration(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    """A client Configuration from a kubeconfig (and context), else from the pod's service account.

    Returns the configuration and a description of where it came from.
    """
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
        origin = f"context {context}" if context else "current context"
    except (ConfigException, OSError) as kube_error:
        if kubeconfig or context:
            raise ConfigurationError(f"cannot use kubeconfig/context: {kube_error}") from kube_error
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as incluster_error:
            raise ConfigurationError(
                "no kubeconfig found and not running in a pod: set KUBECONFIG or pass "
                f"--kubeconfig/--context ({kube_error})"
            ) from incluster_error
        origin = "in-cluster service account"
    configuration.retries = False  # tenacity decides what to retry, not urllib3
    return configuration, origin


class LiveKubeReader:
    def __init__(
        self,
        configuration: Any,
        origin: str,
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._api = client.ApiClient(configuration)
        self._host = configuration.host
        self._origin = origin
        self._timeouts = timeouts or Timeouts()
        # Injectable so a replayed scenario can be judged at its own "now" (tests/live parity).
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> LiveKubeReader:
        configuration, origin = load_configuration(kubeconfig, context)
        return cls(configuration, origin, timeouts)

    def describe(self) -> str:
        return f"cluster {self._host} ({self._origin})"

    def now(self) -> datetime:
        return self._clock()

    def get(self, ref: ResourceRef, name: str, namespace: str | None = None) -> Fetched:
        path = ref.path(namespace, name)
        body = self._read("GET " + path, path, [], verb="get", resource=ref.qualified)
        return Fetched(json.loads(body), "GET " + path, self.now(), nbytes=len(body))

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
        body = self._read(query, path, params, verb="list", resource=ref.qualified)
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
        body = self._read(query, path, params, verb="get", resource="pods/log")
        return Fetched(body.decode("utf-8", errors="replace"), query, self.now(), nbytes=len(body))

    def _read(
        self,
        query: str,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        verb: str,
        resource: str,
    ) -> bytes:
        def attempt() -> bytes:
            method, url, headers, _, _ = self._api.param_serialize(
                "GET",
                path,
                query_params=params,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            try:
                response = self._api.call_api(
                    method,
                    url,
                    headers,
                    _request_timeout=(self._timeouts.connect_s, self._timeouts.read_s),
                )
                data: bytes = response.read()
            except urllib3.exceptions.HTTPError as exc:
                raise _transport_error(exc, query, self._host, verb, resource) from exc
            except client.ApiException as exc:  # TLS failures surface as status 0
                raise Unreachable(
                    query,
                    f"cannot talk to {self._host}: {exc.reason}",
                    verb=verb,
                    resource=resource,
                ) from exc
            if 200 <= response.status < 300:
                return data
            raise _http_error(query, response.status, data, response.headers, verb, resource)

        return with_retries(self._timeouts, attempt)


def _transport_error(
    exc: urllib3.exceptions.HTTPError, query: str, host: str, verb: str, resource: str
) -> ReaderError:
    """A timeout, or a server that cannot be reached at all.

    urllib3 2 makes NewConnectionError (connection refused) a subclass of ConnectTimeoutError,
    so it is told apart first: a refused connection is not a slow server.
    """
    timed_out = isinstance(exc, urllib3.exceptions.TimeoutError)
    if timed_out and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ReadTimeout(query, f"{host} did not answer in time ({exc})", verb=verb, resource=resource)
    reason = getattr(exc, "reason", None) or exc
    return Unreachable(query, f"cannot reach {host}: {reason}", verb=verb, resource=resource)


def _http_error(query: str, status: int, body: bytes, headers: Any, verb: str, resource: str) -> ReaderError:
    """The API server's own Status message, classified by HTTP status."""
    message = body.decode("utf-8", errors="replace").strip()
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and decoded.get("message"):
            message = str(decoded["message"])
    except ValueError:
        pass
    message = message or f"HTTP {status}"
    error_type = _STATUS_ERRORS.get(status)
    if error_type is None and 400 <= status < 500 and status != 429:
        error_type = BadRequest  # every other 4xx is permanent too: retrying cannot help
    if error_type is None:
        error = ServerError(query, f"HTTP {status}: {message}", verb=verb, resource=resource)
        retry_after = headers.get("Retry-After") if headers else None
        if retry_after and retry_after.isdigit():
            error.retry_after_s = float(retry_after)
        return error
    return error_type(query, message, verb=verb, resource=resource)
