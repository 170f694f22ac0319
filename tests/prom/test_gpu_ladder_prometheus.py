"""The GPU ladder's Prometheus rungs against a real Prometheus scraping scenario exporters.

The Kubernetes side of each case is a bundled snapshot; Prometheus is live (tests/prom/conftest.py).
Each case waits for its samples instead of sleeping, and uses its own node name so the shared
exporters' series do not mix.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kfops.clients.live.prometheus import LivePromReader
from kfops.clients.protocols import PromReader
from kfops.clients.snapshot.kube import SnapshotKubeReader
from kfops.clients.timeouts import Timeouts
from kfops.model import Diagnosis, Status, Verdict
from kfops.runbooks.engine import Engine
from kfops.runbooks.gpu_node_down import LADDER
from kfops.settings import Settings
from tests.support.scenarios import ROOT

from .conftest import BASIC_AUTH
from .exporter import ScenarioExporter
from .prometheus import PrometheusServer

EXAMPLES = ROOT / "examples" / "snapshots" / "gpu-node-down"
FAST = Timeouts(connect_s=1, read_s=2, attempts=1, backoff_max_s=0.1)


def _gpus(dcgm: ScenarioExporter, node: str, xid: dict[int, tuple[int, str]] | None = None) -> None:
    for gpu in range(8):
        labels = {"gpu": str(gpu), "UUID": f"GPU-{node}-{gpu}", "Hostname": node}
        code, message = (xid or {}).get(gpu, (0, ""))
        dcgm.set("DCGM_FI_DEV_XID_ERRORS", {**labels, "err_code": str(code), "err_msg": message}, float(code))
        dcgm.set("DCGM_FI_DEV_GPU_TEMP", labels, 61.0)
        dcgm.set("DCGM_FI_DEV_GPU_UTIL", labels, 90.0)


def _ready(ksm: ScenarioExporter, node: str) -> None:
    ksm.set("kube_node_status_condition", {"node": node, "condition": "Ready", "status": "true"}, 1.0)


def _diagnose(snapshot: Path, node: str, prom: PromReader) -> Diagnosis:
    settings = Settings(prometheus_window_min=5)
    [diagnosis] = Engine(SnapshotKubeReader.open(snapshot), settings, prom).diagnose(LADDER, node)
    return diagnosis


def _statuses(diagnosis: Diagnosis) -> dict[str, Status]:
    return {f.rung: f.status for f in diagnosis.findings}


@pytest.fixture
def reader(prometheus: PrometheusServer) -> LivePromReader:
    return LivePromReader(prometheus.url, timeouts=FAST)


def test_healthy_gpus_raise_no_alarm(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter, reader: LivePromReader
) -> None:
    _gpus(dcgm, "gpu-a100-1")
    _ready(ksm, "gpu-a100-1")
    prometheus.wait_for('count(DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-a100-1"}) == 8')
    prometheus.wait_for('kube_node_status_condition{node="gpu-a100-1"}')
    diagnosis = _diagnose(EXAMPLES / "healthy-fleet", "gpu-a100-1", reader)
    statuses = _statuses(diagnosis)
    assert diagnosis.conclusion.verdict is Verdict.HEALTHY, diagnosis.conclusion.summary
    assert statuses["gpu-xid"] is Status.OK and statuses["gpu-exporter"] is Status.OK
    assert statuses["gpu-telemetry"] is Status.OK and statuses["ready-history"] is Status.OK


def test_xid_79_on_one_gpu_is_a_hardware_fault(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter, reader: LivePromReader
) -> None:
    _gpus(dcgm, "gpu-h100-2", {3: (79, "GPU has fallen off the bus")})
    _ready(ksm, "gpu-h100-2")
    prometheus.wait_for('DCGM_FI_DEV_XID_ERRORS{Hostname="gpu-h100-2",err_code="79"}')
    diagnosis = _diagnose(EXAMPLES / "gpus-unhealthy-xid79", "gpu-h100-2", reader)
    assert diagnosis.conclusion.cause == "gpu-hardware-xid"
    xid = next(f for f in diagnosis.findings if f.rung == "gpu-xid")
    assert xid.status is Status.FAIL
    assert xid.summary == "GPU 3 (GPU-gpu-h100-2-3…): Xid 79 GPU has fallen off the bus"
    assert sorted(p.action for p in diagnosis.proposals) == ["gpu.reset", "node.cordon", "node.drain"]
    assert any(e.query.startswith("PromQL (max by (gpu, UUID") for e in xid.evidence)


def test_an_exporter_target_down_is_blind_monitoring_not_health(
    prometheus: PrometheusServer, dcgm: ScenarioExporter, ksm: ScenarioExporter, reader: LivePromReader
) -> None:
    _gpus(dcgm, "gpu-a100-2")
    _ready(ksm, "gpu-a100-2")
    prometheus.wait_for('count(DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-a100-2"}) == 8')
    dcgm.fail(500)
    try:
        prometheus.wait_for('up{job="dcgm-exporter"} == 0')
        prometheus.wait_for('absent(DCGM_FI_DEV_GPU_TEMP{Hostname="gpu-a100-2"})')
        diagnosis = _diagnose(EXAMPLES / "healthy-fleet", "gpu-a100-2", reader)
    finally:
        dcgm.recover()
    exporter = next(f for f in diagnosis.findings if f.rung == "gpu-exporter")
    assert exporter.status is Status.WARN and exporter.branch == "blind"
    assert f"dcgm-exporter targets down: {dcgm.target}" in exporter.summary
    # Instant telemetry is gone with the target; the Xid history still holds the window before it.
    assert _statuses(diagnosis)["gpu-telemetry"] is Status.NO_DATA
    assert _statuses(diagnosis)["gpu-xid"] is Status.OK


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


def test_prometheus_down_is_an_error_never_healthy(closed_port: int) -> None:
    down = LivePromReader(f"http://127.0.0.1:{closed_port}", timeouts=FAST)
    diagnosis = _diagnose(EXAMPLES / "healthy-fleet", "gpu-a100-1", down)
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE
    xid = next(f for f in diagnosis.findings if f.rung == "gpu-xid")
    assert (
        xid.status is Status.ERROR
        and f"cannot reach Prometheus at http://127.0.0.1:{closed_port}" in xid.summary
    )


@pytest.mark.parametrize("password", [None, "wrong-password"])
def test_prometheus_refusing_credentials_is_an_error_naming_them(
    prometheus_basic_auth: PrometheusServer, password: str | None
) -> None:
    user = BASIC_AUTH[0] if password else ""
    refused = LivePromReader(prometheus_basic_auth.url, username=user, password=password or "", timeouts=FAST)
    diagnosis = _diagnose(EXAMPLES / "healthy-fleet", "gpu-a100-1", refused)
    assert diagnosis.conclusion.verdict is Verdict.INCONCLUSIVE
    xid = next(f for f in diagnosis.findings if f.rung == "gpu-xid")
    assert xid.status is Status.ERROR
    assert "refused the credentials (HTTP 401)" in xid.summary


def test_right_credentials_are_accepted(prometheus_basic_auth: PrometheusServer) -> None:
    accepted = LivePromReader(
        prometheus_basic_auth.url, username=BASIC_AUTH[0], password=BASIC_AUTH[1], timeouts=FAST
    )
    assert accepted.query("vector(1)").value[0].value == 1.0
