"""Session fixtures: a real Prometheus scraping two scenario exporters, and one behind basic auth.

Why session scope: starting Prometheus takes a moment and its TSDB copes with series coming
and going, so one server serves every test. The exporters are reset (no series, not failing)
before each test that asks for them; series a previous test left go stale at the next scrape
(1 s), so tests wait for what they need with :meth:`PrometheusServer.wait_for` and use label
values of their own. A server that cannot start fails the tests; it is never skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

import httpx
import pytest

from tests.prom.exporter import ScenarioExporter
from tests.prom.prometheus import PrometheusServer

DCGM_JOB: Final = "dcgm-exporter"
KSM_JOB: Final = "kube-state-metrics"
BASIC_AUTH: Final = ("kfops-test", "s3cret-for-tests")


def _wait_first_scrapes(server: PrometheusServer) -> None:
    """Wait for every job's first ``up`` sample, so no test races Prometheus' start-up.

    Prometheus 2.42 hands discovered targets to the scrape manager on a fixed 5 s tick, so
    the first scrape comes ~5–6 s after ``/-/ready``; both servers wait for it together.
    """
    for job in server.targets:
        server.wait_for(f'up{{job="{job}"}}', lambda r: len(r) > 0, timeout=20.0)
    server.first_scrape_s = time.monotonic() - server.ready_at


@pytest.fixture(scope="session")
def dcgm_exporter() -> Iterator[ScenarioExporter]:
    """The session's dcgm-exporter stand-in (scraped as job ``dcgm-exporter``)."""
    exporter = ScenarioExporter("dcgm-exporter")
    yield exporter
    exporter.stop()


@pytest.fixture(scope="session")
def ksm_exporter() -> Iterator[ScenarioExporter]:
    """The session's kube-state-metrics stand-in (scraped as job ``kube-state-metrics``)."""
    exporter = ScenarioExporter("kube-state-metrics")
    yield exporter
    exporter.stop()


@pytest.fixture
def dcgm(dcgm_exporter: ScenarioExporter) -> ScenarioExporter:
    """The dcgm-exporter stand-in, reset for this test."""
    dcgm_exporter.reset()
    return dcgm_exporter


@pytest.fixture
def ksm(ksm_exporter: ScenarioExporter) -> ScenarioExporter:
    """The kube-state-metrics stand-in, reset for this test."""
    ksm_exporter.reset()
    return ksm_exporter


@pytest.fixture(scope="session")
def _prometheus_pair(
    tmp_path_factory: pytest.TempPathFactory, dcgm_exporter: ScenarioExporter, ksm_exporter: ScenarioExporter
) -> Iterator[tuple[PrometheusServer, PrometheusServer]]:
    """Both servers, started together so their first-scrape delays overlap."""
    servers: list[PrometheusServer] = []
    try:
        servers.append(
            PrometheusServer.start(
                tmp_path_factory.mktemp("prometheus"),
                {DCGM_JOB: [dcgm_exporter.target], KSM_JOB: [ksm_exporter.target]},
            )
        )
        servers.append(
            PrometheusServer.start(
                tmp_path_factory.mktemp("prometheus-auth"),
                {DCGM_JOB: [dcgm_exporter.target]},
                basic_auth=BASIC_AUTH,
            )
        )
        for server in servers:
            _wait_first_scrapes(server)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as error:
        for server in servers:
            server.close()
        pytest.fail(f"Prometheus test server did not start: {error}", pytrace=False)
    yield servers[0], servers[1]
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def prometheus(_prometheus_pair: tuple[PrometheusServer, PrometheusServer]) -> PrometheusServer:
    """Prometheus scraping jobs ``dcgm-exporter`` and ``kube-state-metrics`` every second, no auth.

    Ready, and each job scraped at least once, when the first test gets it.
    """
    return _prometheus_pair[0]


@pytest.fixture(scope="session")
def prometheus_basic_auth(_prometheus_pair: tuple[PrometheusServer, PrometheusServer]) -> PrometheusServer:
    """A second Prometheus behind basic auth ``BASIC_AUTH`` (user, password), scraping dcgm-exporter.

    Its ``query``/``wait_for`` send the credentials; plain HTTP without them gets 401.
    """
    return _prometheus_pair[1]
