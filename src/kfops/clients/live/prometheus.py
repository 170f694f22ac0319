"""PromReader over a real Prometheus, through `prometheus-api-client`.

Instant queries are evaluated at the reader's "now"; range queries end there. Permanent errors
(400 bad query, 401/403) are reported at once; transient ones (connection, 5xx, 429) are retried
within the probe's budget like every other read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from kfops.clients.errors import (
    BadRequest,
    Forbidden,
    ReaderError,
    ReadTimeout,
    ServerError,
    Unauthorized,
    Unreachable,
)
from kfops.clients.protocols import Fetched, Sample, Series
from kfops.clients.retry import with_retries
from kfops.clients.timeouts import Timeouts

_STATUS = re.compile(r"HTTP Status Code (\d{3})")
_BY_STATUS: dict[int, type[ReaderError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    422: BadRequest,
}


class LivePromReader:
    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        username: str = "",
        password: str = "",
        ca_file: str = "",
        timeouts: Timeouts | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._url = url.rstrip("/")
        self._timeouts = timeouts or Timeouts()
        self._clock = clock or (lambda: datetime.now(UTC))
        session = requests.Session()
        if ca_file:
            session.verify = ca_file
        self._prom = PrometheusConnect(
            url=self._url,
            headers=headers,
            auth=(username, password) if username else None,
            retry=Retry(total=0, raise_on_status=False),  # tenacity decides what to retry
            session=session,
            timeout=int(max(1, self._timeouts.read_s)),
        )

    def describe(self) -> str:
        return f"Prometheus {self._url}"

    def query(self, promql: str) -> Fetched:
        now = self._clock()
        result = self._call(
            promql, lambda: self._prom.custom_query(promql, params={"time": f"{now.timestamp():.3f}"})
        )
        samples = [Sample(dict(r.get("metric") or {}), float(r["value"][1])) for r in result]
        return Fetched(samples, f"PromQL {promql}", now)

    def query_range(self, promql: str, minutes: float, step_s: float) -> Fetched:
        end = self._clock()
        start = end - timedelta(minutes=minutes)
        result = self._call(
            promql, lambda: self._prom.custom_query_range(promql, start, end, step=f"{step_s:g}s")
        )
        series = [
            Series(dict(r.get("metric") or {}), tuple((float(t), float(v)) for t, v in r.get("values") or ()))
            for r in result
        ]
        return Fetched(series, f"PromQL {promql} [{minutes:g}m, step {step_s:g}s]", end)

    def _call(self, promql: str, request: Callable[[], Any]) -> list[dict[str, Any]]:
        query = f"PromQL {promql}"

        def attempt() -> list[dict[str, Any]]:
            try:
                result: list[dict[str, Any]] = request()
                return result
            except PrometheusApiClientException as exc:
                raise _status_error(query, str(exc), self._url) from exc
            except requests.Timeout as exc:
                raise ReadTimeout(
                    query, f"{self._url} did not answer in time", resource="prometheus"
                ) from exc
            except requests.ConnectionError as exc:
                raise Unreachable(
                    query, f"cannot reach Prometheus at {self._url}: {exc}", resource="prometheus"
                ) from exc

        return with_retries(self._timeouts, attempt)


def _status_error(query: str, message: str, url: str) -> ReaderError:
    match = _STATUS.search(message)
    status = int(match.group(1)) if match else 500
    error_type = _BY_STATUS.get(status)
    if error_type is Unauthorized:
        error: ReaderError = Unauthorized(
            query,
            f"Prometheus at {url} refused the credentials (HTTP 401): set KFOPS_PROMETHEUS_TOKEN "
            "or the basic-auth settings",
            resource="prometheus",
        )
    elif error_type is not None:
        error = error_type(query, f"Prometheus answered {message}", resource="prometheus")
    else:
        error = ServerError(query, f"Prometheus answered {message}", resource="prometheus")
    error.status = status
    return error
