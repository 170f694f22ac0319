"""The Prometheus fixture end to end: exporter series → real scrape → ``/api/v1/query``.

Why: ladder tests will trust these fixtures to put exactly the series a scenario needs in front
of a real Prometheus. These tests pin what they can rely on: labels survive (``Hostname``,
``node``, ``job``, ``instance``), value changes show within a few scrapes, a failing target
gives ``up == 0`` and stale series, and basic auth really refuses anonymous callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.prom.conftest import BASIC_AUTH, DCGM_JOB, KSM_JOB
from tests.prom.exporter import ScenarioExporter
from tests.prom.prometheus import PrometheusServer, Vector, values

XID_LABELS = {
    "gpu": "3",
    "UUID": "GPU-5b3c1f2e-0000-4000-8000-000000000003",
    "device": "nvidia3",
    "modelName": "NVIDIA H100 80GB HBM3",
    "Hostname": "gpu-h100-2",
    "err_code": "79",
    "err_msg": "GPU has fallen off the bus",
}


def _value_is(expected: float) -> Callable[[Vector], bool]:
    return lambda result: len(result) == 1 and float(result[0]["value"][1]) == expected


def test_series_appears_with_its_labels(prometheus: PrometheusServer, dcgm: ScenarioExporter) -> None:
    began = time.monotonic()
    dcgm.set("DCGM_FI_DEV_XID_ERRORS", XID_LABELS, 79.0)
    prometheus.wait_for('DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-h100-2"}', timeout=10.0)
    first_sample_s = time.monotonic() - began

    answer = httpx.get(
        f"{prometheus.url}/api/v1/query", params={"query": 'DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-h100-2"}'}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    [sample] = body["data"]["result"]
    assert sample["metric"] == {
        "__name__": "DCGM_FI_DEV_XID_ERRORS",
        **XID_LABELS,
        "job": DCGM_JOB,
        "instance": dcgm.target,
    }
    assert float(sample["value"][1]) == 79.0
    print(
        f"\nprometheus start-up (process → /-/ready): {prometheus.startup_s:.2f} s; "
        f"ready → first scrape of both jobs: {prometheus.first_scrape_s:.2f} s; "
        f"exporter.set → sample visible in /api/v1/query: {first_sample_s:.2f} s"
    )


def test_value_change_is_seen_after_next_scrapes(
    prometheus: PrometheusServer, dcgm: ScenarioExporter
) -> None:
    labels = {"gpu": "0", "UUID": "GPU-temp-0", "Hostname": "gpu-a100-7", "modelName": "NVIDIA A100"}
    query = 'DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-a100-7"}'
    dcgm.set("DCGM_FI_DEV_GPU_TEMP", labels, 61.0)
    dcgm.set("DCGM_FI_DEV_GPU_UTIL", labels, 100.0)
    prometheus.wait_for(query, _value_is(61.0), timeout=10.0)
    began = time.monotonic()
    dcgm.set("DCGM_FI_DEV_GPU_TEMP", labels, 94.0)
    prometheus.wait_for(query, _value_is(94.0), timeout=10.0)
    print(f"\nvalue change visible after {time.monotonic() - began:.2f} s")
    assert values(prometheus.query('DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-a100-7"}'))

    dcgm.clear("DCGM_FI_DEV_GPU_TEMP")  # gone from the next scrape → stale marker → empty vector
    prometheus.wait_for(query, lambda r: r == [], timeout=10.0)
    assert prometheus.query('DCGM_FI_DEV_GPU_UTIL{Hostname="gpu-a100-7"}')


def test_kube_state_metrics_series(prometheus: PrometheusServer, ksm: ScenarioExporter) -> None:
    for status, value in (("true", 0.0), ("false", 0.0), ("unknown", 1.0)):
        ksm.set(
            "kube_node_status_condition",
            {"node": "gpu-a100-3", "condition": "Ready", "status": status},
            value,
        )
    for metric, gpus in (("kube_node_status_capacity", 8), ("kube_node_status_allocatable", 7)):
        ksm.set(metric, {"node": "gpu-a100-3", "resource": "nvidia_com_gpu", "unit": "integer"}, gpus)

    result = prometheus.wait_for(
        'kube_node_status_condition{condition="Ready",status="unknown"} == 1', timeout=10.0
    )
    assert [s["metric"]["node"] for s in result] == ["gpu-a100-3"]
    assert result[0]["metric"]["job"] == KSM_JOB
    free = prometheus.wait_for(
        'kube_node_status_capacity{resource="nvidia_com_gpu"}'
        ' - ignoring(__name__) kube_node_status_allocatable{resource="nvidia_com_gpu"}',
        timeout=10.0,
    )
    assert values(free) == {
        (
            ("instance", ksm.target),
            ("job", KSM_JOB),
            ("node", "gpu-a100-3"),
            ("resource", "nvidia_com_gpu"),
            ("unit", "integer"),
        ): 1.0
    }


def test_failing_exporter_gives_up_zero_and_stale_series(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter
) -> None:
    dcgm.set("DCGM_FI_DEV_GPU_TEMP", {"gpu": "1", "Hostname": "gpu-fail-1"}, 70.0)
    prometheus.wait_for('DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-fail-1"}', timeout=10.0)
    try:
        dcgm.fail(500)
        began = time.monotonic()
        prometheus.wait_for(f'up{{job="{DCGM_JOB}"}} == 0', timeout=10.0)
        print(f"\nexporter failing → up == 0 after {time.monotonic() - began:.2f} s")
        # a failed scrape marks the target's series stale: instant queries see nothing
        prometheus.wait_for('DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-fail-1"}', lambda r: r == [], timeout=10.0)
        assert values(prometheus.query(f'up{{job="{KSM_JOB}"}}')) == {
            (("__name__", "up"), ("instance", ksm.target), ("job", KSM_JOB)): 1.0
        }
    finally:
        dcgm.recover()
    prometheus.wait_for(f'up{{job="{DCGM_JOB}"}} == 1', timeout=10.0)
    prometheus.wait_for('DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-fail-1"}', timeout=10.0)


def test_stopped_exporter_and_reload(prometheus: PrometheusServer) -> None:
    """A third job added at run time (``/-/reload``); stopping it (connection refused) gives up == 0."""
    original = dict(prometheus.targets)
    extra = ScenarioExporter("extra")
    try:
        prometheus.reload({**original, "extra": [extra.target]})
        prometheus.wait_for('up{job="extra"} == 1', timeout=20.0)  # new targets: 5 s discovery tick
        extra.stop()
        prometheus.wait_for('up{job="extra"} == 0', timeout=10.0)
    finally:
        extra.stop()
        prometheus.reload(original)
    # a removed job's series are not marked stale at once (they linger in instant queries for a
    # while); what reload changes at once is the target list
    active = httpx.get(f"{prometheus.url}/api/v1/targets", params={"state": "active"}).json()
    assert sorted({t["labels"]["job"] for t in active["data"]["activeTargets"]}) == sorted(original)


def test_basic_auth_refuses_anonymous_calls(prometheus_basic_auth: PrometheusServer) -> None:
    url = prometheus_basic_auth.url
    user, password = BASIC_AUTH
    for path in ("/api/v1/query", "/-/ready"):
        assert httpx.get(f"{url}{path}", params={"query": "up"}).status_code == 401
        assert httpx.get(f"{url}{path}", params={"query": "up"}, auth=(user, "wrong")).status_code == 401

    answer = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, auth=(user, password))
    assert answer.status_code == 200
    result: Vector = answer.json()["data"]["result"]
    assert [s["metric"]["job"] for s in result] == [DCGM_JOB]
    print(
        f"\nprometheus with basic auth: start-up {prometheus_basic_auth.startup_s:.2f} s, "
        f"first scrape {prometheus_basic_auth.first_scrape_s:.2f} s"
    )
