"""One authenticated HTTP channel to a Kubernetes API server, shared by the reader and the writer.

It builds requests with the official client's auth and TLS handling (kubeconfig, exec plugins,
in-cluster tokens), applies the timeouts of `Timeouts`, retries idempotent GETs on transient
errors only, and turns every failure into the error tree of `kfops.clients.errors`, keeping the
API server's own message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from kfops.clients.errors import (
    BadRequest,
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.retry import with_retries
from kfops.clients.timeouts import Timeouts

_STATUS_ERRORS: dict[int, type[ReaderError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
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


class Transport:
    def __init__(
        self,
        configuration: Any,
        origin: str,
        timeouts: Timeouts | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._api = client.ApiClient(configuration)
        self.host: str = configuration.host
        self.origin = origin
        self.timeouts = timeouts or Timeouts()
        self._headers = dict(headers or {})  # e.g. Impersonate-User for the gate's writes

    def request(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        query: str,
        verb: str,
        resource: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> bytes:
        """The response body of a 2xx answer; any other outcome raises a ReaderError.

        GETs are retried on transient errors; writes are sent once, because a write whose answer
        was lost may have happened.
        """

        def attempt() -> bytes:
            headers = {"Accept": "application/json", **self._headers}
            if body is not None:
                headers["Content-Type"] = content_type
            method_, url, headers_, body_, _ = self._api.param_serialize(
                method,
                path,
                query_params=list(params),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            try:
                response = self._api.call_api(
                    method_,
                    url,
                    headers_,
                    body=body_,
                    _request_timeout=(self.timeouts.connect_s, self.timeouts.read_s),
                )
                data: bytes = response.read()
            except urllib3.exceptions.HTTPError as exc:
                raise _transport_error(exc, query, self.host, verb, resource) from exc
            except client.ApiException as exc:  # TLS failures surface as status 0
                raise Unreachable(
                    query, f"cannot talk to {self.host}: {exc.reason}", verb=verb, resource=resource
                ) from exc
            if 200 <= response.status < 300:
                return data
            raise _http_error(query, response.status, data, response.headers, verb, resource)

        if method == "GET":
            return with_retries(self.timeouts, attempt)
        return attempt()


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
            # e.g. a PDB-blocked eviction: "The disruption budget X needs 1 healthy pods and has 1 currently"
            causes = [c.get("message") for c in (decoded.get("details") or {}).get("causes") or []]
            message = " ".join([message, *(str(c) for c in causes if c)])
    except ValueError:
        pass
    message = message or f"HTTP {status}"
    error_type = _STATUS_ERRORS.get(status)
    if error_type is None and 400 <= status < 500 and status != 429:
        error_type = BadRequest  # every other 4xx is permanent too: retrying cannot help
    error: ReaderError
    if error_type is None:
        error = ServerError(query, f"HTTP {status}: {message}", verb=verb, resource=resource)
        retry_after = headers.get("Retry-After") if headers else None
        if retry_after and retry_after.isdigit():
            error.retry_after_s = float(retry_after)
    else:
        error = error_type(query, message, verb=verb, resource=resource)
    error.status = status
    return error
