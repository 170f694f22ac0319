"""`kfops doctor` against a real Prometheus: the metrics each ladder needs, and a Prometheus down."""

from __future__ import annotations

import socket

from kfops.doctor import Level
from kfops.doctor.sources import prometheus as check_prometheus
from kfops.settings import Settings
from tests.prom.exporter import ScenarioExporter
from tests.prom.prometheus import PrometheusServer

DCGM = ("DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL")


def test_missing_metrics_are_warnings_naming_the_exporter(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter
) -> None:
    for name in DCGM:
        dcgm.set(name, {"gpu": "0", "Hostname": "doctor-node"}, 0)
    prometheus.wait_for('count({__name__=~"DCGM_FI_DEV_.*", Hostname="doctor-node"})', lambda r: len(r) > 0)
    prometheus.wait_for("absent(kube_node_status_condition)", lambda r: len(r) > 0)
    rows = check_prometheus(Settings(prometheus_url=prometheus.url), None)
    assert rows[0].status is Level.OK and rows[0].check == "answers"
    gpu = [r for r in rows if r.check == "metrics for gpu-node-down"]
    assert [r.status for r in gpu] == [Level.WARN]
    assert "kube_node_status_condition" in gpu[0].detail and "kube-state-metrics" in gpu[0].fix
    kserve = [r for r in rows if r.check == "metrics for kserve-flapping"]
    assert kserve and all(r.status is Level.WARN for r in kserve)
    assert any("ksm-inferenceservice.yaml" in r.fix for r in kserve)
    assert any("request-metrics-protocol" in r.fix for r in kserve)  # Knative, Kubeflow's default
    assert not [r for r in rows if r.status is Level.FAIL]


def test_all_gpu_metrics_present_is_ok(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter
) -> None:
    for name in DCGM:
        dcgm.set(name, {"gpu": "0", "Hostname": "doctor-node-2"}, 0)
    ksm.set(
        "kube_node_status_condition", {"node": "doctor-node-2", "condition": "Ready", "status": "true"}, 1
    )
    prometheus.wait_for('kube_node_status_condition{node="doctor-node-2"}')
    prometheus.wait_for('DCGM_FI_DEV_GPU_UTIL{Hostname="doctor-node-2"}')
    rows = check_prometheus(Settings(prometheus_url=prometheus.url), None)
    [gpu] = [r for r in rows if r.check == "metrics for gpu-node-down"]
    assert gpu.status is Level.OK


def test_prometheus_down_is_a_fail() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [row] = check_prometheus(Settings(prometheus_url=f"http://127.0.0.1:{port}"), None)
    assert row.status is Level.FAIL and f"127.0.0.1:{port}" in row.detail and row.fix


def test_not_configured_is_skipped_with_how() -> None:
    [row] = check_prometheus(Settings(), None)
    assert row.status is Level.SKIPPED and "KFOPS_PROMETHEUS_URL" in row.fix
